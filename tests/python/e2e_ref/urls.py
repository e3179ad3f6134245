"""The demo's routes, each view wrapped to write Django's own captured queries to a file."""

import asyncio
import functools
import json
import os

from asgiref.sync import sync_to_async
from blog import views
from blog.catalog import ROUTES
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import path

REF_DIR = os.environ.get("DJTOP_E2E_REF_DIR", "")


def _open():
    contexts = [CaptureQueriesContext(connections[alias]) for alias in connections]
    for c in contexts:
        c.__enter__()
    return contexts


def _close(request, contexts):
    sql = []
    for c in contexts:
        c.__exit__(None, None, None)
        sql.extend(q["sql"] for q in c.captured_queries)
    ref = request.GET.get("e2e")
    if ref and REF_DIR:
        with open(os.path.join(REF_DIR, ref + ".json"), "w") as f:
            json.dump({"path": request.get_full_path(), "sql": sql}, f)


def _sync_stream(request, contexts, content):
    try:
        yield from content
    finally:
        _close(request, contexts)


async def _async_stream(request, contexts, content):
    try:
        async for chunk in content:
            yield chunk
    finally:
        await sync_to_async(_close)(request, contexts)


def capture(view):
    if asyncio.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request, *args, **kwargs):
            # Entering touches the database: do it in the thread the ORM's calls run in.
            contexts = await sync_to_async(_open)()
            response = await view(request, *args, **kwargs)
            if response.streaming and response.is_async:
                response.streaming_content = _async_stream(
                    request, contexts, response.streaming_content
                )
            elif response.streaming:
                response.streaming_content = _sync_stream(
                    request, contexts, response.streaming_content
                )
            else:
                await sync_to_async(_close)(request, contexts)
            return response

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        contexts = _open()
        response = view(request, *args, **kwargs)
        if response.streaming and response.is_async:
            response.streaming_content = _async_stream(
                request, contexts, response.streaming_content
            )
        elif response.streaming:
            response.streaming_content = _sync_stream(request, contexts, response.streaming_content)
        else:
            _close(request, contexts)
        return response

    return wrapper


urlpatterns = [path("", views.index, name="index")] + [
    path(route, capture(view), name=view.__name__) for route, view in ROUTES
]
