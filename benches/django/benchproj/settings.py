"""Settings of the shim benchmark (scripts/bench_shim.py): one app, one database, DEBUG on.

BENCH_VARIANT picks what instruments the requests: ``bare`` (nothing), ``djtop`` and
``djtop_down`` (the shim, sending to BENCH_DJTOP_ADDRESS: a live or a dead collector; other
``djtop_*`` names are ablations whose DJTOP overrides come in BENCH_DJTOP_EXTRA),
``toolbar`` (django-debug-toolbar with only its SQL panel).
BENCH_DB is ``sqlite`` (file BENCH_SQLITE_PATH) or ``postgres`` (database BENCH_PG_NAME on
127.0.0.1:5432, user postgres, trust auth).
"""

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent  # benches/django: stack paths relative to it

VARIANT = os.environ.get("BENCH_VARIANT", "bare")
SECRET_KEY = "djtop-bench"
DEBUG = True
ALLOWED_HOSTS = ["*"]
INTERNAL_IPS = ["127.0.0.1"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "benchproj.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "benchapp"]
MIDDLEWARE = []
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
STATIC_URL = "/static/"

if VARIANT.startswith("djtop"):
    INSTALLED_APPS.insert(0, "djtop")
    MIDDLEWARE.insert(0, "djtop.middleware.DjtopMiddleware")
    DJTOP = {
        "enabled": True,
        "address": os.environ.get("BENCH_DJTOP_ADDRESS", "127.0.0.1:7878"),
        # The harness (scripts/bench_shim.py runs as __main__) stands where a server's own,
        # hidden, frames would be: leave it out of the stacks as runserver's would be.
        "hide_modules": ["__main__"],
        # Ablations (scripts/bench_shim.py --variants djtop_nostacks,djtop_norel,...).
        **json.loads(os.environ.get("BENCH_DJTOP_EXTRA") or "{}"),
    }
elif VARIANT == "toolbar":
    INSTALLED_APPS += ["django.contrib.staticfiles", "debug_toolbar"]
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    # Only the SQL panel: what is compared is its per-query cost (stack traces on, the default).
    DEBUG_TOOLBAR_PANELS = ["debug_toolbar.panels.sql.SQLPanel"]
    DEBUG_TOOLBAR_CONFIG = {
        "SHOW_TOOLBAR_CALLBACK": "benchapp.views.always",
        "IS_RUNNING_TESTS": False,
    }

if os.environ.get("BENCH_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BENCH_PG_NAME", "djtop_bench"),
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": 600,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_SQLITE_PATH", str(BASE_DIR / "bench.sqlite3")),
            "CONN_MAX_AGE": 600,
        }
    }
