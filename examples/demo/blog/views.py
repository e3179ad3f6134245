"""Demo views: each N+1 shape as a "naive" view and its "fixed" twin.

Every view's docstring has three tagged lines that the index (``/``) and the tests read:

- ``Shows:`` what the naive shape is,
- ``Fix:`` the change that removes it,
- ``Queries:`` the exact number of SQL statements the view runs against the seed data
  (``manage.py seed_demo``; see ``blog/seed.py``: 20 authors with a profile and 3 books each,
  30 articles with 3 tags each, 15 tags each created by its own user). Counts exclude statements
  Django issues for transaction management (``BEGIN`` / ``SAVEPOINT``).

JSON responses stay small: a row count, a digest of all rows (naive and fixed twins return the
same digest) and the first rows as a sample.
"""

import hashlib
import inspect
import json
import re

from asgiref.sync import sync_to_async
from django.db.models import Count, Prefetch, prefetch_related_objects
from django.http import HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.generic import ListView

from .models import Article, Author, Book, Publisher, Tag, Visit
from .seed import RECENT_YEAR
from .serializers import serialize_articles

SAMPLE_ROWS = 3
HOUSE_PUBLISHER = "Publisher 1"
DEFAULT_BOOK_IDS = tuple(range(1, 61, 3))  # 20 of the 60 seeded books
MAX_IDS = 500
DEFAULT_VISITS = 10
MAX_VISITS = 100


def _payload(request, rows):
    blob = json.dumps(rows, sort_keys=True, default=str).encode()
    match = request.resolver_match
    return JsonResponse(
        {
            "view": match.url_name if match else None,
            "count": len(rows),
            "digest": hashlib.sha256(blob).hexdigest()[:16],
            "sample": rows[:SAMPLE_ROWS],
        }
    )


# -- 1. forward ForeignKey ----------------------------------------------------------------------


def articles_authors_naive(request):
    """Articles with their author's name, the author loaded lazily per article.

    Shows: N+1 on a forward ForeignKey: ``article.author`` runs one SELECT per article.
    Fix: ``Article.objects.select_related("author")`` (one JOIN).
    Queries: 31 (1 for the articles + 30 authors, one per article).
    """
    rows = []
    for article in Article.objects.all():
        author = article.author
        rows.append({"title": article.title, "author": author.name})
    return _payload(request, rows)


def articles_authors_fixed(request):
    """Articles with their author's name, the author JOINed in.

    Shows: the fix for ``articles_authors_naive``.
    Fix: ``Article.objects.select_related("author")``.
    Queries: 1 (articles JOIN authors).
    """
    rows = []
    for article in Article.objects.select_related("author"):
        author = article.author
        rows.append({"title": article.title, "author": author.name})
    return _payload(request, rows)


def books_author_profile_naive(request):
    """Books with their author's name and bio: a chain of two forward relations.

    Shows: N+1 along a chain: ``book.author`` (FK) then ``author.profile`` (OneToOne), two
    SELECTs per book.
    Fix: ``Book.objects.select_related("author__profile")`` (two JOINs).
    Queries: 121 (1 for the books + 60 authors + 60 profiles).
    """
    rows = []
    for book in Book.objects.all():
        author = book.author
        profile = author.profile
        rows.append({"title": book.title, "author": author.name, "bio": profile.bio})
    return _payload(request, rows)


def books_author_profile_fixed(request):
    """Books with their author's name and bio, both relations JOINed in.

    Shows: the fix for ``books_author_profile_naive``.
    Fix: ``Book.objects.select_related("author__profile")``.
    Queries: 1 (books JOIN authors JOIN profiles).
    """
    rows = []
    for book in Book.objects.select_related("author__profile"):
        author = book.author
        profile = author.profile
        rows.append({"title": book.title, "author": author.name, "bio": profile.bio})
    return _payload(request, rows)


# -- 2. reverse ForeignKey ----------------------------------------------------------------------


