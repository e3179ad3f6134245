"""Views for the relation / ORM attribution tests (test_relations.py).

``# @q:NAME`` marks the line a query's stack or an origin's site must point at. The data
comes from test_relations.py's fixture (``seed()`` below).
"""

import datetime

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db.models import Prefetch
from django.http import JsonResponse

from .models import Article, Author, Book, Comment, Profile, Publisher, Tag


def _ok(rows):
    return JsonResponse({"rows": rows})


def seed():
    """Profiles, publishers, users, tags, articles and comments for the existing authors and
    books (conftest: Ann, Bob, Cid with two books each); undone by unseed()."""
    users = [User.objects.create(username=f"rel-user-{n}") for n in range(3)]
    publishers = [Publisher.objects.create(name=f"rel-pub-{n}", owner=users[n]) for n in range(2)]
    authors = list(Author.objects.order_by("id"))
    for author in authors:
        Profile.objects.create(author=author, bio=f"bio of {author.name}")
    for n, book in enumerate(Book.objects.order_by("id")):
        book.publisher = publishers[n % 2]
        book.published = datetime.date(2023 + n % 2, 5, 1)
        book.save()
    tags = [Tag.objects.create(name=f"rel-tag-{n}", created_by=users[n % 3]) for n in range(4)]
    for n, author in enumerate(authors):
        article = Article.objects.create(title=f"rel-article-{n}", author=author)
        article.tags.set([tags[n], tags[n + 1]])
        Comment.objects.create(target=article, text=f"comment {n}")


def unseed():
    Comment.objects.all().delete()
    Article.objects.all().delete()
    Tag.objects.filter(name__startswith="rel-").delete()
    Book.objects.update(publisher=None, published=None)
    Publisher.objects.all().delete()
    Profile.objects.all().delete()
    User.objects.filter(username__startswith="rel-").delete()


def fk(request):
    rows = []
    for book in Book.objects.order_by("id"):  # @q:fk_loop
        rows.append(book.author.name)  # @q:fk_access
    return _ok(rows)


def chain(request):
    rows = []
    for book in Book.objects.order_by("id"):  # @q:chain_loop
        rows.append(book.author.profile.bio)  # @q:chain_access
    return _ok(rows)


def reverse_fk(request):
    rows = []
    for author in Author.objects.order_by("id"):  # @q:reverse_fk_loop
        rows.append([book.title for book in author.books.all()])  # @q:reverse_fk_access
    return _ok(rows)


def m2m(request):
    rows = []
    for article in Article.objects.order_by("id"):  # @q:m2m_loop
        rows.append([tag.name for tag in article.tags.all()])  # @q:m2m_access
    return _ok(rows)


def prefetched_fk(request):
    rows = []
    for article in Article.objects.prefetch_related("tags").order_by("id"):  # @q:pf_loop
        for tag in article.tags.all():
            rows.append(tag.created_by.username)  # @q:pf_access
    return _ok(rows)


def m2m_then_fk(request):
    rows = []
    for article in Article.objects.order_by("id"):  # @q:m2m_fk_loop
        rows.append([tag.created_by.username for tag in article.tags.all()])  # @q:m2m_fk_access
    return _ok(rows)


def count(request):
    rows = []
    for author in Author.objects.order_by("id"):  # @q:count_loop
        rows.append(author.books.count())  # @q:count_access
    return _ok(rows)


def exists(request):
    rows = []
    for author in Author.objects.order_by("id"):  # @q:exists_loop
        rows.append(author.books.exists())  # @q:exists_access
    return _ok(rows)


def m2m_count(request):
    rows = []
    for article in Article.objects.order_by("id"):  # @q:m2m_count_loop
        rows.append(article.tags.count())  # @q:m2m_count_access
    return _ok(rows)


def filter_prefetched(request):
    rows = []
    for author in Author.objects.prefetch_related("books").order_by("id"):  # @q:filter_loop
        recent = list(author.books.filter(published__year=2024))  # @q:filter_access
        rows.append([book.title for book in recent])
        rows.append(len(author.books.all()))  # the prefetch cache: no query
    return _ok(rows)


def get_by_pk(request):
    ids = list(Book.objects.order_by("id").values_list("id", flat=True))  # @q:get_ids
    rows = [Book.objects.get(pk=i).title for i in ids]  # @q:get_loop
    return _ok(rows)


