"""frameproj: the project tests/python/test_frameworks.py runs to pin djtop's findings on the
loops a framework runs: a Django admin changelist, Django REST framework viewsets, a generic
ListView and its template. Each naive page has a clean twin, which is the naive one with the
finding's fix pasted. See ``catalog/``.

``ensure_djtop_importable()`` puts the source checkout's ``python/`` directory on ``sys.path``
when the ``djtop`` shim is not installed (an installed djtop wins).
"""

import importlib.util
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_PYTHON_DIR = os.path.normpath(os.path.join(PROJECT_DIR, *[os.pardir] * 3, "python"))


def ensure_djtop_importable():
    if importlib.util.find_spec("djtop") is not None:
        return
    if os.path.isdir(os.path.join(SOURCE_PYTHON_DIR, "djtop")) and (
        SOURCE_PYTHON_DIR not in sys.path
    ):
        sys.path.insert(0, SOURCE_PYTHON_DIR)