def authors_books_naive(request):
    """Authors with the titles of their books, the books queried per author.

    Shows: N+1 on a reverse ForeignKey: ``author.books.all()`` runs one SELECT per author (the
    5001-queries incident of the articles, at demo scale).
    Fix: ``Author.objects.prefetch_related("books")`` (one ``WHERE author_id IN (...)``).
    Queries: 21 (1 for the authors + 20 book lists).
    """
    rows = []
    for author in Author.objects.all():
        titles = [book.title for book in author.books.all()]
        rows.append({"author": author.name, "books": titles})
    return _payload(request, rows)


def authors_books_fixed(request):
    """Authors with the titles of their books, prefetched.

    Shows: the fix for ``authors_books_naive``.
    Fix: ``Author.objects.prefetch_related("books")``.
    Queries: 2 (authors + all their books in one IN query).
    """
    rows = []
    for author in Author.objects.prefetch_related("books"):
        titles = [book.title for book in author.books.all()]
        rows.append({"author": author.name, "books": titles})
    return _payload(request, rows)


async def async_authors_books_naive(request):
    """Async: authors with their book titles, ``async for`` over each author's books.

    Shows: N+1 on a reverse ForeignKey in an async view: every ``async for`` over
    ``author.books.all()`` is one more awaited SELECT.
    Fix: ``Author.objects.prefetch_related("books")``; ``async for`` runs the prefetch.
    Queries: 21 (1 for the authors + 20 book lists).
    """
    rows = []
    async for author in Author.objects.all():
        titles = [book.title async for book in author.books.all()]
        rows.append({"author": author.name, "books": titles})
    return _payload(request, rows)


async def async_authors_books_fixed(request):
    """Async: authors with their book titles, prefetched by the outer ``async for``.

    Shows: the fix for ``async_authors_books_naive``.
    Fix: ``Author.objects.prefetch_related("books")``.
    Queries: 2 (authors + all their books in one IN query).
    """
    rows = []
    async for author in Author.objects.prefetch_related("books"):
        titles = [book.title async for book in author.books.all()]
        rows.append({"author": author.name, "books": titles})
    return _payload(request, rows)


# -- 3. ManyToMany ------------------------------------------------------------------------------


def articles_tags_naive(request):
    """Articles with their tag names, the tags queried per article.

    Shows: N+1 on a ManyToMany: ``article.tags.all()`` runs one SELECT (JOIN through the link
    table) per article.
    Fix: ``Article.objects.prefetch_related("tags")``.
    Queries: 31 (1 for the articles + 30 tag lists).
    """
    rows = []
    for article in Article.objects.all():
        names = [tag.name for tag in article.tags.all()]
        rows.append({"title": article.title, "tags": names})
    return _payload(request, rows)


def articles_tags_fixed(request):
    """Articles with their tag names, prefetched.

    Shows: the fix for ``articles_tags_naive``.
    Fix: ``Article.objects.prefetch_related("tags")``.
    Queries: 2 (articles + all their tags in one IN query).
    """
    rows = []
    for article in Article.objects.prefetch_related("tags"):
        names = [tag.name for tag in article.tags.all()]
        rows.append({"title": article.title, "tags": names})
    return _payload(request, rows)


async def async_articles_tags_naive(request):
    """Async: articles with their tag names, ``async for`` over each article's tags.

    Shows: N+1 on a ManyToMany in an async view.
    Fix: ``Article.objects.prefetch_related("tags")``; ``async for`` runs the prefetch.
    Queries: 31 (1 for the articles + 30 tag lists).
    """
    rows = []
    async for article in Article.objects.all():
        names = [tag.name async for tag in article.tags.all()]
        rows.append({"title": article.title, "tags": names})
    return _payload(request, rows)


async def async_articles_tags_fixed(request):
    """Async: articles with their tag names, prefetched by the outer ``async for``.

    Shows: the fix for ``async_articles_tags_naive``.
    Fix: ``Article.objects.prefetch_related("tags")``.
    Queries: 2 (articles + all their tags in one IN query).
    """
    rows = []
    async for article in Article.objects.prefetch_related("tags"):
        names = [tag.name async for tag in article.tags.all()]
        rows.append({"title": article.title, "tags": names})
    return _payload(request, rows)


# -- 4. a ForeignKey on prefetched children (the async article's canonical case) ----------------


