"""End to end: the demo under a real runserver (WSGI) and a real uvicorn (ASGI), with the shim,
streaming to a real `djtop record`; every request's queries compared with what Django itself
captured (CaptureQueriesContext) for that request.
"""

import ast
import concurrent.futures
import json
import uuid

import pytest
from e2e_util import (
    DEMO,
    Recorder,
    Server,
    read_events,
    render_sqlite,
    requests_by_ref,
    seed,
    wait_for,
)

CONCURRENT_ASYNC = 24
# The demo documents counts without transaction management; Django's log (and djtop) has them.
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def is_transaction(sql):
    return sql.startswith(TRANSACTION)


def view_ranges():
    """{function name: (first line, last line)} of blog/views.py."""
    tree = ast.parse((DEMO / "blog" / "views.py").read_text())
    return {
        node.name: (node.lineno, node.end_lineno)
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    seed(tmp)
    recording = tmp / "recording.ndjson"
    recorder = Recorder(recording)
    wsgi = Server("wsgi", tmp, recorder.address)
    asgi = Server("asgi", tmp, recorder.address)
    try:
        index = json.loads(__import__("urllib.request").request.urlopen(wsgi.base + "/").read())
        views = index["views"]
        sent = {}  # e2e id -> (server kind, view entry)

        def hit(server, kind, view):
            ref = uuid.uuid4().hex
            sep = "&" if "?" in view["path"] else "?"
            assert server.get(f"{view['path']}{sep}e2e={ref}") == 200
            sent[ref] = (kind, view)

        for view in views:
            hit(wsgi, "wsgi", view)
            hit(asgi, "asgi", view)
        # Concurrent async requests on one uvicorn worker: attribution must not mix them.
        async_views = [v for v in views if v["async"] and "visits" not in v["path"]]
        with concurrent.futures.ThreadPoolExecutor(CONCURRENT_ASYNC) as pool:
            jobs = [
                pool.submit(hit, asgi, "asgi", async_views[i % len(async_views)])
                for i in range(CONCURRENT_ASYNC)
            ]
            for j in jobs:
                j.result()

        def complete():
            by_ref, _ = requests_by_ref(read_events(recording))
            return all(ref in by_ref and "end" in by_ref[ref] for ref in sent)

        wait_for(complete, timeout=60, what="every request's end event in the recording")
    finally:
        logs = {"wsgi": wsgi.stop(), "asgi": asgi.stop()}
        recorder.stop()
    return {"events": read_events(recording), "sent": sent, "tmp": tmp, "logs": logs}


def test_every_request_matches_djangos_own_capture(run):
    by_ref, _ = requests_by_ref(run["events"])
    mismatches = []
    for ref, (kind, view) in run["sent"].items():
        reference = json.loads((run["tmp"] / "ref" / f"{ref}.json").read_text())["sql"]
        entry = by_ref[ref]
        assert entry["end"]["status"] == 200
        ours = [
            f"{len(q['params'] or [])} times: {q['sql']}"
            if q["many"]
            else render_sqlite(q["sql"], q["params"])
            for q in entry["queries"]
        ]
        if ours != reference:
            mismatches.append((kind, view["path"], len(ours), len(reference)))
    assert not mismatches, f"djtop differs from Django's capture: {mismatches[:5]}"


def test_counts_match_the_documented_counts(run):
    """A cross-check that the comparison above compared something: the demo documents counts."""
    by_ref, _ = requests_by_ref(run["events"])
    for ref, (_kind, view) in run["sent"].items():
        counted = [q for q in by_ref[ref]["queries"] if not is_transaction(q["sql"])]
        assert len(counted) == view["queries"], view["path"]


def test_nothing_unattributed_or_lost(run):
    events = run["events"]
    _, by_rid = requests_by_ref(events)
    hellos = [e for e in events if e["type"] == "hello"]
    assert {h["sid"] for h in hellos} >= {e["sid"] for e in events if e["type"] == "query"}
    for (_sid, rid), entry in by_rid.items():
        assert "request" in entry, f"queries for {rid} without a request event"
        req = entry["request"]
        if req["kind"] == "http":
            # Every HTTP request with queries is one the test sent (the index runs none).
            assert "e2e=" in req["path"] or not entry["queries"], req["path"]
    dropped = [e["count"] for e in events if e["type"] == "drops"]
    assert not any(dropped), f"shim dropped events: {dropped}"
    total_http = sum(len(e["queries"]) for e in requests_by_ref(events)[0].values())
    expected = sum(
        len(json.loads((run["tmp"] / "ref" / f"{ref}.json").read_text())["sql"])
        for ref in run["sent"]
    )
    assert total_http == expected


def test_async_queries_carry_the_view_line(run):
    by_ref, _ = requests_by_ref(run["events"])
    ranges = view_ranges()
    checked = 0
    for ref, (kind, view) in run["sent"].items():
        if kind != "asgi" or not view["async"]:
            continue
        first, last = ranges[view["name"]]
        if "stream" in view["path"]:
            # The body's queries run in the async generator after the view returned.
            first, last = ranges["_async_author_lines"]
        for q in by_ref[ref]["queries"]:
            if is_transaction(q["sql"]):
                continue
            lines = [line for (file, line, _fn) in q["stack"] if file == "blog/views.py"]
            assert any(first <= line <= last for line in lines), (
                f"{view['path']}: query {q['sql'][:60]} has stack {q['stack']}, "
                f"not a line of {view['name']} ({first}-{last})"
            )
            checked += 1
    assert checked > 100


def test_servers_logged_no_exception(run):
    for kind, log in run["logs"].items():
        assert "Traceback" not in log, f"{kind} log:\n{log}"
