"""``manage.py seed``: the fixed data test_frameworks.py's counts assume, and an admin login.

4 publishers; 8 authors, author n with publisher ``(n - 1) % 4 + 1``; 6 tags; 12 books, book n
by author ``(n - 1) % 8 + 1`` with tags n % 6 and (n + 1) % 6 and 2 reviews. A superuser
``admin``; the session key of a logged-in session is printed, for requests to the admin.
"""

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand

from catalog.models import Author, Book, Publisher, Review, Tag


class Command(BaseCommand):
    help = "Create frameproj's fixed data and print a logged-in admin session key."

    def handle(self, *args, **options):
        publishers = [Publisher.objects.create(name=f"P{n}") for n in range(1, 5)]
        authors = [
            Author.objects.create(name=f"Author {n}", publisher=publishers[(n - 1) % 4])
            for n in range(1, 9)
        ]
        tags = [Tag.objects.create(name=f"tag{n}") for n in range(6)]
        for n in range(1, 13):
            book = Book.objects.create(title=f"Book {n}", author=authors[(n - 1) % 8])
            book.tags.set([tags[n % 6], tags[(n + 1) % 6]])
            for stars in (3, 5):
                Review.objects.create(book=book, stars=stars)
        user = User.objects.create_superuser("admin", "admin@example.com", "admin")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        self.stdout.write(session.session_key)
