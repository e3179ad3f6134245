"""One view per shape of docs/n-plus-one.md: ``*_naive`` has the problem, ``*_clean`` the fix.

tests/python/test_findings.py holds the contract (which findings each view must produce, with
how many queries, against ``manage.py seed`` data) and reads two kinds of marker comments here:

- ``# callsite: NAME``: the line where the lazy access (or the repeated call) runs a query;
- ``# queryset: NAME``: the line where the queryset the fix goes into is evaluated.

Keep every marked statement on one line, and a marker's NAME unique in this file.
"""

from asgiref.sync import sync_to_async
from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from .models import Article, Author, Book, Publisher, Tag, Visit

DETAIL_TITLE = "Book 1-2023"  # the single book of `detail`
IDS_YEAR = 2023  # the books loaded by primary key: one per author


def _ok(rows):
    return JsonResponse({"rows": len(rows)})


def index(request):
    """The views, for people and for the readiness probe (runs no query)."""
    return JsonResponse({"views": [view.__name__ for view in VIEWS]})


# -- forward ForeignKey -------------------------------------------------------------------------


def fk_naive(request):
    rows = []
    for article in Article.objects.all():  # queryset: fk
        rows.append(article.author.name)  # callsite: fk
    return _ok(rows)


def fk_clean(request):
    rows = []
    for article in Article.objects.select_related("author"):
        rows.append(article.author.name)
    return _ok(rows)


def fk_three_rows(request):
    """Exactly min_repeats (3) lazy loads: the smallest N+1 reported."""
    rows = []
    for book in Book.objects.all()[:3]:  # queryset: three_rows
        rows.append(book.author.name)  # callsite: three_rows
    return _ok(rows)


def fk_two_rows(request):
    """Two lazy loads: below min_repeats, not reported."""
    rows = []
    for book in Book.objects.all()[:2]:
        rows.append(book.author.name)
    return _ok(rows)


def detail(request):
    """One object and its relations, each loaded lazily once: not an N+1."""
    book = Book.objects.get(title=DETAIL_TITLE)
    return _ok([book.author.name, book.author.profile.bio, book.publisher.name])


# -- a chain of forward relations: ForeignKey then OneToOne -------------------------------------


def chain_naive(request):
    rows = []
    for book in Book.objects.all():  # queryset: chain
        rows.append(book.author.profile.bio)  # callsite: chain
    return _ok(rows)


def chain_clean(request):
    rows = []
    for book in Book.objects.select_related("author__profile"):
        rows.append(book.author.profile.bio)
    return _ok(rows)


# -- reverse ForeignKey -------------------------------------------------------------------------


def reverse_fk_naive(request):
    rows = []
    for author in Author.objects.all():  # queryset: reverse_fk
        rows.append([book.title for book in author.books.all()])  # callsite: reverse_fk
    return _ok(rows)


def reverse_fk_clean(request):
    rows = []
    for author in Author.objects.prefetch_related("books"):
        rows.append([book.title for book in author.books.all()])
    return _ok(rows)


# -- ManyToMany ---------------------------------------------------------------------------------


def m2m_naive(request):
    rows = []
    for article in Article.objects.all():  # queryset: m2m
        rows.append([tag.name for tag in article.tags.all()])  # callsite: m2m
    return _ok(rows)


def m2m_clean(request):
    rows = []
    for article in Article.objects.prefetch_related("tags"):
        rows.append([tag.name for tag in article.tags.all()])
    return _ok(rows)


# -- a ForeignKey on prefetched instances (the async article's canonical case) ------------------


def prefetched_fk_naive(request):
    rows = []
    for article in Article.objects.prefetch_related("tags"):  # queryset: prefetched_fk
        for tag in article.tags.all():
            rows.append(tag.created_by.username)  # callsite: prefetched_fk
    return _ok(rows)


def prefetched_fk_clean(request):
    rows = []
    tags = Prefetch("tags", queryset=Tag.objects.select_related("created_by"))
    for article in Article.objects.prefetch_related(tags):
        for tag in article.tags.all():
            rows.append(tag.created_by.username)
    return _ok(rows)


@sync_to_async
def _creator_of(tag):
    # A lazy ForeignKey load runs in a sync thread; with select_related it is cached.
    return tag.created_by  # callsite: async_prefetched_fk


async def async_prefetched_fk_naive(request):
    rows = []
    async for article in Article.objects.prefetch_related("tags"):  # queryset: async_pf
        for tag in article.tags.all():  # prefetched: no query
            creator = await _creator_of(tag)
            rows.append(creator.username)
    return _ok(rows)


