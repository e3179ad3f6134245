"""The admin changelists: BookAdmin is naive, CleanBookAdmin is BookAdmin with the merged fix
djtop gives for its page pasted (test_frameworks.py checks that both say so).

Markers: ``# callsite: NAME`` / ``# owner: NAME`` name lines test_frameworks.py expects."""

from django.contrib import admin
from django.db.models import Count

from .models import Book, CleanBook


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):  # owner: book_admin
    list_display = ["title", "publisher", "tag_names", "review_count"]

    @admin.display(description="publisher")
    def publisher(self, obj):
        return obj.author.publisher.name  # callsite: admin_publisher

    @admin.display(description="tags")
    def tag_names(self, obj):
        return ", ".join(tag.name for tag in obj.tags.all())  # callsite: admin_tags

    @admin.display(description="reviews")
    def review_count(self, obj):
        return obj.reviews.count()  # callsite: admin_reviews


@admin.register(CleanBook)
class CleanBookAdmin(admin.ModelAdmin):
    list_display = ["title", "publisher", "tag_names", "review_count"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("author__publisher")
            .prefetch_related("tags")
            .annotate(Count("reviews"))
        )

    @admin.display(description="publisher")
    def publisher(self, obj):
        return obj.author.publisher.name

    @admin.display(description="tags")
    def tag_names(self, obj):
        return ", ".join(tag.name for tag in obj.tags.all())

    @admin.display(description="reviews")
    def review_count(self, obj):
        return obj.reviews__count
