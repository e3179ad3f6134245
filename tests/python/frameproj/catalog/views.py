"""A generic ListView whose template walks the relations: BookList is naive, CleanBookList is
it with the merged fix djtop gives pasted into ``queryset`` (its template reads the count)."""

from django.db.models import Count
from django.views.generic import ListView

from .models import Book


class BookList(ListView):  # owner: book_list
    model = Book  # queryset: book_list
    template_name = "catalog/book_list.html"


class CleanBookList(ListView):
    queryset = Book.objects.select_related("author").prefetch_related("tags").annotate(
        Count("reviews")
    )
    template_name = "catalog/clean_book_list.html"
