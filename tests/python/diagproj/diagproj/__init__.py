"""diagproj: the project tests/python/test_findings.py runs to pin djtop's N+1 findings.

Not the demo: a small shop whose views each show one shape of docs/n-plus-one.md (``*_naive``)
or its fix (``*_clean``), against fixed seed data (``manage.py seed``), so every finding's
query count and line are known in advance. See ``shop/views.py``.

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
