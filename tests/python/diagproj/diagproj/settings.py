"""Settings of diagproj (tests only: DEBUG is on, the key is public).

Environment: ``DIAG_DB``, the SQLite database's path (default ``var/diag.sqlite3`` here).
"""

import os
from pathlib import Path

# tests/python/diagproj: djtop sends stack paths relative to it ("shop/views.py").
BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "djtop-diagproj-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "shop",
    "djtop",
]

MIDDLEWARE = [
    "djtop.middleware.DjtopMiddleware",
    "shop.middleware.PassThrough",  # the project's own: never a callsite
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"debug": True},
    }
]

ROOT_URLCONF = "diagproj.urls"
WSGI_APPLICATION = "diagproj.wsgi.application"
ASGI_APPLICATION = "diagproj.asgi.application"

if not os.environ.get("DIAG_DB"):
    (BASE_DIR / "var").mkdir(exist_ok=True)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DIAG_DB") or str(BASE_DIR / "var" / "diag.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
