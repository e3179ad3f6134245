"""``manage.py querycounts SESSION``: Django's own count of each page's statements.

Every page of ``catalog.views.PAGES`` is requested once through Django's test client (the
admin with the logged-in session ``seed`` printed) inside ``CaptureQueriesContext``, without
djtop. Prints ``{"<path>": {"status": 200, "total": N}}``: every statement Django saw.
"""

import json

from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.views import LIBRARY_PAGES, PAGES


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("session")

    def handle(self, *args, **options):
        client = Client()
        client.cookies["sessionid"] = options["session"]
        out = {}
        for page in [path for pair in PAGES for path in pair] + LIBRARY_PAGES:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(page)
            out[page] = {"status": response.status_code, "total": len(captured)}
        self.stdout.write(json.dumps(out))
