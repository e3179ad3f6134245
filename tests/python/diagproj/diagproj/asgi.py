"""ASGI entry point of diagproj: ``uvicorn diagproj.asgi:application`` from diagproj/."""

import os

from diagproj import ensure_djtop_importable

ensure_djtop_importable()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diagproj.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
