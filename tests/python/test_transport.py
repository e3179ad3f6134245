"""The transport on its own: reconnects, drops, unix sockets, fork, shared recordings."""

import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from djtop import recording
from djtop.transport import Transport, parse_address
from djtop_testutil import (
    HERE,
    LineServer,
    check_shape,
    example_shapes,
    python_command,
    read_events,
    run_python,
    wait_until,
)

HELLO = {"argv": ["test"], "django": "x", "python": "y", "databases": [], "root": "/"}


def event(transport, n):
    return {"type": "end", "sid": transport.sid, "rid": f"{transport.sid}-{n}", "n": n}


def numbers(events):
    return [e["n"] for e in events if e["type"] == "end"]


def test_reconnects_and_says_hello_again():
    # The collector will one day talk back; lines it sends must not disturb anything.
    greeting = b'{"type":"explain","qid":1}\n{"type":"unfinished"'
    server = LineServer(greeting=greeting)
    port = server.address[1]
    transport = Transport(f"127.0.0.1:{port}", queue_size=100, hello=HELLO)
    transport.emit(event(transport, 1))
    transport.emit(event(transport, 2))
    wait_until(lambda: server.connections and len(server.connections[0]) == 3, what="3 lines")
    first = server.connections[0]
    assert first[0]["type"] == "hello" and first[0]["sid"] == transport.sid
    assert first[0]["pid"] == os.getpid() and first[0]["argv"] == ["test"]
    assert numbers(first) == [1, 2]

    server.close()  # the collector goes away...
    transport.emit(event(transport, 3))
    wait_until(lambda: transport.down, what="the sender to notice")
    transport.emit(event(transport, 4))

    server = LineServer(("127.0.0.1", port), greeting=greeting)  # ...and comes back
    try:
        wait_until(lambda: server.connections and len(server.connections[0]) >= 3, what="resend")
        transport.emit(event(transport, 5))
        wait_until(lambda: len(server.connections[0]) == 4, what="a later event")
        second = server.connections[0]
        assert second[0]["type"] == "hello" and second[0]["sid"] == transport.sid
        assert numbers(second) == [3, 4, 5]
        assert not transport.down
    finally:
        server.close()


def test_drops_are_counted_and_reported_as_a_cumulative_total(tmp_path):
    path = str(tmp_path / "collector.sock")
    transport = Transport(f"unix:{path}", queue_size=5, hello=HELLO)
    shapes = example_shapes()

    def phase(first, count):
        accepted = [n for n in range(first, first + count) if transport.emit(event(transport, n))]
        wait_until(lambda: transport.down, what="a failed connection attempt")
        return accepted

    def delivered(server, accepted):
        def done():
            lines = server.connections[0] if server.connections else []
            return numbers(lines) == accepted and any(e["type"] == "drops" for e in lines)

        wait_until(done, what="the queued events and a drops line")
        lines = server.connections[0]
        assert lines[0]["type"] == "hello" and lines[0]["sid"] == transport.sid
        return [e for e in lines if e["type"] == "drops"]

    accepted = phase(0, 40)  # nothing listens at `path` yet
    assert transport.drops == 40 - len(accepted) > 0
    server = LineServer(path, family=socket.AF_UNIX)
    try:
        drops = delivered(server, accepted)
        assert drops == [{"type": "drops", "sid": transport.sid, "count": transport.drops}]
        check_shape(drops[0], shapes)
        check_shape(server.connections[0][0], shapes)
    finally:
        server.close()
    before = transport.drops

    transport.emit(event(transport, 100))  # noticed as closed, then refused
    accepted = [100] + phase(101, 40)
    os.unlink(path)
    server = LineServer(path, family=socket.AF_UNIX)
    try:
        drops = delivered(server, accepted)
        assert [d["count"] for d in drops] == [transport.drops]
        assert transport.drops > before + 30  # a running total, not a delta
    finally:
        server.close()


def test_parse_address():
    assert parse_address("127.0.0.1:7878") == (socket.AF_INET, ("127.0.0.1", 7878))
    assert parse_address("[::1]:9000") == (socket.AF_INET6, ("::1", 9000))
    assert parse_address("unix:/tmp/djtop.sock") == (socket.AF_UNIX, "/tmp/djtop.sock")
    with pytest.raises(ValueError):
        parse_address("localhost")


