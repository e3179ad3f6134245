"""WSGI entry point of frameproj."""

import os

from frameproj import ensure_djtop_importable

ensure_djtop_importable()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frameproj.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
