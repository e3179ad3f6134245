"""Sync requests through the real Django stack, recorded with DJTOP_RECORD."""

import os
import platform
import re
import sys

import django
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from djtop_testutil import bundle, marker_line, read_events


def test_hello_is_the_first_line():
    events = read_events()
    hello = events[0]
    assert hello["type"] == "hello"
    assert hello["v"] == 2
    assert re.fullmatch(r"[0-9a-f]{16}", hello["sid"])
    assert hello["pid"] == os.getpid()
    assert hello["ppid"] == os.getppid()
    assert hello["argv"] == sys.argv
    assert hello["django"] == django.get_version()
    assert hello["python"] == platform.python_version()
    assert hello["databases"] == [
        {"alias": "default", "vendor": "sqlite"},
        {"alias": "other", "vendor": "sqlite"},
    ]
    assert hello["root"] == str(settings.BASE_DIR)
    assert isinstance(hello["ts"], float)
    assert [e for e in events if e["type"] == "hello"] == [hello]
    assert all(e["sid"] == hello["sid"] for e in events)


def test_request_queries_match_django_count_and_point_at_the_view():
    with CaptureQueriesContext(connection) as captured:
        response = Client().get("/books/?t=counts")
    assert response.status_code == 200
    events = read_events()
    request, queries, end, mine = bundle(events, "/books/?t=counts")

    sid = events[0]["sid"]
    assert re.fullmatch(re.escape(sid) + r"-\d+", request["rid"])
    assert request["method"] == "GET"
    assert len(queries) == len(captured.captured_queries) == 7  # 1 + one per book (N+1)
    assert mine[0] is request and mine[-1] is end
    assert end["status"] == 200
    assert end["route"] == "books/"
    assert end["view"] == "shimproj.views.books"
    assert end["async"] is False
    assert end["ms"] >= sum(q["ms"] for q in queries)

    first, rest = queries[0], queries[1:]
    assert first["stack"][0] == ["shimproj/views.py", marker_line("books_list"), "books"]
    assert first["sql"].startswith("SELECT")
    assert first["params"] == []
    assert first["alias"] == "default" and first["vendor"] == "sqlite"
    assert first["many"] is False and first["error"] is None
    for query in rest:
        assert query["stack"][0] == ["shimproj/views.py", marker_line("books_author"), "books"]
        assert "%s" in query["sql"]
        assert len(query["params"]) == 1 and isinstance(query["params"][0], int)
    # Django, the shim and the test client are left out; nothing under site-packages.
    for query in queries:
        for file, line, func in query["stack"]:
            assert "django" not in file.split("/") and "djtop" not in file.split("/")
            assert isinstance(line, int) and isinstance(func, str)
    qids = [q["qid"] for q in queries]
    assert qids == sorted(qids) and len(set(qids)) == len(qids)


def test_every_alias_is_captured():
    assert Client().get("/other/?t=alias").status_code == 200
    _, queries, end, _ = bundle(read_events(), "/other/?t=alias")
    assert [(q["alias"], q["vendor"]) for q in queries] == [("other", "sqlite")]
    assert queries[0]["stack"][0] == ["shimproj/views.py", marker_line("other_count"), "other_db"]
    assert end["status"] == 200


def test_view_that_raises_ends_with_null_status():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/?t=raise")
    assert response.status_code == 500
    _, queries, end, _ = bundle(read_events(), "/boom/?t=raise")
    assert len(queries) == 1
    assert queries[0]["error"] == "OperationalError: no such table: nope"
    assert queries[0]["rows"] is None
    assert queries[0]["stack"][0] == ["shimproj/views.py", marker_line("boom"), "boom"]
    assert end["status"] is None
    assert end["route"] == "boom/"


def test_transactions_are_counted_as_django_counts_them():
    client = Client(raise_request_exception=False)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/write/?t=commit").status_code == 200
    _, queries, _, _ = bundle(read_events(), "/write/?t=commit")
    django_sql = [q["sql"] for q in captured.captured_queries]
    assert len(queries) == len(django_sql)
    assert [q["sql"] for q in queries if "INSERT" not in q["sql"]] == [
        s for s in django_sql if "INSERT" not in s
    ]
    assert queries[-1]["sql"] == "COMMIT" and queries[-1]["params"] is None

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/write/?t=rollback&fail=1").status_code == 500
    _, queries, end, _ = bundle(read_events(), "/write/?t=rollback&fail=1")
    assert len(queries) == len(captured.captured_queries)
    sql = [q["sql"] for q in queries]
    failed = [i for i, q in enumerate(queries) if (q["error"] or "").startswith("IntegrityError")]
    assert len(failed) == 1 and sql[failed[0] + 1] == "ROLLBACK"
    assert end["status"] is None


def test_unresolved_url_has_null_route_and_view():
    assert Client().get("/missing/?t=404").status_code == 404
    _, queries, end, _ = bundle(read_events(), "/missing/?t=404")
    assert queries == []
    assert end["status"] == 404
    assert end["route"] is None and end["view"] is None


def test_streaming_queries_belong_to_the_request_and_end_follows_them():
    with CaptureQueriesContext(connection) as captured:
        response = Client().get("/stream/?t=stream")
        _, queries, end, _ = bundle(read_events(), "/stream/?t=stream")
        assert queries == [] and end is None  # nothing consumed yet
        body = b"".join(response.streaming_content)
    assert body.startswith(b"start\n")
    _, queries, end, mine = bundle(read_events(), "/stream/?t=stream")
    assert len(queries) == len(captured.captured_queries) == 4  # authors + a count per author
    assert mine[-1] is end
    assert end["status"] == 200 and end["route"] == "stream/"
    assert queries[0]["stack"][0] == ["shimproj/views.py", marker_line("stream_authors"), "chunks"]
    assert queries[1]["stack"][0] == ["shimproj/views.py", marker_line("stream_count"), "chunks"]


def test_streaming_response_closed_unread_still_ends():
    response = Client().get("/stream/?t=closed")
    response.close()
    _, queries, end, _ = bundle(read_events(), "/stream/?t=closed")
    assert queries == []
    assert end is not None and end["status"] == 200
