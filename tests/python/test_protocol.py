"""The events the shim emits have the structure of tests/protocol/examples.ndjson."""

import asyncio
import threading

from django.db import connection, connections
from django.test import AsyncClient, Client
from djtop_testutil import check_shape, example_shapes, read_events
from shimproj.models import Author


def test_example_lines_cover_every_shim_event_type():
    assert set(example_shapes()) >= {"hello", "request", "query", "end", "drops"}


def test_emitted_events_match_the_example_lines():
    client = Client(raise_request_exception=False)
    client.get("/books/?t=shape")
    client.get("/boom/?t=shape")
    client.get("/missing/?t=shape")
    b"".join(client.get("/stream/?t=shape").streaming_content)

    async def go():
        await AsyncClient().get("/async/iter/?t=shape")

    asyncio.run(go())

    def work():
        Author.objects.count()
        connections.close_all()

    thread = threading.Thread(target=work, name="shape-thread")
    thread.start()
    thread.join()
    with connection.cursor() as cursor:
        cursor.executemany(
            'INSERT INTO "shimproj_tag" ("name") VALUES (%s) -- shape',
            ((str(i),) for i in range(3)),
        )
        cursor.execute("SELECT %s, %s -- shape", [b"x", None])

    shapes = example_shapes()
    events = read_events()
    seen = set()
    for event in events:
        check_shape(event, shapes)
        seen.add(event["type"] if event["type"] != "request" else ("request", event["kind"]))
    assert {"hello", "query", "end", ("request", "http")} <= seen
    assert {("request", "startup"), ("request", "thread")} <= seen


def test_every_http_request_has_one_end_after_its_queries():
    Client().get("/books/?t=pairs")
    events = read_events()
    requests = [e for e in events if e["type"] == "request" and e["kind"] == "http"]
    assert requests
    for request in requests:
        mine = [e for e in events if e.get("rid") == request["rid"]]
        assert mine[0] is request
        assert [e["type"] for e in mine].count("end") == 1
        assert mine[-1]["type"] == "end", request["path"]
    for scope in [e for e in events if e["type"] == "request" and e["kind"] != "http"]:
        assert not [e for e in events if e["type"] == "end" and e["rid"] == scope["rid"]]
