from django.urls import path

from . import views
from .catalog import ROUTES

urlpatterns = [path("", views.index, name="index")] + [
    path(route, view, name=view.__name__) for route, view in ROUTES
]
