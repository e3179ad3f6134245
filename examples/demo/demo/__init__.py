"""The djtop demo project.

``ensure_djtop_importable()`` is called by ``manage.py``, ``demo.asgi`` and ``demo.wsgi`` before
Django starts, so the demo also runs from a source checkout where the ``djtop`` shim has not been
installed: ``examples/demo/../../python`` is put on ``sys.path`` when it exists and ``djtop`` is
not importable otherwise. An installed ``djtop`` always wins.
"""

import importlib.util
import os
import sys

DEMO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_PYTHON_DIR = os.path.normpath(os.path.join(DEMO_DIR, os.pardir, os.pardir, "python"))


def ensure_djtop_importable():
    """Add the source checkout's ``python/`` dir to ``sys.path`` if djtop is not installed."""
    if importlib.util.find_spec("djtop") is not None:
        return
    if os.path.isdir(os.path.join(SOURCE_PYTHON_DIR, "djtop")) and (
        SOURCE_PYTHON_DIR not in sys.path
    ):
        sys.path.insert(0, SOURCE_PYTHON_DIR)