FORK = r"""
import json
import os
import django

django.setup()
from django.db import connections
from djtop import transport
from shimproj.models import Author

Author.objects.filter(name="before-fork").count()
assert transport.flush(5)
connections.close_all()
pid = os.fork()
if pid == 0:
    Author.objects.filter(name="in-child").count()
    transport.flush(5)
    os._exit(0)
os.waitpid(pid, 0)
Author.objects.filter(name="parent-after-fork").count()
print(json.dumps({"parent": os.getpid(), "child": pid}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_gives_the_child_its_own_session(tmp_path):
    record = tmp_path / "rec.ndjson"
    proc = run_python(FORK, env={"DJTOP_RECORD": str(record)})
    assert proc.returncode == 0, proc.stderr
    pids = json.loads(proc.stdout.splitlines()[-1])
    events = read_events(str(record), flush=False)
    hellos = {e["pid"]: e for e in events if e["type"] == "hello"}
    assert set(hellos) == {pids["parent"], pids["child"]}
    parent, child = hellos[pids["parent"]], hellos[pids["child"]]
    assert parent["sid"] != child["sid"] and child["ppid"] == pids["parent"]

    def query(name):
        (found,) = [e for e in events if e["type"] == "query" and e["params"] == [name]]
        return found

    assert query("before-fork")["sid"] == parent["sid"]
    assert query("parent-after-fork")["sid"] == parent["sid"]
    in_child = query("in-child")
    assert in_child["sid"] == child["sid"] and in_child["rid"].startswith(child["sid"] + "-")
    scopes = [e for e in events if e["type"] == "request" and e["rid"] == in_child["rid"]]
    assert len(scopes) == 1 and scopes[0]["sid"] == child["sid"]
    assert events.index(child) < events.index(in_child)


MANY = r"""
import django

django.setup()
from shimproj.models import Author

import sys

for i in range(300):
    Author.objects.filter(name=f"p{sys.argv[1]}-{i}").exists()
