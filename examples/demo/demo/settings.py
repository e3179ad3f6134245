"""Settings for the djtop demo project (development only: DEBUG is on, the key is public).

Environment:

- ``DJTOP_DEMO_DB``: path of the SQLite database (default ``examples/demo/var/demo.sqlite3``).
- ``DJTOP_DEMO_NO_DJTOP=1``: run without the djtop shim even when it is importable.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

SECRET_KEY = "django-insecure-djtop-demo-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]

# The demo exists to show djtop, so the shim is required (a missing install fails loudly at
# start-up); DJTOP_DEMO_NO_DJTOP=1 runs the bare app, e.g. as a benchmark baseline.
HAVE_DJTOP = os.environ.get("DJTOP_DEMO_NO_DJTOP", "") in ("", "0")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "blog",
]
if HAVE_DJTOP:
    INSTALLED_APPS.append("djtop")

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]
if HAVE_DJTOP:
    # First, so it sees the whole request, including other middleware's queries.
    MIDDLEWARE.insert(0, "djtop.middleware.DjtopMiddleware")

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJTOP_DEMO_DB") or str(VAR_DIR / "demo.sqlite3"),
        # runserver is threaded and traffic.py can run concurrently: wait for locks.
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