def _tag_creator_rows(articles):
    rows = []
    for article in articles:
        tags = []
        for tag in article.tags.all():
            creator = tag.created_by
            tags.append({"tag": tag.name, "created_by": creator.username})
        rows.append({"title": article.title, "tags": tags})
    return rows


def tag_creators_unprefetched(request):
    """Articles, their tags and each tag's creator, nothing prefetched.

    Shows: N+1 twice over: one SELECT of tags per article, then one SELECT of the user per tag.
    Fix: ``prefetch_related(Prefetch("tags", queryset=Tag.objects.select_related("created_by")))``.
    Queries: 121 (1 for the articles + 30 tag lists + 90 creators).
    """
    return _payload(request, _tag_creator_rows(Article.objects.all()))


def tag_creators_naive(request):
    """Articles, their tags and each tag's creator, tags prefetched but not their creators.

    Shows: ``prefetch_related("tags")`` removes the per-article query but ``tag.created_by`` on
    the prefetched children still runs one SELECT per tag: prefetching does not follow a
    ForeignKey of the children.
    Fix: ``prefetch_related(Prefetch("tags", queryset=Tag.objects.select_related("created_by")))``.
    Queries: 92 (1 for the articles + 1 for all tags + 90 creators, one per tag).
    """
    return _payload(request, _tag_creator_rows(Article.objects.prefetch_related("tags")))


def tag_creators_fixed(request):
    """Articles, their tags and each tag's creator, creators JOINed into the prefetch.

    Shows: the fix for ``tag_creators_naive``: ``select_related`` chained inside ``Prefetch``.
    Fix: ``prefetch_related(Prefetch("tags", queryset=Tag.objects.select_related("created_by")))``.
    Queries: 2 (articles + all tags JOIN their creators).
    """
    articles = Article.objects.prefetch_related(
        Prefetch("tags", queryset=Tag.objects.select_related("created_by"))
    )
    return _payload(request, _tag_creator_rows(articles))


@sync_to_async
def _created_by(tag):
    # A lazy ForeignKey load must run in a sync thread: an uncached ``tag.created_by`` queries
    # here, once per tag; a cached one (select_related in the Prefetch) does not.
    return tag.created_by


async def _async_tag_creator_rows(articles):
    rows = []
    async for article in articles:
        tags = []
        for tag in article.tags.all():  # prefetched: no query
            creator = await _created_by(tag)
            tags.append({"tag": tag.name, "created_by": creator.username})
        rows.append({"title": article.title, "tags": tags})
    return rows


async def async_tag_creators_naive(request):
    """Async: ``async for`` over ``Article.objects.prefetch_related("tags")``, creator per tag.

    Shows: the async article's canonical case: the prefetch fixes the per-article tag query,
    but each ``tag.created_by`` is still one awaited SELECT per tag.
    Fix: ``prefetch_related(Prefetch("tags", queryset=Tag.objects.select_related("created_by")))``.
    Queries: 92 (1 for the articles + 1 for all tags + 90 creators, one per tag).
    """
    rows = await _async_tag_creator_rows(Article.objects.prefetch_related("tags"))
    return _payload(request, rows)


async def async_tag_creators_fixed(request):
    """Async: creators JOINed into the tags prefetch, iterated with ``async for``.

    Shows: the fix for ``async_tag_creators_naive``: same loop, one queryset change.
    Fix: ``prefetch_related(Prefetch("tags", queryset=Tag.objects.select_related("created_by")))``.
    Queries: 2 (articles + all tags JOIN their creators).
    """
    articles = Article.objects.prefetch_related(
        Prefetch("tags", queryset=Tag.objects.select_related("created_by"))
    )
    rows = await _async_tag_creator_rows(articles)
    return _payload(request, rows)


# -- 5. counting related rows per row -----------------------------------------------------------


def authors_book_count_naive(request):
    """Authors with how many books each wrote, counted per author.

    Shows: N+1 from an aggregate per row: ``author.books.count()`` runs one ``SELECT COUNT(*)``
    per author.
    Fix: ``Author.objects.annotate(book_count=Count("books"))``.
    Queries: 21 (1 for the authors + 20 counts).
    """
    rows = []
    for author in Author.objects.all():
        rows.append({"author": author.name, "books": author.books.count()})
    return _payload(request, rows)


