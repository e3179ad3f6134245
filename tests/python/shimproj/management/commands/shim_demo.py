from django.core.management.base import BaseCommand

from shimproj.models import Author


class Command(BaseCommand):
    help = "Runs a query, for the djtop scope tests."

    def handle(self, *args, **options):
        self.stdout.write(str(Author.objects.count()))  # @q:command_count
