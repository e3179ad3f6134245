"""A tiny Django project for the shim's tests.

Environment knobs (for the subprocess tests): SHIMPROJ_DB_DIR (where the sqlite files live),
SHIMPROJ_DEBUG ("1"/"0"), SHIMPROJ_DJTOP (a JSON object used as the DJTOP setting).
"""

import json
import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent  # tests/python: stack paths are relative to it

SECRET_KEY = "djtop-tests"
DEBUG = os.environ.get("SHIMPROJ_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["djtop", "django.contrib.contenttypes", "django.contrib.auth", "shimproj"]
MIDDLEWARE = ["djtop.middleware.DjtopMiddleware"]
ROOT_URLCONF = "shimproj.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

_db_dir = os.environ.get("SHIMPROJ_DB_DIR") or tempfile.gettempdir()
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(_db_dir, "default.sqlite3"),
    },
    "other": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(_db_dir, "other.sqlite3"),
    },
}

DJTOP = json.loads(os.environ.get("SHIMPROJ_DJTOP") or "{}")
