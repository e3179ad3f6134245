"""``manage.py demo_counts``: run every demo view once and compare its query count.

Runs against the configured database (seed it first with ``seed_demo``), outside any test
transaction, through Django's test clients (``AsyncClient`` for async views). Statements that only
manage transactions (``BEGIN``, ``SAVEPOINT``...) are shown separately. Exit status 1 on a
mismatch or a non-200 response.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog.catalog import entries, pages
from blog.querycount import fetch, orm_statements
from blog.seed import ADMIN_USERNAME


class Command(BaseCommand):
    help = "Run every demo view once and compare its query count with its docstring."

    def add_arguments(self, parser):
        parser.add_argument("--only", default="", help="Only views whose name contains this.")

    def handle(self, *args, **options):
        bad = 0
        self.stdout.write(
            f"{'view':38} {'async':5} {'status':>6} {'expected':>8} {'orm':>5} {'tx':>3}"
        )
        admin = None
        for entry in entries() + pages():
            if options["only"] not in entry["name"]:
                continue
            client = None
            if entry.get("login"):
                if admin is None:
                    admin = Client()
                    admin.force_login(get_user_model().objects.get(username=ADMIN_USERNAME))
                client = admin
            with CaptureQueriesContext(connection) as ctx:
                response, _body = fetch(entry["path"], use_async=entry.get("async"), client=client)
            orm = len(orm_statements(ctx.captured_queries))
            tx = len(ctx.captured_queries) - orm
            ok = response.status_code == 200 and orm == entry["queries"]
            bad += not ok
            line = (
                f"{entry['name']:38} {'yes' if entry.get('async') else 'no':5} "
                f"{response.status_code:>6} {entry['queries']:>8} {orm:>5} {tx:>3}"
            )
            self.stdout.write(line if ok else self.style.ERROR(line + "  MISMATCH"))
        if bad:
            raise CommandError(f"{bad} view(s) did not match")
