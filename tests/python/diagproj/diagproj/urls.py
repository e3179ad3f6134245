"""One URL per view of ``shop.views.VIEWS``, at ``/<view name>/``; ``/`` lists them."""

from django.urls import path
from shop import views

urlpatterns = [path("", views.index, name="index")] + [
    path(f"{view.__name__}/", view, name=view.__name__) for view in views.VIEWS
]
