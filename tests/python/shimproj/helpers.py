from .models import Book


def count_books():
    return Book.objects.count()  # @q:helper_count
