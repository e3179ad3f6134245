"""The demo's URLs, in one list: ``blog.urls`` routes it, the index (``/``) lists it.

Each entry is ``(path, view)``; the URL name is the view's function name (stable), the expected
query count and descriptions come from the view's docstring (see ``blog.views.describe``).
"""

import asyncio

from django.urls import reverse

from . import views

# (path, view) in the order traffic.py and the index show them.
ROUTES = [
    ("articles/authors/naive/", views.articles_authors_naive),
    ("articles/authors/fixed/", views.articles_authors_fixed),
    ("books/author-profile/naive/", views.books_author_profile_naive),
    ("books/author-profile/fixed/", views.books_author_profile_fixed),
    ("authors/books/naive/", views.authors_books_naive),
    ("authors/books/fixed/", views.authors_books_fixed),
    ("async/authors/books/naive/", views.async_authors_books_naive),
    ("async/authors/books/fixed/", views.async_authors_books_fixed),
    ("articles/tags/naive/", views.articles_tags_naive),
    ("articles/tags/fixed/", views.articles_tags_fixed),
    ("async/articles/tags/naive/", views.async_articles_tags_naive),
    ("async/articles/tags/fixed/", views.async_articles_tags_fixed),
    ("tags/creators/unprefetched/", views.tag_creators_unprefetched),
    ("tags/creators/naive/", views.tag_creators_naive),
    ("tags/creators/fixed/", views.tag_creators_fixed),
    ("async/tags/creators/naive/", views.async_tag_creators_naive),
    ("async/tags/creators/fixed/", views.async_tag_creators_fixed),
    ("authors/book-count/naive/", views.authors_book_count_naive),
    ("authors/book-count/fixed/", views.authors_book_count_fixed),
    ("async/authors/book-count/naive/", views.async_authors_book_count_naive),
    ("async/authors/book-count/fixed/", views.async_authors_book_count_fixed),
    ("authors/recent-books/naive/", views.authors_recent_books_naive),
    ("authors/recent-books/fixed/", views.authors_recent_books_fixed),
    ("authors/recent-publishers/naive/", views.authors_recent_publishers_naive),
    ("authors/recent-publishers/fixed/", views.authors_recent_publishers_fixed),
    ("authors/house-publisher/naive/", views.authors_house_publisher_naive),
    ("authors/house-publisher/fixed/", views.authors_house_publisher_fixed),
    ("books/by-pk/naive/", views.books_by_pk_naive),
    ("books/by-pk/fixed/", views.books_by_pk_fixed),
    ("async/books/by-pk/naive/", views.async_books_by_pk_naive),
    ("async/books/by-pk/fixed/", views.async_books_by_pk_fixed),
    ("visits/naive/", views.visits_naive),
    ("visits/fixed/", views.visits_fixed),
    ("async/visits/naive/", views.async_visits_naive),
    ("async/visits/fixed/", views.async_visits_fixed),
    ("template/articles/naive/", views.template_articles_naive),
    ("template/articles/fixed/", views.template_articles_fixed),
    ("stream/authors/naive/", views.stream_authors_naive),
    ("stream/authors/fixed/", views.stream_authors_fixed),
    ("async/stream/authors/naive/", views.async_stream_authors_naive),
    ("async/stream/authors/fixed/", views.async_stream_authors_fixed),
    ("serializer/naive/", views.serializer_naive),
    ("serializer/fixed/", views.serializer_fixed),
    ("async/serializer/naive/", views.async_serializer_naive),
    ("async/serializer/fixed/", views.async_serializer_fixed),
]

_VARIANTS = ("naive", "fixed", "unprefetched")


def pair_of(name):
    """``"async_authors_books_naive"`` -> ``("async_authors_books", "naive")``."""
    for variant in _VARIANTS:
        if name.endswith("_" + variant):
            return name[: -len(variant) - 1], variant
    return name, None


def entries(request=None):
    """One dict per demo URL (JSON-safe), for the index and the tests."""
    out = []
    for _path, view in ROUTES:
        name = view.__name__
        pair, variant = pair_of(name)
        out.append(
            {
                "name": name,
                "path": reverse(name),
                "async": asyncio.iscoroutinefunction(view),
                "pair": pair,
                "variant": variant,
                **views.describe(view),
            }
        )
    return out
