import uuid

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        app_label = "shimproj"


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, related_name="books", on_delete=models.CASCADE)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    uid = models.UUIDField(default=uuid.uuid4)

    class Meta:
        app_label = "shimproj"


class Tag(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        app_label = "shimproj"
