"""Django REST framework: BookViewSet is naive, CleanBookViewSet is it with the merged fix djtop
gives for its page pasted into ``queryset`` (and the count read from the annotation)."""

from django.db.models import Count
from rest_framework import serializers, viewsets

from .models import Author, Book, Publisher, Review, Tag


class PublisherSerializer(serializers.ModelSerializer):
    class Meta:
        model = Publisher
        fields = ["name"]


class AuthorSerializer(serializers.ModelSerializer):
    publisher = PublisherSerializer()  # callsite: api_publisher

    class Meta:
        model = Author
        fields = ["name", "publisher"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["name"]


class ReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = Review
        fields = ["stars"]


class BookSerializer(serializers.ModelSerializer):
    author = AuthorSerializer()  # callsite: api_author
    tags = TagSerializer(many=True)  # callsite: api_tags
    reviews = ReviewSerializer(many=True)  # callsite: api_reviews_list
    review_count = serializers.SerializerMethodField()

    class Meta:
        model = Book
        fields = ["title", "author", "tags", "reviews", "review_count"]

    def get_review_count(self, obj):
        return obj.reviews.count()  # callsite: api_reviews


class CleanBookSerializer(BookSerializer):
    def get_review_count(self, obj):
        return obj.reviews__count


class BookTagIdsSerializer(serializers.ModelSerializer):
    """``tags`` is DRF's default PrimaryKeyRelatedField(many=True): a query per book."""

    class Meta:
        model = Book
        fields = ["title", "tags"]  # callsite: api_tag_ids


class BookTagIdsViewSet(viewsets.ReadOnlyModelViewSet):  # owner: tag_ids_viewset
    queryset = Book.objects.all()  # queryset: tag_ids_viewset
    serializer_class = BookTagIdsSerializer


class CleanBookTagIdsViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Book.objects.prefetch_related("tags")
    serializer_class = BookTagIdsSerializer


class BookViewSet(viewsets.ReadOnlyModelViewSet):  # owner: book_viewset
    queryset = Book.objects.all()  # queryset: book_viewset
    serializer_class = BookSerializer


class CleanBookViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = (
        Book.objects.select_related("author__publisher")
        .prefetch_related("tags", "reviews")
        .annotate(Count("reviews"))
    )
    serializer_class = CleanBookSerializer
