from django.apps import apps
from django.urls import include, path

from . import views
from .catalog import ROUTES

urlpatterns = [path("", views.index, name="index")] + [
    path(route, view, name=view.__name__) for route, view in ROUTES
]

# catalog.PAGES (the admin's are routed by demo/urls.py)
urlpatterns += [
    path("list/articles/naive/", views.ArticleList.as_view(), name="list_articles_naive"),
    path("list/articles/fixed/", views.FixedArticleList.as_view(), name="list_articles_fixed"),
]
if apps.is_installed("rest_framework"):  # the API exists only with Django REST framework
    from rest_framework import routers

    from . import api

    router = routers.DefaultRouter()
    router.register("articles/naive", api.ArticleViewSet, basename="api_articles_naive")
    router.register("articles/fixed", api.FixedArticleViewSet, basename="api_articles_fixed")
    urlpatterns.append(path("api/", include(router.urls)))
