"""ASGI entry point of frameproj: ``uvicorn frameproj.asgi:application`` from frameproj/."""

import os

from frameproj import ensure_djtop_importable

ensure_djtop_importable()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frameproj.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