"""


def test_processes_can_share_one_recording(tmp_path):
    record = tmp_path / "shared.ndjson"
    procs = []
    for n in range(3):
        cmd, env = python_command(MANY, env={"DJTOP_RECORD": str(record)}, args=[str(n)])
        procs.append(subprocess.Popen(cmd, env=env, cwd=HERE))
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    events = read_events(str(record), flush=False)  # every line parses: no interleaving
    sids = {e["sid"] for e in events if e["type"] == "hello"}
    assert len(sids) == 3
    for sid in sids:
        mine = [e for e in events if e["sid"] == sid]
        assert mine[0]["type"] == "hello"
        assert len([e for e in mine if e["type"] == "query"]) == 300


def test_capture_is_off_while_nobody_listens_and_back_on_when_the_collector_appears():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    transport = Transport(f"127.0.0.1:{port}", queue_size=100, hello=HELLO)
    changes = []
    transport.on_active = lambda active: changes.append((active, transport.active))
    assert transport.active  # until an attempt fails: start-up work is kept
    transport.start()
    wait_until(lambda: not transport.active, what="the first failed attempt")
    # hooks come out after capture stopped
    assert changes == [(False, False)]
    server = LineServer(("127.0.0.1", port))
    try:
        transport.poke()  # a request starting: try again now
        wait_until(lambda: transport.active, timeout=2.0, what="a reconnect on poke")
        # hooks go in before capture starts
        assert changes == [(False, False), (True, False)]
        transport.emit(event(transport, 1))
        wait_until(lambda: server.connections and len(server.connections[0]) == 2, what="2 lines")
        assert server.connections[0][0]["type"] == "hello"
        assert numbers(server.connections[0]) == [1]
    finally:
        server.close()


def _here():
    frame = sys._getframe(1)  # the caller, stopped at the call: as a walk meets it
    return frame.f_code, frame.f_lasti, frame.f_lineno


def test_queries_travel_as_v2_lines_with_each_distinct_value_defined_once():
    server = LineServer()
    transport = Transport(f"127.0.0.1:{server.address[1]}", queue_size=100, hello=HELLO)
    rid = transport.next_rid()
    # Stacks arrive as a walk leaves them (stacks._walk): display path, code, instruction
    # offset; the sender turns them into lines.
    index_code, index_lasti, index_line = _here()
    stack = ["app/views.py", index_code, index_lasti]
    get_code, get_lasti, get_line = _here()
    lib = ["django/db/models/query.py", get_code, get_lasti]
    origin = {"how": "queryset", "model": "app.Book", "rows": 3}
    rel = (("app.Book", "author", "fk", "app.Author", False, origin, False), "load", None)
    sql = "SELECT 1 WHERE x = %s"
    for n in range(3):
        query = (rid, n + 1, "default", "sqlite", sql, (n,), False, 1_700_000_000_000_000_000 + n,
                 1500, 1, stack, lib, None, ("app.Book", "get", {"pk": n}), rel)  # fmt: skip
        transport.emit_query(*query)
    try:
        wait_until(lambda: server.connections and len(server.connections[0]) == 8, what="8 lines")
        lines = server.connections[0]
        assert [e["type"] for e in lines] == ["hello", "def", "def", "def", "def"] + ["query"] * 3
        hello, sql_def, stack_def, lib_def, rel_def, *queries = lines
        assert hello["v"] == 2
        assert sql_def == {"type": "def", "sid": transport.sid, "id": 1, "sql": sql}
        assert stack_def["frames"] == [["app/views.py", index_line, index_code.co_name]]
        assert lib_def["frames"] == [["django/db/models/query.py", get_line, get_code.co_name]]
        assert rel_def["rel"] == {
            "model": "app.Book", "field": "author", "kind": "fk", "target": "app.Author",
            "op": "load", "origin": origin,
        }  # fmt: skip
        for n, q in enumerate(queries):
            assert q["sql_id"] == 1 and q["stack_id"] == 2 and q["lib_id"] == 3
            assert q["rel_id"] == 4 and q["params"] == [n] and q["qid"] == n + 1
            assert q["ts_ns"] == 1_700_000_000_000_000_000 + n and q["dur_ns"] == 1500
            assert q["orm"] == {"model": "app.Book", "op": "get", "lookups": {"pk": n}}
        shapes = example_shapes()
        for event in recording.inline(lines):
            check_shape(event, shapes)
    finally:
        server.close()


def test_the_senders_shortcuts_write_what_the_encoder_writes():
    """One int param, one int lookup and a repeated relation tuple skip the JSON encoder or
    the def table; values beside them (bools, big ints, odd keys, other ops) do not."""
    server = LineServer()
    transport = Transport(f"127.0.0.1:{server.address[1]}", queue_size=100, hello=HELLO)
    rid = transport.next_rid()
    code, lasti, _line = _here()
    stack = ["app/views.py", code, lasti]
    info = ("app.Book", "author", "fk", "app.Author", False, {"how": "queryset"}, False)
    cases = [
        ((7,), {"pk": 7}, (info, "load", None)),
        ((True,), {"pk": True}, (info, "load", None)),
        ((2**70,), {'na"me': 3}, (info, "all", None)),
        ((1, 2), {"pk": 1, "x": 2}, (info, "filter", {"title": "a"})),
        (("s",), {"pk": "s"}, (info, "load", None)),
    ]
    for n, (params, lookups, rel) in enumerate(cases):
        query = (rid, n + 1, "default", "sqlite", "SELECT %s", params, False, 1, 2, None, stack,
                 [], None, ("app.Book", "get", lookups), rel)  # fmt: skip
        transport.emit_query(*query)
    try:
        wait_until(lambda: server.connections and len(server.connections[0]) == 11, what="lines")
        lines = server.connections[0]
        defs = {e["id"]: e for e in lines if e["type"] == "def"}
        queries = [e for e in lines if e["type"] == "query"]
        assert [q["params"] for q in queries] == [list(c[0]) for c in cases]
        assert [q["orm"]["lookups"] for q in queries] == [c[1] for c in cases]
        rels = [defs[q["rel_id"]]["rel"] for q in queries]
        assert [r["op"] for r in rels] == ["load", "load", "all", "filter", "load"]
        assert rels[3]["lookups"] == {"title": "a"} and "lookups" not in rels[0]
        ids = [q["rel_id"] for q in queries]
        assert ids[0] == ids[1] == ids[4] and len(set(ids)) == 3  # one def per distinct relation
    finally:
        server.close()


def _query(rid, qid, sql, stack, rel=None, lib=()):
    return (rid, qid, "default", "sqlite", sql, (qid,), False, qid, 1000, 1, stack, lib, None,
            None, rel)  # fmt: skip


def _refs_defined_before_use(lines):
    """Every id a query names was defined earlier in the stream, each id exactly once."""
    defined = set()
    for e in lines:
        if e["type"] == "def":
            assert e["id"] not in defined, f"id {e['id']} defined twice"
            defined.add(e["id"])
        elif e["type"] == "query":
            for key in ("sql_id", "stack_id", "lib_id", "rel_id"):
                if key in e:
                    assert e[key] in defined, f"query {e['qid']} names {key} {e[key]} first"


def test_after_a_reconnect_the_defs_sent_before_are_sent_again_ahead_of_the_queries():
    server = LineServer()
    port = server.address[1]
    transport = Transport(f"127.0.0.1:{port}", queue_size=100, hello=HELLO)
    rid = transport.next_rid()
    code, lasti, line = _here()
    stack = ["app/views.py", code, lasti]
    lib = ["django/db/models/query.py", code, lasti]
    info = ("app.Book", "author", "fk", "app.Author", False, {"how": "queryset"}, True)
    rel = (info, "load", None)
    transport.emit_query(*_query(rid, 1, "SELECT 1", stack, rel, lib))
    transport.emit_query(*_query(rid, 2, "SELECT 2", stack, rel, lib))
    wait_until(lambda: server.connections and len(server.connections[0]) == 8, what="8 lines")
    first = server.connections[0]
    _refs_defined_before_use(first)
    server.close()  # the collector goes away (a new one knows none of the ids)...
    transport.emit_query(*_query(rid, 3, "SELECT 1", stack, rel, lib))
    wait_until(lambda: transport.down, what="the sender to notice")
    server = LineServer(("127.0.0.1", port))  # ...and comes back
    try:
        wait_until(lambda: server.connections and transport.active, what="a reconnect")
        transport.emit_query(*_query(rid, 4, "SELECT 2", stack, rel, lib))
        transport.emit_query(*_query(rid, 5, "SELECT 3", stack, rel, lib))  # a new text
        wait_until(lambda: len([e for e in server.connections[0] if e["type"] == "query"]) == 3,
                   what="the three queries")  # fmt: skip
        second = server.connections[0]
        assert second[0]["type"] == "hello"
        _refs_defined_before_use(second)
        queries = [e for e in recording.inline(second) if e["type"] == "query"]
        assert [(q["qid"], q["sql"]) for q in queries] == [
            (3, "SELECT 1"), (4, "SELECT 2"), (5, "SELECT 3")
        ]  # fmt: skip
        for q in queries:
            assert q["stack"] == [["app/views.py", line, code.co_name]]
            assert q["rel"]["field"] == "author" and q["rel"]["op"] == "load"
        # the ids stay what they were: the first collector's and the second's agree
        ids = {e["id"]: e for e in first if e["type"] == "def"}
        for e in second:
            if e["type"] == "def" and e["id"] in ids:
                assert e == ids[e["id"]]
    finally:
        server.close()


def test_threads_defining_at_once_never_name_an_id_before_its_def():
    """Every request thread encodes its own queries: new ids are given under a lock, each
    defined once, and no thread's query line overtakes the def of an id it names."""
    server = LineServer()
    transport = Transport(f"127.0.0.1:{server.address[1]}", queue_size=100_000, hello=HELLO)
    code, lasti, _line = _here()
    threads, per_thread = 8, 300
    start = threading.Barrier(threads)

    def run(n):
        rid = transport.next_rid()
        start.wait()
        for i in range(per_thread):
            # texts and stacks the threads meet for the first time at about the same moment
            stack = [f"app/v{i % 7}.py", code, lasti]
            transport.emit_query(*_query(rid, n * per_thread + i, f"SELECT {i % 50}", stack))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(interval)
    try:
        total = threads * per_thread

        def arrived():
            lines = server.connections[0] if server.connections else []
            return sum(e["type"] == "query" for e in lines) == total

        wait_until(arrived, what="every query")
        lines = server.connections[0]
        _refs_defined_before_use(lines)
        defs = [e for e in lines if e["type"] == "def"]
        assert len(defs) == 50 + 7  # one per distinct text and stack, whichever thread won
        assert transport.drops == 0
    finally:
        server.close()


