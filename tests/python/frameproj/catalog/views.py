"""A generic ListView whose template walks the relations: BookList is naive, CleanBookList is
it with the merged fix djtop gives pasted into ``queryset`` (its template reads the count)."""

import libloop
from django.db.models import Count
from django.http import JsonResponse
from django.views.generic import ListView

from .models import Book

# Every page test_frameworks.py requests: (path, the clean twin's path).
PAGES = [
    ("/admin/catalog/book/", "/admin/catalog/cleanbook/"),
    ("/api/books/", "/api/clean-books/"),
    ("/api/book-tag-ids/", "/api/clean-book-tag-ids/"),
    ("/books/", "/clean-books/"),
]
# A library's own loop: no clean twin (the user cannot change it).
LIBRARY_PAGES = ["/library/"]


def index(request):
    """The pages, for people and for the readiness probe (runs no query)."""
    return JsonResponse({"pages": PAGES, "library": LIBRARY_PAGES})


def library(request):
    names = libloop.related_names(Book, "author")  # callsite: library
    return JsonResponse({"names": names})


class BookList(ListView):  # owner: book_list
    model = Book  # queryset: book_list
    template_name = "catalog/book_list.html"


class CleanBookList(ListView):
    queryset = (
        Book.objects.select_related("author").prefetch_related("tags").annotate(Count("reviews"))
    )
    template_name = "catalog/clean_book_list.html"
