"""Async views: queries run in sync_to_async worker threads, yet their stacks must point at
the view's line (found by walking the request's asyncio task)."""

import asyncio
import os

from django.test import AsyncClient
from djtop_testutil import HERE, asgi_get, bundle, marker_line, read_events

VIEWS = "shimproj/views.py"


def client_get(path):
    async def go():
        return await AsyncClient().get(path)

    return asyncio.run(go())


def test_async_view_query_points_at_the_await_line():
    response = client_get("/async/get/?t=aget")
    assert response.status_code == 200
    _, queries, end, mine = bundle(read_events(), "/async/get/?t=aget")
    assert len(queries) == 1
    assert queries[0]["stack"][0] == [VIEWS, marker_line("async_get"), "async_get"]
    assert mine[-1] is end
    assert end["async"] is True
    assert end["route"] == "async/get/" and end["view"] == "shimproj.views.async_get"


def test_async_for_sync_to_async_and_helpers():
    response = client_get("/async/iter/?t=aiter")
    assert response.status_code == 200
    _, queries, end, _ = bundle(read_events(), "/async/iter/?t=aiter")
    assert len(queries) == 3
    assert queries[0]["stack"][0] == [VIEWS, marker_line("async_for"), "async_iter"]
    assert queries[1]["stack"][0] == [VIEWS, marker_line("async_list"), "async_iter"]
    # sync code run through sync_to_async: its own frames first, then the view's await
    helpers = "shimproj/helpers.py"
    assert queries[2]["stack"][:2] == [
        [helpers, marker_line("helper_count", os.path.join(HERE, helpers)), "count_books"],
        [VIEWS, marker_line("async_helper"), "async_iter"],
    ]
    assert end["status"] == 200 and end["async"] is True


def test_real_asgi_handler():
    status, body = asgi_get("/async/iter/?t=asgi")
    assert status == 200 and b"titles" in body
    _, queries, end, mine = bundle(read_events(), "/async/iter/?t=asgi")
    assert [q["stack"][0][1] for q in queries] == [
        marker_line("async_for"),
        marker_line("async_list"),
        marker_line("helper_count", os.path.join(HERE, "shimproj/helpers.py")),
    ]
    assert mine[-1] is end and end["status"] == 200


def test_sync_view_under_asgi():
    status, _ = asgi_get("/books/?t=asgi-sync")
    assert status == 200
    _, queries, end, _ = bundle(read_events(), "/books/?t=asgi-sync")
    assert len(queries) == 7
    assert queries[0]["stack"][0] == [VIEWS, marker_line("books_list"), "books"]
    assert end["async"] is False and end["status"] == 200


def test_async_streaming_through_asgi():
    status, body = asgi_get("/async/stream/?t=astream")
    assert status == 200 and body == b"start\nAnn\nBob\nCid\n"
    _, queries, end, mine = bundle(read_events(), "/async/stream/?t=astream")
    assert len(queries) == 1
    assert queries[0]["stack"][0] == [VIEWS, marker_line("astream_authors"), "chunks"]
    assert mine[-1] is end and end["status"] == 200


def test_async_streaming_through_async_client():
    async def go():
        response = await AsyncClient().get("/async/stream/?t=astream-client")
        _, queries, end, _ = bundle(read_events(), "/async/stream/?t=astream-client")
        assert queries == [] and end is None
        return b"".join([chunk async for chunk in response.streaming_content])

    assert asyncio.run(go()) == b"start\nAnn\nBob\nCid\n"
    _, queries, end, mine = bundle(read_events(), "/async/stream/?t=astream-client")
    assert queries[0]["stack"][0] == [VIEWS, marker_line("astream_authors"), "chunks"]
    assert mine[-1] is end


def test_async_stack_when_the_worker_starts_before_the_task_awaits(monkeypatch):
    """A fresh executor thread can run the query while the view's task is still inside
    run_in_executor (starting that thread), before it reaches its await."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync

    for n in range(20):
        executor = ThreadPoolExecutor(max_workers=1)
        monkeypatch.setattr(SyncToAsync, "single_thread_executor", executor)
        assert client_get(f"/async/get/?t=fresh-{n}").status_code == 200
        executor.shutdown()
    events = read_events()
    for n in range(20):
        _, queries, _, _ = bundle(events, f"/async/get/?t=fresh-{n}")
        assert queries[0]["stack"][0] == [VIEWS, marker_line("async_get"), "async_get"]
