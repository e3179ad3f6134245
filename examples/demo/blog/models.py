"""Demo models: every relation kind djtop's N+1 findings care about.

- forward ForeignKey: ``Book.author``, ``Book.publisher``, ``Article.author``, ``Tag.created_by``
- reverse ForeignKey: ``Author.books``, ``Author.articles``, ``Publisher.books``
- OneToOne: ``Author.profile`` (``Profile.author``)
- ManyToMany: ``Article.tags`` / ``Tag.articles``
- ``Visit``: the only table views write to (the INSERT-in-a-loop demo); the admin, API and
  ListView pages count each article's visits (one ``COUNT`` per row when naive, annotated when
  fixed), so their query counts stay put as it grows.
- ``FixedArticle``: a proxy of ``Article`` for the fixed admin changelist (a model is registered
  with one ModelAdmin).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Author(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class Profile(models.Model):
    author = models.OneToOneField(Author, on_delete=models.CASCADE, related_name="profile")
    bio = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"Profile of {self.author_id}"


class Publisher(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="books")
    published = models.DateField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.title


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="created_tags"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class Article(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField()
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="articles")
    tags = models.ManyToManyField(Tag, related_name="articles")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.title


class FixedArticle(Article):
    """The same articles, listed by the fixed admin (``blog/admin.py``)."""

    class Meta:
        proxy = True
        verbose_name = "article (fixed)"
        verbose_name_plural = "articles (fixed)"


class Visit(models.Model):
    """Written by the INSERT-in-a-loop views; grows with traffic, read by no view."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="visits")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
