"""ASGI entry point: ``uvicorn demo.asgi:application`` (run from examples/demo/)."""

import os

from demo import ensure_djtop_importable

# Make the djtop shim importable from a source checkout (examples/demo/../../python).
ensure_djtop_importable()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
