from catalog import api, views
from django.contrib import admin
from django.urls import include, path
from rest_framework import routers

router = routers.DefaultRouter()
router.register("books", api.BookViewSet, basename="book")
router.register("clean-books", api.CleanBookViewSet, basename="clean-book")
router.register("book-tag-ids", api.BookTagIdsViewSet, basename="book-tag-ids")
router.register("clean-book-tag-ids", api.CleanBookTagIdsViewSet, basename="clean-book-tag-ids")

urlpatterns = [
    path("", views.index),
    path("admin/", admin.site.urls),
    path("api/", include(router.urls)),
    path("books/", views.BookList.as_view()),
    path("library/", views.library),
    path("clean-books/", views.CleanBookList.as_view()),
]