def authors_book_count_fixed(request):
    """Authors with how many books each wrote, counted by the database in one query.

    Shows: the fix for ``authors_book_count_naive``.
    Fix: ``Author.objects.annotate(book_count=Count("books"))``.
    Queries: 1 (authors LEFT JOIN books GROUP BY author).
    """
    rows = []
    for author in Author.objects.annotate(book_count=Count("books")):
        rows.append({"author": author.name, "books": author.book_count})
    return _payload(request, rows)


async def async_authors_book_count_naive(request):
    """Async: authors with how many books each wrote, ``await author.books.acount()`` per author.

    Shows: N+1 from an awaited aggregate per row.
    Fix: ``Author.objects.annotate(book_count=Count("books"))``.
    Queries: 21 (1 for the authors + 20 counts).
    """
    rows = []
    async for author in Author.objects.all():
        rows.append({"author": author.name, "books": await author.books.acount()})
    return _payload(request, rows)


async def async_authors_book_count_fixed(request):
    """Async: authors with their book count annotated.

    Shows: the fix for ``async_authors_book_count_naive``.
    Fix: ``Author.objects.annotate(book_count=Count("books"))``.
    Queries: 1 (authors LEFT JOIN books GROUP BY author).
    """
    rows = []
    async for author in Author.objects.annotate(book_count=Count("books")):
        rows.append({"author": author.name, "books": author.book_count})
    return _payload(request, rows)


# -- 6. filtering a prefetched relation ---------------------------------------------------------


def authors_recent_books_naive(request):
    """Authors with their books published in ``RECENT_YEAR`` (2024), filtered per author.

    Shows: ``.filter()`` on a prefetched relation bypasses the prefetch cache: the prefetch query
    is wasted and ``author.books.filter(...)`` still runs one SELECT per author.
    Fix: ``Prefetch("books", queryset=Book.objects.filter(published__year=2024),
    to_attr="recent_books")``, then read ``author.recent_books``.
    Queries: 22 (1 for the authors + 1 unused prefetch of all books + 20 filtered book lists).
    """
    rows = []
    for author in Author.objects.prefetch_related("books"):
        recent = author.books.filter(published__year=RECENT_YEAR)
        rows.append({"author": author.name, "recent": [book.title for book in recent]})
    return _payload(request, rows)


def authors_recent_books_fixed(request):
    """Authors with their books published in ``RECENT_YEAR`` (2024), filtered in the prefetch.

    Shows: the fix for ``authors_recent_books_naive``.
    Fix: ``Prefetch("books", queryset=Book.objects.filter(published__year=2024),
    to_attr="recent_books")``.
    Queries: 2 (authors + their 2024 books in one IN query).
    """
    recent = Prefetch(
        "books",
        queryset=Book.objects.filter(published__year=RECENT_YEAR),
        to_attr="recent_books",
    )
    rows = []
    for author in Author.objects.prefetch_related(recent):
        rows.append({"author": author.name, "recent": [book.title for book in author.recent_books]})
    return _payload(request, rows)


def authors_recent_publishers_naive(request):
    """Authors, their 2024 books and each book's publisher, via ``prefetch_related_objects``.

    Shows: a ``Prefetch(..., to_attr=...)`` applied to a list with ``prefetch_related_objects``
    loads the books, but ``book.publisher`` on those prefetched books still runs one SELECT per
    book: relations of the ``to_attr`` objects must be loaded by the Prefetch itself.
    Fix: nest them in the Prefetch: ``queryset=Book.objects.filter(...).select_related(
    "publisher")`` (or add the lookup ``"recent_books__publisher"`` after the Prefetch).
    Queries: 22 (1 for the authors + 1 for their 2024 books + 20 publishers, one per book).
    """
    authors = list(Author.objects.all())
    prefetch_related_objects(
        authors,
        Prefetch(
            "books",
            queryset=Book.objects.filter(published__year=RECENT_YEAR),
            to_attr="recent_books",
        ),
    )
    rows = []
    for author in authors:
        books = [{"title": b.title, "publisher": b.publisher.name} for b in author.recent_books]
        rows.append({"author": author.name, "recent": books})
    return _payload(request, rows)


