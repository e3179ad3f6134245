from django.urls import path

from . import views

urlpatterns = [
    path("books/", views.books),
    path("other/", views.other_db),
    path("boom/", views.boom),
    path("write/", views.write),
    path("stream/", views.stream),
    path("async/get/", views.async_get),
    path("async/iter/", views.async_iter),
    path("async/stream/", views.async_stream),
]

from . import relviews  # noqa: E402

urlpatterns += [path(f"rel/{view.__name__}/", view) for view in relviews.VIEWS]
