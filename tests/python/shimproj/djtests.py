"""A Django TestCase run by `manage.py test` in test_enable.py (not collected by pytest)."""

from django.test import TestCase

from .models import Author


class RecordedTests(TestCase):
    databases = {"default"}

    def test_request_and_direct_query(self):
        Author.objects.create(name="Dee")
        self.assertEqual(self.client.get("/books/?t=django-test").status_code, 200)
        self.assertEqual(Author.objects.filter(name="Dee").count(), 1)  # @q:djtest_count