def authors_recent_publishers_fixed(request):
    """Authors, their 2024 books and each book's publisher, publishers JOINed in the Prefetch.

    Shows: the fix for ``authors_recent_publishers_naive``.
    Fix: ``Prefetch("books", queryset=Book.objects.filter(published__year=2024)
    .select_related("publisher"), to_attr="recent_books")``.
    Queries: 2 (authors + their 2024 books JOIN publishers).
    """
    authors = list(Author.objects.all())
    prefetch_related_objects(
        authors,
        Prefetch(
            "books",
            queryset=Book.objects.filter(published__year=RECENT_YEAR).select_related("publisher"),
            to_attr="recent_books",
        ),
    )
    rows = []
    for author in authors:
        books = [{"title": b.title, "publisher": b.publisher.name} for b in author.recent_books]
        rows.append({"author": author.name, "recent": books})
    return _payload(request, rows)


# -- 7. the same query, same parameters, again and again ----------------------------------------


def authors_house_publisher_naive(request):
    """Authors, each shown with the house publisher, looked up again for every author.

    Shows: exact duplicates: the same SQL with the same parameters
    (``Publisher.objects.get(name="Publisher 1")``) runs once per author.
    Fix: hoist the lookup out of the loop (run it once, reuse the object).
    Queries: 21 (1 for the authors + 20 identical publisher lookups).
    """
    rows = []
    for author in Author.objects.all():
        house = Publisher.objects.get(name=HOUSE_PUBLISHER)
        rows.append({"author": author.name, "publisher": house.name})
    return _payload(request, rows)


def authors_house_publisher_fixed(request):
    """Authors, each shown with the house publisher, looked up once.

    Shows: the fix for ``authors_house_publisher_naive``.
    Fix: hoist ``Publisher.objects.get(name="Publisher 1")`` out of the loop.
    Queries: 2 (1 publisher + 1 for the authors).
    """
    house = Publisher.objects.get(name=HOUSE_PUBLISHER)
    rows = []
    for author in Author.objects.all():
        rows.append({"author": author.name, "publisher": house.name})
    return _payload(request, rows)


# -- 8. one .get() per primary key --------------------------------------------------------------


def _book_ids(request):
    raw = request.GET.get("ids")
    if not raw:
        return list(DEFAULT_BOOK_IDS)
    ids = [int(part) for part in raw.split(",") if part.strip()]
    if len(ids) > MAX_IDS:
        raise ValueError(f"at most {MAX_IDS} ids")
    return ids


def _book_row(book):
    return {"id": book.pk, "title": book.title}


def books_by_pk_naive(request):
    """Books by a list of primary keys (``?ids=1,4,7``; default: 20 ids), one ``.get()`` each.

    Shows: N+1 by hand: ``Book.objects.get(pk=pk)`` in a loop, one SELECT per id.
    Fix: ``Book.objects.in_bulk(ids)`` (or ``filter(pk__in=ids)``): one query.
    Queries: 20 (one per id; default ids 1, 4, .., 58).
    """
    try:
        ids = _book_ids(request)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    rows = []
    for pk in ids:
        try:
            book = Book.objects.get(pk=pk)
        except Book.DoesNotExist:
            continue
        rows.append(_book_row(book))
    return _payload(request, rows)


def books_by_pk_fixed(request):
    """Books by a list of primary keys (``?ids=1,4,7``; default: 20 ids), fetched in bulk.

    Shows: the fix for ``books_by_pk_naive``.
    Fix: ``Book.objects.in_bulk(ids)``.
    Queries: 1 (``WHERE id IN (...)``).
    """
    try:
        ids = _book_ids(request)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    books = Book.objects.in_bulk(ids)
    rows = [_book_row(books[pk]) for pk in ids if pk in books]
    return _payload(request, rows)


async def async_books_by_pk_naive(request):
    """Async: books by a list of primary keys, one ``await Book.objects.aget(pk=...)`` each.

    Shows: N+1 by hand in an async view: ``aget()`` per id, one awaited SELECT each.
    Fix: ``await Book.objects.ain_bulk(ids)``.
    Queries: 20 (one per id; default ids 1, 4, .., 58).
    """
    try:
        ids = _book_ids(request)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    rows = []
    for pk in ids:
        try:
            book = await Book.objects.aget(pk=pk)
        except Book.DoesNotExist:
            continue
        rows.append(_book_row(book))
    return _payload(request, rows)


