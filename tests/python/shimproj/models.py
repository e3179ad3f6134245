import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        app_label = "shimproj"


class Profile(models.Model):
    author = models.OneToOneField(Author, related_name="profile", on_delete=models.CASCADE)
    bio = models.TextField(default="")

    class Meta:
        app_label = "shimproj"


class Publisher(models.Model):
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        app_label = "shimproj"


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, related_name="books", on_delete=models.CASCADE)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    uid = models.UUIDField(default=uuid.uuid4)
    publisher = models.ForeignKey(
        Publisher, null=True, blank=True, related_name="books", on_delete=models.SET_NULL
    )
    published = models.DateField(null=True, blank=True)

    class Meta:
        app_label = "shimproj"


class Tag(models.Model):
    name = models.CharField(max_length=50)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        app_label = "shimproj"


class Comment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    text = models.CharField(max_length=100, default="")

    class Meta:
        app_label = "shimproj"


class Article(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, related_name="articles", on_delete=models.CASCADE)
    tags = models.ManyToManyField(Tag, related_name="articles")
    comments = GenericRelation(Comment)

    class Meta:
        app_label = "shimproj"
