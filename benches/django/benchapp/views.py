"""The measured views: each runs BENCH_QUERIES (default 2000) simple queries, the shape of an
N+1. ``pk``: one ``filter(pk=i).first()`` per id; ``fk``: a lazy ``book.author`` per book
(1 + N queries). The async views do the same through the async ORM / sync_to_async."""

import os

from asgiref.sync import sync_to_async
from django.http import HttpResponse

from .models import Author, Book

N = int(os.environ.get("BENCH_QUERIES", "2000"))


def always(request):
    """debug-toolbar's SHOW_TOOLBAR_CALLBACK: instrument every request."""
    return True


def page(count):
    # HTML with a </body>, so debug-toolbar inserts itself as it would in a browser.
    return HttpResponse(f"<html><body><p>{count}</p></body></html>")


def load_author(i):
    return Author.objects.filter(pk=i).first()


def pk_loop():
    count = 0
    for i in range(1, N + 1):
        if load_author(i) is not None:
            count += 1
    return count


def fk_loop():
    names = []
    for book in Book.objects.all()[:N]:
        names.append(book.author.name)  # a lazy load per book: the N+1
    return len(names)


def pk_sync(request):
    return page(pk_loop())


def fk_sync(request):
    return page(fk_loop())


async def pk_async(request):
    count = 0
    for i in range(1, N + 1):
        if await Author.objects.filter(pk=i).afirst() is not None:
            count += 1
    return page(count)


async def fk_async(request):
    return page(await sync_to_async(fk_loop)())
