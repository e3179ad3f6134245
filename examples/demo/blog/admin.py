"""The admin: the article changelist as a naive ModelAdmin and its fixed twin.

Log in at ``/admin/`` as ``admin`` / ``admin`` (created by ``manage.py seed_demo``). Both
changelists list the same 30 articles with the same columns; ``ArticleAdmin``'s column methods
fire one query per row each, ``FixedArticleAdmin`` is it with the merged fix djtop gives for
its page pasted into ``get_queryset``. Counts include the 4 queries of every changelist: the
session, the logged-in user, and two COUNTs (the paginator's and the unfiltered total).
"""

from django.contrib import admin
from django.db.models import Count

from .models import Article, FixedArticle


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    """Articles in the admin: columns that walk relations, one query per row each.

    Shows: N+1s fired by the admin's own loop over the changelist rows:
    ``obj.author.profile.bio`` (FK then OneToOne, 2 per row), ``obj.tags.all()`` (M2M) and
    ``obj.visits.count()`` (a COUNT per row), from ``list_display`` methods.
    Fix: ``get_queryset`` returning ``super().get_queryset(request)
    .select_related("author__profile").prefetch_related("tags").annotate(Count("visits"))``,
    and ``obj.visits__count`` instead of ``.count()`` (see ``FixedArticleAdmin``).
    Queries: 125 (session + user + 2 COUNTs + the articles + 30 authors + 30 profiles
    + 30 tag lists + 30 visit counts).
    """

    list_display = ["title", "author_bio", "tag_names", "visit_count"]

    @admin.display(description="author")
    def author_bio(self, obj):
        return f"{obj.author.name}: {obj.author.profile.bio}"

    @admin.display(description="tags")
    def tag_names(self, obj):
        return ", ".join(tag.name for tag in obj.tags.all())

    @admin.display(description="visits")
    def visit_count(self, obj):
        return obj.visits.count()


@admin.register(FixedArticle)
class FixedArticleAdmin(admin.ModelAdmin):
    """Articles in the admin, the columns' relations loaded by ``get_queryset``.

    Shows: the fix for ``ArticleAdmin``: djtop's merged fix for its page, pasted.
    Fix: ``get_queryset``: ``.select_related("author__profile").prefetch_related("tags")
    .annotate(Count("visits"))``; ``visit_count`` reads ``obj.visits__count``.
    Queries: 6 (session + user + 2 COUNTs + the articles JOIN authors JOIN profiles with
    their visit counts + all their tags).
    """

    list_display = ["title", "author_bio", "tag_names", "visit_count"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("author__profile")
            .prefetch_related("tags")
            .annotate(Count("visits"))
        )

    @admin.display(description="author")
    def author_bio(self, obj):
        return f"{obj.author.name}: {obj.author.profile.bio}"

    @admin.display(description="tags")
    def tag_names(self, obj):
        return ", ".join(tag.name for tag in obj.tags.all())

    @admin.display(description="visits")
    def visit_count(self, obj):
        return obj.visits__count
