from benchapp import views
from django.conf import settings
from django.urls import path

urlpatterns = [
    path("pk/", views.pk_sync),
    path("fk/", views.fk_sync),
    path("apk/", views.pk_async),
    path("afk/", views.fk_async),
]

if settings.VARIANT == "toolbar":
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