async def async_prefetched_fk_clean(request):
    rows = []
    tags = Prefetch("tags", queryset=Tag.objects.select_related("created_by"))
    async for article in Article.objects.prefetch_related(tags):
        for tag in article.tags.all():
            creator = await _creator_of(tag)
            rows.append(creator.username)
    return _ok(rows)


# -- a ManyToMany per row, then a ForeignKey on each related row, nothing prefetched ------------


def m2m_then_fk_naive(request):
    rows = []
    for article in Article.objects.all():  # queryset: m2m_then_fk
        rows.append([tag.created_by.username for tag in article.tags.all()])  # callsite: m2m_fk
    return _ok(rows)


def m2m_then_fk_clean(request):
    rows = []
    tags = Prefetch("tags", queryset=Tag.objects.select_related("created_by"))
    for article in Article.objects.prefetch_related(tags):
        rows.append([tag.created_by.username for tag in article.tags.all()])
    return _ok(rows)


# -- .filter() on a relation per row: the filter bypasses the prefetch cache --------------------


def filter_prefetched_naive(request):
    rows = []
    for author in Author.objects.prefetch_related("books"):  # queryset: filter_prefetched
        recent = list(author.books.filter(published__year=2024))  # callsite: filter_prefetched
        rows.append([book.title for book in recent])
    return _ok(rows)


def filter_unprefetched_naive(request):
    rows = []
    for author in Author.objects.all():  # queryset: filter_unprefetched
        recent = list(author.books.filter(published__year=2024))  # callsite: filter_unprefetched
        rows.append([book.title for book in recent])
    return _ok(rows)


def filter_clean(request):
    rows = []
    recent = Prefetch(
        "books",
        queryset=Book.objects.filter(published__year=2024),
        to_attr="filtered_books",
    )
    for author in Author.objects.prefetch_related(recent):
        rows.append([book.title for book in author.filtered_books])
    return _ok(rows)


# -- .count() / .exists() on a relation per row -------------------------------------------------


def count_naive(request):
    rows = []
    for author in Author.objects.all():  # queryset: count
        rows.append(author.books.count())  # callsite: count
    return _ok(rows)


def count_clean(request):
    rows = []
    for author in Author.objects.annotate(Count("books")):
        rows.append(author.books__count)
    return _ok(rows)


async def async_count_naive(request):
    rows = []
    async for author in Author.objects.all():  # queryset: async_count
        rows.append(await author.books.acount())  # callsite: async_count
    return _ok(rows)


async def async_count_clean(request):
    rows = []
    async for author in Author.objects.annotate(Count("books")):
        rows.append(author.books__count)
    return _ok(rows)


def exists_naive(request):
    rows = []
    for author in Author.objects.all():  # queryset: exists
        rows.append(author.books.exists())  # callsite: exists
    return _ok(rows)


def exists_clean(request):
    rows = []
    has_books = Exists(Book.objects.filter(author=OuterRef("pk")))
    for author in Author.objects.annotate(has_books=has_books):
        rows.append(author.has_books)
    return _ok(rows)


# -- .get() / .aget() by primary key in a loop --------------------------------------------------


def get_by_pk_naive(request):
    ids = list(Book.objects.filter(published__year=IDS_YEAR).values_list("pk", flat=True))
    rows = []
    for pk in ids:
        rows.append(Book.objects.get(pk=pk).title)  # callsite: get_by_pk
    return _ok(rows)


def get_by_pk_clean(request):
    ids = list(Book.objects.filter(published__year=IDS_YEAR).values_list("pk", flat=True))
    books = Book.objects.in_bulk(ids)
    return _ok([books[pk].title for pk in ids])


async def async_get_by_pk_naive(request):
    pks = Book.objects.filter(published__year=IDS_YEAR).values_list("pk", flat=True)
    ids = [pk async for pk in pks]
    rows = []
    for pk in ids:
        book = await Book.objects.aget(pk=pk)  # callsite: async_get_by_pk
        rows.append(book.title)
    return _ok(rows)


async def async_get_by_pk_clean(request):
    pks = Book.objects.filter(published__year=IDS_YEAR).values_list("pk", flat=True)
    ids = [pk async for pk in pks]
    books = await Book.objects.ain_bulk(ids)
    return _ok([books[pk].title for pk in ids])


# -- the same INSERT repeated -------------------------------------------------------------------


def create_naive(request):
    now = timezone.now()
    rows = []
    for article in Article.objects.all():
        rows.append(Visit.objects.create(article=article, created_at=now))  # callsite: create
    return _ok(rows)


def create_clean(request):
    now = timezone.now()
    rows = Visit.objects.bulk_create(
        [Visit(article=article, created_at=now) for article in Article.objects.all()]
    )
    return _ok(rows)


