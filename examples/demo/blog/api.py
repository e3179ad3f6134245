"""The Django REST framework API (``/api/``): a naive viewset and its fixed twin.

Imported only when ``rest_framework`` is installed (``blog/urls.py``): DRF is a dependency of
the demo, never of djtop. Both viewsets list the same 30 articles with the same JSON; the naive
one's nested serializers fire one query per row each, the fixed one is it with the merged fix
djtop gives for its page pasted into ``queryset`` (and the count read from the annotation),
plus an ``order_by``: the annotated COUNT makes it a GROUP BY query, which ``Meta.ordering``
does not apply to.
"""

from django.db.models import Count
from rest_framework import serializers, viewsets

from .models import Article, Author, Profile, Tag


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = Profile
        fields = ["bio"]


class AuthorSerializer(serializers.ModelSerializer):
    profile = ProfileSerializer()  # OneToOne, read on the author of each article

    class Meta:
        model = Author
        fields = ["name", "profile"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["name"]


class ArticleSerializer(serializers.ModelSerializer):
    author = AuthorSerializer()  # forward FK, then its profile
    tags = TagSerializer(many=True)  # M2M
    visit_count = serializers.SerializerMethodField()

    class Meta:
        model = Article
        fields = ["id", "title", "author", "tags", "visit_count"]

    def get_visit_count(self, obj):
        return obj.visits.count()


class FixedArticleSerializer(ArticleSerializer):
    def get_visit_count(self, obj):
        return obj.visits__count


class ArticleViewSet(viewsets.ReadOnlyModelViewSet):
    """Articles as JSON through nested serializers, each relation loaded per article.

    Shows: N+1s fired by DRF's serializer loop: the nested ``AuthorSerializer`` (FK, then its
    ``profile``: 2 per article), ``TagSerializer(many=True)`` (M2M) and a
    ``SerializerMethodField`` doing ``obj.visits.count()``.
    Fix: ``queryset = Article.objects.select_related("author__profile")
    .prefetch_related("tags").annotate(Count("visits"))``, and ``obj.visits__count`` in
    ``get_visit_count`` (see ``FixedArticleViewSet``).
    Queries: 121 (1 for the articles + 30 authors + 30 profiles + 30 tag lists
    + 30 visit counts).
    """

    queryset = Article.objects.all()
    serializer_class = ArticleSerializer


class FixedArticleViewSet(viewsets.ReadOnlyModelViewSet):
    """Articles as JSON, the serializers' relations loaded by the viewset's queryset.

    Shows: the fix for ``ArticleViewSet``: djtop's merged fix for its page, pasted.
    Fix: ``queryset = Article.objects.select_related("author__profile")
    .prefetch_related("tags").annotate(Count("visits"))``, and ``.order_by("id")``: a query
    with a GROUP BY (the annotated COUNT) leaves out ``Meta.ordering``.
    Queries: 2 (articles JOIN authors JOIN profiles with their visit counts + all their tags).
    """

    queryset = (
        Article.objects.select_related("author__profile")
        .prefetch_related("tags")
        .annotate(Count("visits"))
        .order_by("id")  # Meta.ordering does not apply to a GROUP BY query
    )
    serializer_class = FixedArticleSerializer
