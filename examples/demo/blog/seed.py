"""Deterministic demo data, shared by ``manage.py seed_demo`` and the tests.

Counts are fixed so each view's query count is predictable (see the view docstrings):

=============  =====  ==========================================================
table          rows   shape
=============  =====  ==========================================================
auth.User        16   ``user01`` .. ``user15``, and the superuser ``admin`` (password
                      ``admin``, id 16) to log in to ``/admin/``
Publisher         5   ``Publisher 1`` .. ``Publisher 5``
Author           20   ``Author 01`` .. ``Author 20``, each with one Profile
Profile          20   one per author
Book             60   3 per author, published in 2022, 2023 and 2024
                      (so exactly one per author in ``RECENT_YEAR``)
Tag              15   ``tag01`` .. ``tag15``, each created by a distinct user
Article          30   author = ``Author (i % 20) + 1``; 3 distinct tags each
Article.tags     90   article/tag links
Visit             0   only the INSERT demo views add rows
=============  =====  ==========================================================

Primary keys are explicit (1..n per table), so ``Book`` pks 1..60 are stable too.
"""

import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connections, transaction

from .models import Article, Author, Book, Profile, Publisher, Tag, Visit

USERS = 15
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
PUBLISHERS = 5
AUTHORS = 20
BOOKS_PER_AUTHOR = 3
BOOK_YEARS = (2022, 2023, 2024)
RECENT_YEAR = 2024
TAGS = 15
ARTICLES = 30
TAGS_PER_ARTICLE = 3
BOOKS = AUTHORS * BOOKS_PER_AUTHOR
ARTICLE_TAGS = ARTICLES * TAGS_PER_ARTICLE

assert len(BOOK_YEARS) == BOOKS_PER_AUTHOR and RECENT_YEAR in BOOK_YEARS


_admin_password_hash = []


def _admin_password():
    """The admin's password hash: hashing is slow by design, so once per process."""
    if not _admin_password_hash:
        _admin_password_hash.append(make_password(ADMIN_PASSWORD))
    return _admin_password_hash[0]


def wipe(using="default"):
    """Delete every row the seed owns (and all visits)."""
    User = get_user_model()
    for model in (Visit, Article, Tag, Book, Profile, Author, Publisher, User):
        model.objects.using(using).all().delete()


def seed(using="default"):
    """Wipe and recreate the demo data. Idempotent; returns a dict of row counts."""
    User = get_user_model()
    with transaction.atomic(using=using):
        wipe(using)
        users = [
            User(id=i, username=f"user{i:02d}", first_name=f"User {i}", password="!")
            for i in range(1, USERS + 1)
        ]
        User.objects.using(using).bulk_create(users)
        User.objects.using(using).create(
            id=USERS + 1,
            username=ADMIN_USERNAME,
            password=_admin_password(),
            is_staff=True,
            is_superuser=True,
        )

        publishers = [Publisher(id=i, name=f"Publisher {i}") for i in range(1, PUBLISHERS + 1)]
        Publisher.objects.using(using).bulk_create(publishers)

        authors = [Author(id=i, name=f"Author {i:02d}") for i in range(1, AUTHORS + 1)]
        Author.objects.using(using).bulk_create(authors)
        Profile.objects.using(using).bulk_create(
            Profile(id=a.id, author=a, bio=f"{a.name} writes about Django.") for a in authors
        )

        books = []
        for a in authors:
            for j, year in enumerate(BOOK_YEARS):
                n = len(books) + 1
                books.append(
                    Book(
                        id=n,
                        title=f"Book {n:02d} by {a.name}",
                        author=a,
                        publisher=publishers[n % PUBLISHERS],
                        published=datetime.date(year, 1 + (a.id + j) % 12, 1 + a.id % 28),
                    )
                )
        Book.objects.using(using).bulk_create(books)

        tags = [Tag(id=i, name=f"tag{i:02d}", created_by=users[i - 1]) for i in range(1, TAGS + 1)]
        Tag.objects.using(using).bulk_create(tags)

        articles = [
            Article(
                id=i,
                title=f"Article {i:02d}",
                body=f"Body of article {i}.",
                author=authors[(i - 1) % AUTHORS],
            )
            for i in range(1, ARTICLES + 1)
        ]
        Article.objects.using(using).bulk_create(articles)
        Through = Article.tags.through
        Through.objects.using(using).bulk_create(
            Through(article_id=a.id, tag_id=tags[(a.id - 1 + k * 5) % TAGS].id)
            for a in articles
            for k in range(TAGS_PER_ARTICLE)
        )

        # Explicit pks: move the sequences past them (a no-op on SQLite).
        connection = connections[using]
        sql = connection.ops.sequence_reset_sql(
            no_style(), [User, Publisher, Author, Profile, Book, Tag, Article, Through]
        )
        if sql:
            with connection.cursor() as cursor:
                for statement in sql:
                    cursor.execute(statement)

    return {
        "users": USERS,
        "superusers": 1,
        "publishers": PUBLISHERS,
        "authors": AUTHORS,
        "profiles": AUTHORS,
        "books": BOOKS,
        "tags": TAGS,
        "articles": ARTICLES,
        "article_tags": ARTICLE_TAGS,
    }
