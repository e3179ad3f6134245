"""Settings of frameproj (tests only: DEBUG is on, the key is public): the N+1s that a
framework's loop fires (the admin, Django REST framework, a generic ListView's template).

Environment: ``FRAME_DB``, the SQLite database's path.
"""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# libloop, a stand-in for an installed library: its path says site-packages, as a real one's.
sys.path.append(str(BASE_DIR / "libs" / "site-packages"))

SECRET_KEY = "djtop-frameproj-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "catalog",
    "djtop",
]

MIDDLEWARE = [
    "djtop.middleware.DjtopMiddleware",
    "catalog.middleware.PassThrough",  # the project's own: never a callsite
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "frameproj.urls"
WSGI_APPLICATION = "frameproj.wsgi.application"
ASGI_APPLICATION = "frameproj.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("FRAME_DB") or str(BASE_DIR / "frame.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}

REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None, "DEFAULT_AUTHENTICATION_CLASSES": []}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
STATIC_URL = "/static/"