async def async_books_by_pk_fixed(request):
    """Async: books by a list of primary keys, fetched with one ``ain_bulk()``.

    Shows: the fix for ``async_books_by_pk_naive``.
    Fix: ``await Book.objects.ain_bulk(ids)``.
    Queries: 1 (``WHERE id IN (...)``).
    """
    try:
        ids = _book_ids(request)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    books = await Book.objects.ain_bulk(ids)
    rows = [_book_row(books[pk]) for pk in ids if pk in books]
    return _payload(request, rows)


# -- 9. INSERT in a loop ------------------------------------------------------------------------


def _visit_count(request):
    return max(0, min(int(request.GET.get("n", DEFAULT_VISITS)), MAX_VISITS))


def _visit_rows(articles):
    return [{"article": article.title} for article in articles]


def visits_naive(request):
    """Record a visit of each of the first ``?n=`` (default 10) articles, one INSERT each.

    Writes only ``Visit`` (which no view reads), so other views' counts stay put.

    Shows: INSERT in a loop: ``Visit.objects.create(...)`` per article.
    Fix: ``Visit.objects.bulk_create([...])``: one multi-row INSERT.
    Queries: 11 (1 for the articles + 10 INSERTs).
    """
    try:
        n = _visit_count(request)
    except ValueError:
        return HttpResponseBadRequest("n must be an integer")
    articles = list(Article.objects.all()[:n])
    for article in articles:
        Visit.objects.create(article=article)
    return _payload(request, _visit_rows(articles))


def visits_fixed(request):
    """Record a visit of each of the first ``?n=`` (default 10) articles in one INSERT.

    Shows: the fix for ``visits_naive``.
    Fix: ``Visit.objects.bulk_create([...])``.
    Queries: 2 (1 for the articles + 1 multi-row INSERT). ``bulk_create`` opens a transaction:
    outside a test, on SQLite with Django 4.2/5.2, it also executes ``BEGIN`` (so djtop shows
    3 statements) and ``connection.queries`` logs ``COMMIT`` as well.
    """
    try:
        n = _visit_count(request)
    except ValueError:
        return HttpResponseBadRequest("n must be an integer")
    articles = list(Article.objects.all()[:n])
    Visit.objects.bulk_create([Visit(article=article) for article in articles])
    return _payload(request, _visit_rows(articles))


async def async_visits_naive(request):
    """Async: record a visit of each of the first ``?n=`` (default 10) articles, ``acreate()`` each.

    Shows: INSERT in a loop in an async view: one awaited INSERT per article.
    Fix: ``await Visit.objects.abulk_create([...])``.
    Queries: 11 (1 for the articles + 10 INSERTs).
    """
    try:
        n = _visit_count(request)
    except ValueError:
        return HttpResponseBadRequest("n must be an integer")
    articles = [article async for article in Article.objects.all()[:n]]
    for article in articles:
        await Visit.objects.acreate(article=article)
    return _payload(request, _visit_rows(articles))


async def async_visits_fixed(request):
    """Async: record a visit of each of the first ``?n=`` (default 10) articles in one INSERT.

    Shows: the fix for ``async_visits_naive``.
    Fix: ``await Visit.objects.abulk_create([...])``.
    Queries: 2 (1 for the articles + 1 multi-row INSERT). Outside a test, on SQLite with
    Django 4.2/5.2, the transaction also executes ``BEGIN`` (djtop shows 3 statements).
    """
    try:
        n = _visit_count(request)
    except ValueError:
        return HttpResponseBadRequest("n must be an integer")
    articles = [article async for article in Article.objects.all()[:n]]
    await Visit.objects.abulk_create([Visit(article=article) for article in articles])
    return _payload(request, _visit_rows(articles))


# -- 10. a template walks the relations ---------------------------------------------------------


