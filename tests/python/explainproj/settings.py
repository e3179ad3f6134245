"""A Django project for the EXPLAIN tests, on the database EXPLAINPROJ_VENDOR names.

EXPLAINPROJ_VENDOR: sqlite (default), postgresql or mariadb (the local servers: PostgreSQL at
127.0.0.1:5432 as postgres, MariaDB at 127.0.0.1:3306 as root); EXPLAINPROJ_DB: the database
name (a file path for sqlite); EXPLAINPROJ_TIMEOUT: DJTOP["explain_timeout"].
"""

import os

from explainproj.servers import database

SECRET_KEY = "djtop-explain-tests"
DEBUG = True
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["djtop", "explainproj"]
MIDDLEWARE = ["djtop.middleware.DjtopMiddleware"]
ROOT_URLCONF = "explainproj.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

DATABASES = {"default": database(os.environ.get("EXPLAINPROJ_VENDOR", "sqlite"))}
DJTOP = {"enabled": True, "explain_timeout": float(os.environ.get("EXPLAINPROJ_TIMEOUT", "5"))}
