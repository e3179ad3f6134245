"""Views for the shim tests. ``# @q:NAME`` marks the line a query's stack must point at."""

from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

from .helpers import count_books
from .models import Author, Book, Tag


def books(request):
    names = []
    for book in Book.objects.all():  # @q:books_list
        names.append(book.author.name)  # @q:books_author
    return JsonResponse({"names": names})


def other_db(request):
    return JsonResponse({"n": Author.objects.using("other").count()})  # @q:other_count


def write(request):
    with transaction.atomic():
        Tag.objects.create(name="written")
        if request.GET.get("fail"):
            Tag.objects.create(name=None)  # IntegrityError: rolled back
    return HttpResponse("ok")


def boom(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM nope")  # @q:boom
    return HttpResponse("unreachable")


def stream(request):
    def chunks():
        yield "start\n"
        for author in Author.objects.order_by("id"):  # @q:stream_authors
            yield f"{author.name}: {author.books.count()}\n"  # @q:stream_count

    return StreamingHttpResponse(chunks())


async def async_get(request):
    author = await Author.objects.aget(name="Ann")  # @q:async_get
    return JsonResponse({"name": author.name})


async def async_iter(request):
    titles = []
    async for book in Book.objects.order_by("id"):  # @q:async_for
        titles.append(book.title)
    books = await sync_to_async(list)(Book.objects.all())  # @q:async_list
    n = await sync_to_async(count_books)()  # @q:async_helper
    return JsonResponse({"titles": titles, "n": n, "m": len(books)})


async def async_stream(request):
    async def chunks():
        yield "start\n"
        async for author in Author.objects.order_by("id"):  # @q:astream_authors
            yield author.name + "\n"

    return StreamingHttpResponse(chunks())
