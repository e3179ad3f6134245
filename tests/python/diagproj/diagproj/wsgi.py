"""WSGI entry point of diagproj."""

import os

from diagproj import ensure_djtop_importable

ensure_djtop_importable()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diagproj.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
