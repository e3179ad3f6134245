#!/usr/bin/env python
"""Django's command-line utility for frameproj, the N+1 findings' test project."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frameproj.settings")
    from frameproj import ensure_djtop_importable

    ensure_djtop_importable()

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
