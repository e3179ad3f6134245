"""URLs of the demo project: the admin, and everything else in ``blog.urls`` (see
``blog/catalog.py``)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("blog.urls")),
]
