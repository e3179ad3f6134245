"""Test setup: the shim imported from python/ (no install needed) and a real Django project
(tests/python/shimproj) recording every event to a temporary NDJSON file."""

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"), HERE]

_tmp = None


def pytest_configure(config):
    global _tmp
    _tmp = tempfile.mkdtemp(prefix="djtop-tests-")
    for key in ("DJTOP_ENABLED", "DJTOP_ADDRESS"):
        os.environ.pop(key, None)
    os.environ["SHIMPROJ_DB_DIR"] = _tmp
    os.environ["DJTOP_RECORD"] = os.path.join(_tmp, "session.ndjson")
    os.environ["DJANGO_SETTINGS_MODULE"] = "shimproj.settings"

    import django
    from django.core.management import call_command

    django.setup()
    for alias in ("default", "other"):
        call_command("migrate", run_syncdb=True, database=alias, verbosity=0)

    from shimproj.models import Author, Book

    for name in ("Ann", "Bob", "Cid"):
        author = Author.objects.create(name=name)
        for n in range(2):
            Book.objects.create(title=f"{name} {n}", author=author, price="9.50")
    Author.objects.using("other").create(name="Elsewhere")


def pytest_unconfigure(config):
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)
