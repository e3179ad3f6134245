"""``manage.py seed``: the fixed data every expected query count in test_findings.py assumes.

- 4 publishers, ``P1`` … ``P4``;
- 10 authors (``Author 1`` … ``Author 10``), each with a profile and 3 books, one published
  in each of 2022, 2023 and 2024 (``Book <author>-<year>``);
- 8 users (``user1`` … ``user8``) and 8 tags, each tag created by its own user;
- 12 articles, ``Article n`` by author ``(n - 1) % 10 + 1``, each with 2 tags (every tag on 3
  articles).

Run it once on a freshly migrated database: it refuses to seed twice.
"""

import datetime

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from shop.models import Article, Author, Book, Profile, Publisher, Tag

AUTHORS = 10
YEARS = (2022, 2023, 2024)
PUBLISHERS = 4
TAGS = 8
ARTICLES = 12


class Command(BaseCommand):
    help = "Create diagproj's fixed test data in an empty, migrated database."

    @transaction.atomic
    def handle(self, *args, **options):
        if Author.objects.exists() or User.objects.exists():
            raise CommandError("the database is already seeded: migrate a new DIAG_DB first")
        publishers = [Publisher.objects.create(name=f"P{n}") for n in range(1, PUBLISHERS + 1)]
        authors = []
        for n in range(1, AUTHORS + 1):
            author = Author.objects.create(name=f"Author {n}")
            Profile.objects.create(author=author, bio=f"Bio of author {n}")
            for year in YEARS:
                Book.objects.create(
                    title=f"Book {n}-{year}",
                    author=author,
                    publisher=publishers[(n + year) % PUBLISHERS],
                    published=datetime.date(year, 6, 1),
                )
            authors.append(author)
        tags = []
        for n in range(1, TAGS + 1):
            creator = User.objects.create(username=f"user{n}")
            tags.append(Tag.objects.create(name=f"tag{n}", created_by=creator))
        for n in range(ARTICLES):
            article = Article.objects.create(title=f"Article {n + 1}", author=authors[n % AUTHORS])
            article.tags.set([tags[n % TAGS], tags[(n + 1) % TAGS]])
        self.stdout.write(
            f"seeded {PUBLISHERS} publishers, {AUTHORS} authors with profiles and "
            f"{AUTHORS * len(YEARS)} books, {TAGS} users and tags, {ARTICLES} articles"
        )
