"""The shop: one model per relation kind the findings name.

- forward ForeignKey: ``Book.author``, ``Book.publisher``, ``Article.author``, ``Tag.created_by``
- forward OneToOne: ``Profile.author`` (read backwards as ``author.profile``)
- reverse ForeignKey: ``Author.books``
- ManyToMany: ``Article.tags`` / ``Tag.articles``
- ``Visit``: written by the INSERT-in-a-loop views, read by none.
"""

from django.conf import settings
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]


class Profile(models.Model):
    author = models.OneToOneField(Author, on_delete=models.CASCADE, related_name="profile")
    bio = models.TextField()


class Publisher(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="books")
    published = models.DateField()

    class Meta:
        ordering = ["id"]


class Tag(models.Model):
    name = models.CharField(max_length=50)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

    class Meta:
        ordering = ["id"]


class Article(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="articles")
    tags = models.ManyToManyField(Tag, related_name="articles")

    class Meta:
        ordering = ["id"]


class Visit(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE)
    created_at = models.DateTimeField()