def template_articles_naive(request):
    """HTML list of articles rendered by a template that walks ``author`` and ``tags``.

    Shows: N+1 whose queries come from template lines (``{{ article.author.name }}`` and
    ``{% for tag in article.tags.all %}`` in ``blog/templates/blog/articles.html``).
    Fix: ``Article.objects.select_related("author").prefetch_related("tags")`` in the view.
    Queries: 61 (1 for the articles + 30 authors + 30 tag lists).
    """
    context = {"title": "Articles (naive)", "articles": Article.objects.all()}
    return render(request, "blog/articles.html", context)


def template_articles_fixed(request):
    """HTML list of articles, the template's relations loaded by the view's queryset.

    Shows: the fix for ``template_articles_naive``.
    Fix: ``Article.objects.select_related("author").prefetch_related("tags")``.
    Queries: 2 (articles JOIN authors + all their tags).
    """
    articles = Article.objects.select_related("author").prefetch_related("tags")
    context = {"title": "Articles (fixed)", "articles": articles}
    return render(request, "blog/articles.html", context)


# -- 11. streaming responses: queries run while the body is consumed ----------------------------


def _author_line(author, titles):
    return json.dumps({"author": author.name, "books": titles}) + "\n"


def _author_lines(authors):
    for author in authors:
        titles = [book.title for book in author.books.all()]
        yield _author_line(author, titles)


async def _async_author_lines(authors):
    async for author in authors:
        titles = [book.title async for book in author.books.all()]
        yield _author_line(author, titles)


def stream_authors_naive(request):
    """NDJSON stream, one line per author with their book titles, queried while streaming.

    Shows: N+1 inside a ``StreamingHttpResponse`` generator: the queries run after the view
    returned, while the server consumes the body.
    Fix: ``Author.objects.prefetch_related("books")``.
    Queries: 21 (1 for the authors + 20 book lists), all during streaming.
    """
    return StreamingHttpResponse(
        _author_lines(Author.objects.all()), content_type="application/x-ndjson"
    )


def stream_authors_fixed(request):
    """NDJSON stream, one line per author with their book titles, prefetched.

    Shows: the fix for ``stream_authors_naive``.
    Fix: ``Author.objects.prefetch_related("books")``.
    Queries: 2 (authors + all their books), during streaming.
    """
    return StreamingHttpResponse(
        _author_lines(Author.objects.prefetch_related("books")),
        content_type="application/x-ndjson",
    )


async def async_stream_authors_naive(request):
    """Async: NDJSON stream from an async generator, book titles queried per author.

    Shows: N+1 inside an async generator consumed by the ASGI server after the view returned.
    Fix: ``Author.objects.prefetch_related("books")`` (run by the generator's ``async for``).
    Queries: 21 (1 for the authors + 20 book lists), all during streaming.
    """
    return StreamingHttpResponse(
        _async_author_lines(Author.objects.all()), content_type="application/x-ndjson"
    )


async def async_stream_authors_fixed(request):
    """Async: NDJSON stream from an async generator, books prefetched.

    Shows: the fix for ``async_stream_authors_naive``.
    Fix: ``Author.objects.prefetch_related("books")``.
    Queries: 2 (authors + all their books), during streaming.
    """
    return StreamingHttpResponse(
        _async_author_lines(Author.objects.prefetch_related("books")),
        content_type="application/x-ndjson",
    )


# -- 12. a sync "serializer" walking relations --------------------------------------------------


def serializer_naive(request):
    """Articles through a sync serializer that walks author, author.profile and tags.

    Shows: N+1 hidden in serializer code (``blog/serializers.py``), three relations per article.
    Fix: ``Article.objects.select_related("author__profile").prefetch_related("tags")``.
    Queries: 91 (1 for the articles + 30 authors + 30 profiles + 30 tag lists).
    """
    return _payload(request, serialize_articles(Article.objects.all()))


def serializer_fixed(request):
    """Articles through the same serializer, every relation it walks loaded up front.

    Shows: the fix for ``serializer_naive``.
    Fix: ``Article.objects.select_related("author__profile").prefetch_related("tags")``.
    Queries: 2 (articles JOIN authors JOIN profiles + all their tags).
    """
    articles = Article.objects.select_related("author__profile").prefetch_related("tags")
    return _payload(request, serialize_articles(articles))


