from django.apps import AppConfig


class DjtopConfig(AppConfig):
    name = "djtop"
    verbose_name = "djtop"

    def ready(self):
        try:
            from . import capture

            capture.install()
        except Exception:  # never break the app's startup
            pass
