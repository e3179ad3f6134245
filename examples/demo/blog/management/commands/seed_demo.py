"""``manage.py seed_demo``: wipe and recreate the deterministic demo data."""

from django.core.management.base import BaseCommand

from blog import seed as seed_module
from blog.seed import seed


class Command(BaseCommand):
    help = (
        "Wipe the demo tables (blog_* and auth_user) and recreate the deterministic demo data "
        "(15 users and the superuser admin / admin, 5 publishers, 20 authors with profiles and "
        "3 books each, 15 tags, 30 articles with 3 tags each). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias to seed.")

    def handle(self, *args, **options):
        counts = seed(using=options["database"])
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Seeded demo data: {summary}."))
        self.stdout.write(
            f"Admin: /admin/, login {seed_module.ADMIN_USERNAME} / {seed_module.ADMIN_PASSWORD}."
        )
