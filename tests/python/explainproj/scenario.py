"""A Django process for the EXPLAIN round trip: it seeds its database, runs a few statements
through the ORM (the shim captures them and sends them to DJTOP_ADDRESS), prints ``ready``
and then stays alive, answering EXPLAIN requests on the shim's thread, until stdin closes.

Run as ``python -m explainproj.scenario`` with tests/python and python/ on PYTHONPATH and
EXPLAINPROJ_VENDOR / EXPLAINPROJ_DB set (see settings.py). Commands on stdin, one per line:
``stock PK`` prints the stock of book PK (to check that nothing was written); ``quit`` exits.

Statements run (the tests find them by their SQL): a SELECT with a join (select_related and
filters with Decimal and date params), a count, a GROUP BY with ORDER BY, a SELECT with a
subquery, an UPDATE that increments ``stock`` (not idempotent: running it again would show),
and on PostgreSQL/MariaDB a SELECT ... FOR UPDATE.
"""

import datetime
import decimal
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "explainproj.settings")

AUTHORS = 40
BOOKS = 4000


def setup():
    from explainproj.servers import create_database

    vendor = os.environ.get("EXPLAINPROJ_VENDOR", "sqlite")
    name = os.environ.get("EXPLAINPROJ_DB", "djtop_explain")
    create_database(vendor, name)

    import django

    django.setup()
    from django.db import connection

    from explainproj.models import Author, Book

    with connection.schema_editor() as editor:
        tables = connection.introspection.table_names()
        for model in (Book, Author):
            if model._meta.db_table in tables:
                editor.delete_model(model)
        editor.create_model(Author)
        editor.create_model(Book)
    authors = Author.objects.bulk_create(Author(name=f"Author {i}") for i in range(AUTHORS))
    day = datetime.date(2020, 1, 1)
    Book.objects.bulk_create(
        (
            Book(
                title=f"Book {i}",
                author=authors[i % AUTHORS],
                price=decimal.Decimal(i % 50) + decimal.Decimal("0.99"),
                published=day + datetime.timedelta(days=i % 1000),
            )
            for i in range(BOOKS)
        ),
        batch_size=500,
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE explainproj_author, explainproj_book")
        elif connection.vendor == "mysql":
            cursor.execute("ANALYZE TABLE explainproj_author, explainproj_book")
            cursor.fetchall()
        else:
            cursor.execute("ANALYZE")
    return connection.vendor


def scenario(vendor):
    from django.db import transaction
    from django.db.models import Count, F, Sum

    from explainproj.models import Author, Book

    books = Book.objects.select_related("author").filter(
        author__name="Author 7", price__gte=decimal.Decimal("10.50")
    )
    list(books)
    Book.objects.filter(published__gte=datetime.date(2022, 6, 1)).count()
    authors = Author.objects.annotate(n=Count("books"), total=Sum("books__stock"))
    list(authors.filter(n__gt=50).order_by("-n", "name"))
    some = Author.objects.filter(name__startswith="Author 1")
    list(Book.objects.filter(author__in=some).order_by("-price", "title")[:20])
    Book.objects.filter(pk=1).update(stock=F("stock") + 1)
    if vendor != "sqlite":
        with transaction.atomic():
            list(Book.objects.select_for_update().filter(pk=2))


def main():
    vendor = setup()
    scenario(vendor)
    from djtop import transport

    transport.flush(5.0)
    print("ready", flush=True)
    from explainproj.models import Book

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "stock":
            print(Book.objects.get(pk=int(words[1])).stock, flush=True)
        elif words[0] == "quit":
            break
    transport.flush(2.0)


if __name__ == "__main__":
    main()