def create(request):
    made = [Publisher.objects.create(name=f"tmp-{n}") for n in range(3)]  # @q:create_loop
    Publisher.objects.filter(name__startswith="tmp-").delete()  # @q:create_cleanup
    return _ok(len(made))


def select_related(request):
    rows = []
    for book in Book.objects.select_related("publisher").order_by("id"):  # @q:sr_loop
        rows.append(book.publisher.owner.username)  # @q:sr_access
    return _ok(rows)


def single(request):
    book = Book.objects.get(title="Ann 0")  # @q:single_get
    return _ok([book.author.name])  # @q:single_access


def prefetch_to_attr(request):
    recent = Prefetch("books", queryset=Book.objects.order_by("id"), to_attr="listed")
    rows = []
    for author in Author.objects.prefetch_related(recent).order_by("id"):  # @q:to_attr_loop
        rows.append([book.publisher.name for book in author.listed])  # @q:to_attr_access
    return _ok(rows)


def deferred(request):
    rows = []
    for book in Book.objects.only("id").order_by("id"):  # @q:deferred_loop
        rows.append(book.title)  # @q:deferred_access
    return _ok(rows)


def generic(request):
    rows = []
    for comment in Comment.objects.order_by("id"):  # @q:gfk_loop
        rows.append(comment.target.title)  # @q:gfk_access
    for article in Article.objects.order_by("id"):  # @q:grel_loop
        rows.append(len(article.comments.all()))  # @q:grel_access
    return _ok(rows)


def iterator(request):
    rows = []
    for book in Book.objects.order_by("id").iterator(chunk_size=2):  # @q:iterator_loop
        rows.append(book.author.name)  # @q:iterator_access
    return _ok(rows)


def _author_name(book):
    return book.author.name  # @q:helper_lazy


async def async_fk(request):
    rows = []
    async for book in Book.objects.order_by("id"):  # @q:async_loop
        rows.append(await sync_to_async(_author_name)(book))  # @q:async_lazy
    return _ok(rows)


async def async_get(request):
    ids = [i async for i in Book.objects.order_by("id").values_list("id", flat=True)]
    rows = []
    for i in ids:
        book = await Book.objects.aget(pk=i)  # @q:aget_loop
        rows.append(book.title)
    return _ok(rows)


async def async_count(request):
    rows = []
    async for author in Author.objects.order_by("id"):  # @q:acount_loop
        rows.append(await author.books.acount())  # @q:acount_access
    return _ok(rows)


async def async_iterator(request):
    rows = []
    async for book in Book.objects.order_by("id").aiterator():  # @q:aiterator_loop
        rows.append(await sync_to_async(_author_name)(book))
    return _ok(rows)


def workload():
    """Every shape above outside a request, returning what it read (the with/without test)."""
    out = []
    for view in (
        fk,
        chain,
        reverse_fk,
        m2m,
        prefetched_fk,
        m2m_then_fk,
        count,
        exists,
        m2m_count,
        filter_prefetched,
        get_by_pk,
        select_related,
        single,
        prefetch_to_attr,
        deferred,
        generic,
        iterator,
    ):
        out.append([view.__name__, view(None).content.decode()])
    out.append(["values", list(Book.objects.order_by("id").values("title", "author__name"))])
    out.append(["sr2", [b.author.profile.bio for b in Book.objects.select_related("author")]])
    out.append(["nested", _nested()])
    return out


def _nested():
    tags = Prefetch("tags", queryset=Tag.objects.select_related("created_by").order_by("id"))
    rows = []
    for author in Author.objects.prefetch_related(Prefetch("articles__tags", tags.queryset)):
        for article in author.articles.all():
            rows.append([tag.created_by.username for tag in article.tags.all()])
    return rows


VIEWS = [
    fk,
    chain,
    reverse_fk,
    m2m,
    prefetched_fk,
    m2m_then_fk,
    count,
    exists,
    m2m_count,
    filter_prefetched,
    get_by_pk,
    create,
    select_related,
    single,
    prefetch_to_attr,
    deferred,
    generic,
    iterator,
    async_fk,
    async_get,
    async_count,
    async_iterator,
]
