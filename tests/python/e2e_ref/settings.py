"""The demo's settings with the reference-capturing URLconf."""

from demo.settings import *  # noqa: F403

ROOT_URLCONF = "e2e_ref.urls"
