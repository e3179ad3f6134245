"""Settings for the djtop demo project (development only: DEBUG is on, the key is public).

Environment:

- ``DJTOP_DEMO_DB``: path of the SQLite database (default ``examples/demo/var/demo.sqlite3``).
- ``DJTOP_DEMO_NO_DJTOP=1``: run without the djtop shim even when it is importable.

The admin (``/admin/``, login ``admin`` / ``admin``, created by ``seed_demo``) is always on;
the Django REST framework API (``/api/``) only when ``rest_framework`` is importable: it is a
dependency of the demo, never of djtop.
"""

import importlib.util
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

# The API pages (blog/api.py) need Django REST framework; without it the demo has none.
HAVE_DRF = importlib.util.find_spec("rest_framework") is not None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "blog",
]
if HAVE_DRF:
    INSTALLED_APPS.append("rest_framework")
if HAVE_DJTOP:
    INSTALLED_APPS.append("djtop")

# Sessions and auth only query when a view reads request.session / request.user (the admin):
# the function views' counts don't change.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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
        "OPTIONS": {
            # What the admin needs; each is lazy (no query unless a template reads it).
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
        "NAME": os.environ.get("DJTOP_DEMO_DB") or str(VAR_DIR / "demo.sqlite3"),
        # runserver is threaded and traffic.py can run concurrently: wait for locks.
        "OPTIONS": {"timeout": 20},
    }
}

# The API is public and reads no session: its query counts are the serializers' alone.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
