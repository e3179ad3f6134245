"""The demo's URLs: ``blog.urls`` routes them, the index (``/``) lists them.

``ROUTES``: the function views, ``(path, view)``; the URL name is the view's function name
(stable), the expected query count and descriptions come from the view's docstring (see
``blog.views.describe``).

``PAGES``: the pages a framework's loop renders (the admin, Django REST framework, a generic
``ListView``), each naive with its fixed twin. They are not function views, and the admin ones
need a login, so they are a list of their own: the index lists them under ``pages`` and
traffic.py requests them too (logged in as ``admin`` for the admin's). Their descriptions come
from the docstring of the class that owns the loop.
"""

import asyncio

from django.apps import apps
from django.urls import Resolver404, resolve, reverse

from . import admin, views

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

# (path, name, kind, owner class, needs a login) in the order traffic.py and the index show them.
PAGES = [
    ("admin/blog/article/", "admin_articles_naive", "admin", admin.ArticleAdmin, True),
    ("admin/blog/fixedarticle/", "admin_articles_fixed", "admin", admin.FixedArticleAdmin, True),
    ("list/articles/naive/", "list_articles_naive", "view", views.ArticleList, False),
    ("list/articles/fixed/", "list_articles_fixed", "view", views.FixedArticleList, False),
]
if apps.is_installed("rest_framework"):
    from . import api

    PAGES += [
        ("api/articles/naive/", "api_articles_naive", "drf", api.ArticleViewSet, False),
        ("api/articles/fixed/", "api_articles_fixed", "drf", api.FixedArticleViewSet, False),
    ]

LOGIN = {"path": "/admin/login/", "username": "admin", "password": "admin"}

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


def pages():
    """One dict per entry of ``PAGES`` that this URLconf routes (JSON-safe), for the index."""
    out = []
    for path, name, kind, owner, login in PAGES:
        path = "/" + path
        try:
            resolve(path)
        except Resolver404:  # another URLconf (tests/python's e2e_ref routes ROUTES only)
            continue
        pair, variant = pair_of(name)
        entry = {
            "name": name,
            "path": path,
            "kind": kind,
            "owner": f"{owner.__module__}.{owner.__qualname__}",
            "pair": pair,
            "variant": variant,
            "login": login,
            **views.describe(owner),
        }
        if login:
            entry["note"] = (
                f"log in at {LOGIN['path']} as {LOGIN['username']} / {LOGIN['password']}"
            )
        out.append(entry)
    return out
