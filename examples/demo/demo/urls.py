"""URLs of the demo project: everything lives in ``blog.urls`` (see ``blog/catalog.py``)."""

from django.urls import include, path

urlpatterns = [path("", include("blog.urls"))]