def test_recording_inline_resolves_defs_per_process_and_names_a_missing_one():
    raw = [
        {"type": "def", "sid": "a" * 16, "id": 1, "sql": "SELECT 1"},
        {"type": "def", "sid": "b" * 16, "id": 1, "sql": "SELECT 2"},
        {"type": "def", "sid": "a" * 16, "id": 2, "frames": [["app/v.py", 3, "f"]]},
        {"type": "query", "sid": "a" * 16, "sql_id": 1, "stack_id": 2, "ts_ns": 1_500_000_000,
         "dur_ns": 2_500_000},
        {"type": "query", "sid": "b" * 16, "sql_id": 1, "stack": [], "ts": 2.0, "ms": 1.0},
    ]  # fmt: skip
    first, second = recording.inline(raw)
    assert first == {"type": "query", "sid": "a" * 16, "sql": "SELECT 1",
                     "stack": [["app/v.py", 3, "f"]], "ts": 1.5, "ms": 2.5}  # fmt: skip
    assert second["sql"] == "SELECT 2" and second["ts"] == 2.0 and second["ms"] == 1.0
    with pytest.raises(recording.UndefinedReference, match="sql_id 9 of sid"):
        recording.inline([{"type": "query", "sid": "a" * 16, "sql_id": 9}])