# -- the same query with the same params repeated -----------------------------------------------


def duplicate_naive(request):
    rows = []
    for author in Author.objects.all():
        house = Publisher.objects.get(name="P1")  # callsite: duplicate
        rows.append((author.name, house.name))
    return _ok(rows)


def duplicate_clean(request):
    house = Publisher.objects.get(name="P1")
    rows = [(author.name, house.name) for author in Author.objects.all()]
    return _ok(rows)


# -- a sync serializer walking two relations, from a sync view and through sync_to_async --------


def serialize_articles(articles):
    rows = []
    for article in articles:  # queryset: serializer
        author = article.author.name  # callsite: serializer_author
        tags = [tag.name for tag in article.tags.all()]  # callsite: serializer_tags
        rows.append({"title": article.title, "author": author, "tags": tags})
    return rows


def serializer_naive(request):
    return _ok(serialize_articles(Article.objects.all()))


async def async_serializer_naive(request):
    return _ok(await sync_to_async(serialize_articles)(Article.objects.all()))


async def async_serializer_clean(request):
    articles = Article.objects.select_related("author").prefetch_related("tags")
    return _ok(await sync_to_async(serialize_articles)(articles))


# -- a template walks the relations (shop/templates/shop/articles.html) -------------------------


def template_naive(request):
    articles = Article.objects.all()
    return render(request, "shop/articles.html", {"articles": articles})  # queryset: template


def template_clean(request):
    articles = Article.objects.select_related("author").prefetch_related("tags")
    return render(request, "shop/articles.html", {"articles": articles})


# -- deferred fields ----------------------------------------------------------------------------


def deferred_naive(request):
    rows = []
    for book in Book.objects.only("title"):  # queryset: deferred
        rows.append(book.published.year)  # callsite: deferred
    return _ok(rows)


def deferred_clean(request):
    rows = []
    for book in Book.objects.only("title", "published"):
        rows.append(book.published.year)
    return _ok(rows)


# -- Django 6.1's fetch modes -------------------------------------------------------------------
# fk_peers is fk_naive with the finding's second fix pasted: fetch_mode(models.FETCH_PEERS).

FETCH_MODES = hasattr(models, "FETCH_PEERS")


def fk_peers(request):
    rows = []
    for article in Article.objects.fetch_mode(models.FETCH_PEERS):
        rows.append(article.author.name)
    return _ok(rows)


def chain_peers(request):
    """The fetch mode is carried to the authors: their profiles come in one load too."""
    rows = []
    for book in Book.objects.fetch_mode(models.FETCH_PEERS):
        rows.append(book.author.profile.bio)
    return _ok(rows)


def deferred_peers(request):
    rows = []
    for book in Book.objects.only("title").fetch_mode(models.FETCH_PEERS):
        rows.append(book.published.year)
    return _ok(rows)


def fk_raise(request):
    """FETCH_RAISE: the app's own FieldFetchBlocked, unchanged by djtop (any other exception,
    or another message, is a 500)."""
    try:
        for article in Article.objects.fetch_mode(models.FETCH_RAISE):
            _ = article.author.name
    except Exception as exc:
        if type(exc).__name__ != "FieldFetchBlocked" or str(exc) != (
            "Fetching of Article.author blocked."
        ):
            raise
        return _ok([str(exc)])
    raise AssertionError("FETCH_RAISE did not raise")


VIEWS = [
    fk_naive,
    fk_clean,
    fk_three_rows,
    fk_two_rows,
    detail,
    chain_naive,
    chain_clean,
    reverse_fk_naive,
    reverse_fk_clean,
    m2m_naive,
    m2m_clean,
    prefetched_fk_naive,
    prefetched_fk_clean,
    async_prefetched_fk_naive,
    async_prefetched_fk_clean,
    m2m_then_fk_naive,
    m2m_then_fk_clean,
    filter_prefetched_naive,
    filter_unprefetched_naive,
    filter_clean,
    count_naive,
    count_clean,
    async_count_naive,
    async_count_clean,
    exists_naive,
    exists_clean,
    get_by_pk_naive,
    get_by_pk_clean,
    async_get_by_pk_naive,
    async_get_by_pk_clean,
    create_naive,
    create_clean,
    duplicate_naive,
    duplicate_clean,
    serializer_naive,
    async_serializer_naive,
    async_serializer_clean,
    deferred_naive,
    deferred_clean,
    template_naive,
    template_clean,
]
if FETCH_MODES:
    VIEWS += [fk_peers, chain_peers, deferred_peers, fk_raise]