async def async_serializer_naive(request):
    """Async: rows fetched with ``async for``, then a sync serializer via ``sync_to_async``.

    Shows: the DRF-in-async shape: the serializer runs in a sync thread and walks author,
    profile and tags per article; its queries run off the event loop but belong to this request.
    Fix: ``Article.objects.select_related("author__profile").prefetch_related("tags")``.
    Queries: 91 (1 for the articles + 30 authors + 30 profiles + 30 tag lists).
    """
    articles = [article async for article in Article.objects.all()]
    rows = await sync_to_async(serialize_articles)(articles)
    return _payload(request, rows)


async def async_serializer_fixed(request):
    """Async: every relation the serializer walks loaded by the ``async for``.

    Shows: the fix for ``async_serializer_naive``.
    Fix: ``Article.objects.select_related("author__profile").prefetch_related("tags")``.
    Queries: 2 (articles JOIN authors JOIN profiles + all their tags).
    """
    queryset = Article.objects.select_related("author__profile").prefetch_related("tags")
    articles = [article async for article in queryset]
    rows = await sync_to_async(serialize_articles)(articles)
    return _payload(request, rows)


# -- 13. a generic ListView: its template walks the relations -------------------------------------
# Class-based, so not in ROUTES (whose consumers call and wrap function views): catalog.PAGES.


class ArticleList(ListView):
    """HTML list of articles by a generic ``ListView`` whose template walks the relations.

    Shows: N+1s fired by the template of a ``ListView`` with ``model = Article``:
    ``{{ article.author.name }}`` (FK), ``{% for tag in article.tags.all %}`` (M2M) and
    ``{{ article.visits.count }}`` (a COUNT per row) in ``blog/templates/blog/article_list.html``.
    Fix: ``queryset = Article.objects.select_related("author").prefetch_related("tags")
    .annotate(Count("visits"))``, the template reading ``article.visits__count`` (see
    ``FixedArticleList``).
    Queries: 91 (1 for the articles + 30 authors + 30 tag lists + 30 visit counts).
    """

    model = Article
    extra_context = {"title": "Articles (naive)"}


class FixedArticleList(ListView):
    """HTML list of articles, the template's relations loaded by the ListView's queryset.

    Shows: the fix for ``ArticleList``: djtop's merged fix for its page, pasted.
    Fix: ``queryset = Article.objects.select_related("author").prefetch_related("tags")
    .annotate(Count("visits"))``, and ``.order_by("id")``: a query with a GROUP BY (the
    annotated COUNT) leaves out ``Meta.ordering``, so the rows would come in another order.
    Queries: 2 (articles JOIN authors with their visit counts + all their tags).
    """

    queryset = (
        Article.objects.select_related("author")
        .prefetch_related("tags")
        .annotate(Count("visits"))
        .order_by("id")  # Meta.ordering does not apply to a GROUP BY query
    )
    template_name = "blog/fixed_article_list.html"
    extra_context = {"title": "Articles (fixed)"}


# -- 14. the index ------------------------------------------------------------------------------

_TAGGED_LINE = re.compile(r"^(Shows|Fix|Queries):\s*(.*)$")


def describe(view):
    """The ``Shows`` / ``Fix`` / ``Queries`` lines of a view's docstring, as a dict."""
    tags = {}
    current = None
    for line in inspect.cleandoc(view.__doc__ or "").splitlines():
        match = _TAGGED_LINE.match(line.strip())
        if match:
            current = match.group(1).lower()
            tags[current] = match.group(2).strip()
        elif current and line.strip():
            tags[current] += " " + line.strip()
        else:
            current = None
    queries = re.match(r"\d+", tags.get("queries", ""))
    return {
        "summary": inspect.cleandoc(view.__doc__ or "").split("\n", 1)[0],
        "shows": tags.get("shows"),
        "fix": tags.get("fix"),
        "queries": int(queries.group()) if queries else None,
        "queries_detail": tags.get("queries"),
    }


def index(request):
    """Every demo URL with its expected query count, as JSON: ``views`` (ROUTES) and ``pages``
    (the admin, API and ListView pages of ``catalog.PAGES``).

    Queries: 0.
    """
    from .catalog import entries, pages

    return JsonResponse({"views": entries(request), "pages": pages()})
