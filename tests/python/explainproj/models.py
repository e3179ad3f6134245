from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100, db_index=True)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    price = models.DecimalField(max_digits=8, decimal_places=2)
    published = models.DateField()
    stock = models.IntegerField(default=0)
