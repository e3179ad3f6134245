"""Helpers shared by the shim tests."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

from djtop import recording

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VIEWS = os.path.join(HERE, "shimproj", "views.py")


def marker_line(name, path=VIEWS):
    """The line number carrying the comment ``# @q:NAME`` in ``path``."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if re.search(r"#\s*@q:" + re.escape(name) + r"\b", line):
                return number
    raise AssertionError(f"marker @q:{name} not in {path}")


def read_events(path=None, flush=True):
    """The recorded events (flushing this process's shim first)."""
    if flush:
        from djtop import transport

        assert transport.flush(5.0), "the shim did not flush"
    path = path or os.environ["DJTOP_RECORD"]
    if not os.path.exists(path):
        return []
    return recording.events(path)  # v2 references resolved: every query self-contained


def bundle(events, path, kind="http"):
    """(request, queries, end, all events of it) for the request with this path."""
    requests = [e for e in events if e["type"] == "request" and e["path"] == path]
    assert len(requests) == 1, f"{len(requests)} request events for {path!r}"
    request = requests[0]
    assert request["kind"] == kind
    mine = [e for e in events if e.get("rid") == request["rid"] and e["sid"] == request["sid"]]
    queries = [e for e in mine if e["type"] == "query"]
    ends = [e for e in mine if e["type"] == "end"]
    assert len(ends) <= 1
    return request, queries, (ends[0] if ends else None), mine


def python_command(code, env=None, args=()):
    """(argv, environment) to run Python code, or a script with args, using shimproj."""
    full = dict(os.environ)
    for key in ("DJTOP_ENABLED", "DJTOP_ADDRESS", "DJTOP_RECORD", "SHIMPROJ_DEBUG"):
        full.pop(key, None)
    full["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "python"), HERE])
    full["DJANGO_SETTINGS_MODULE"] = "shimproj.settings"
    full.update(env or {})
    return [sys.executable] + (["-c", code] if code is not None else []) + list(args), full


def run_python(code, env=None, args=(), timeout=60):
    """Run it in a fresh process (cwd tests/python) and wait for it."""
    cmd, full = python_command(code, env, args)
    return subprocess.run(
        cmd, cwd=HERE, env=full, capture_output=True, text=True, timeout=timeout, check=False
    )


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class LineServer:
    """A stand-in collector: accepts connections and keeps the NDJSON lines of each."""

    def __init__(self, address=("127.0.0.1", 0), family=socket.AF_INET, greeting=None):
        self.greeting = greeting  # bytes sent to each new connection
        self.connections = []  # one list of decoded events per accepted connection
        self._socks = []
        self._stop = False
        sock = socket.socket(family, socket.SOCK_STREAM)
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(8)
        sock.settimeout(0.05)
        self.sock = sock
        self.address = sock.getsockname()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            events = []
            self.connections.append(events)
            self._socks.append(conn)
            if self.greeting:
                conn.sendall(self.greeting)
            threading.Thread(target=self._read, args=(conn, events), daemon=True).start()

    @staticmethod
    def _read(conn, events):
        buf = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            events.extend(json.loads(line) for line in lines if line)

    def close(self):
        self._stop = True
        self._thread.join(5)
        self.sock.close()
        for conn in self._socks:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


# -- the shared protocol lines -----------------------------------------------------------------

EXAMPLES = os.path.join(REPO, "tests", "protocol", "examples.ndjson")
# Fields docs/protocol.md allows to be null although the example lines show a value.
NULLABLE = {
    ("request", "method"),
    ("end", "status"),
    ("end", "route"),
    ("end", "view"),
    ("query", "params"),
    ("query", "rows"),
    ("query", "error"),
}


def json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return type(value).__name__  # str, list, dict


def example_shapes():
    """{event type: {key: set of JSON types seen}} from tests/protocol/examples.ndjson, with
    v2 references resolved as read_events() resolves them."""
    shapes = {}
    for event in recording.inline(recording.read(EXAMPLES)):
        shape = shapes.setdefault(event["type"], {})
        for key, value in event.items():
            shape.setdefault(key, set()).add(json_type(value))
    return shapes


# Optional fields (docs/protocol.md), checked by check_optional rather than by the examples.
OPTIONAL = {"hello": ("models",), "query": ("orm", "rel", "lib")}
ORM_OPS = {
    "get", "first", "last", "count", "exists", "aggregate", "iterate", "in_bulk", "create",
    "get_or_create", "update_or_create", "save", "delete", "update", "bulk_create", "bulk_update",
}  # fmt: skip
REL_KINDS = {"fk", "o2o", "reverse_o2o", "reverse_fk", "m2m", "generic", "deferred"}
REL_OPS = {"load", "all", "count", "exists", "filter", "get", "first", "last", "aggregate"}
ORIGIN_FIELDS = {
    "queryset": ({"how", "model"}, {"site", "rows", "qid"}),
    "prefetch": ({"how", "model", "field", "origin"}, {"to_attr"}),
    "select_related": ({"how", "model", "field", "origin"}, set()),
    "lazy": ({"how", "model", "field", "origin"}, set()),
    "get": ({"how", "model"}, {"site"}),
    "unknown": ({"how"}, set()),
}


def check_lookups(lookups):
    assert isinstance(lookups, dict), lookups
    assert json.loads(json.dumps(lookups)) == lookups


def check_origin(origin, depth=1):
    assert depth <= 5, "origins nest at most 5 deep"
    required, optional = ORIGIN_FIELDS[origin["how"]]
    assert required <= set(origin) <= required | optional, origin
    if "site" in origin:
        assert [json_type(v) for v in origin["site"]] == ["str", "int", "str"], origin
    for key in ("rows", "qid"):
        if key in origin:
            assert json_type(origin[key]) == "int", origin
    if "origin" in origin:
        check_origin(origin["origin"], depth + 1)


def check_optional(event):
    """The optional fields of docs/protocol.md, when present."""
    if "models" in event:
        models = event["models"]
        assert models and all(isinstance(k, str) and "." in v for k, v in models.items())
    if "orm" in event:
        orm = event["orm"]
        assert {"model", "op"} <= set(orm) <= {"model", "op", "lookups"}, orm
        assert isinstance(orm["model"], str) and orm["op"] in ORM_OPS, orm
        if "lookups" in orm:
            check_lookups(orm["lookups"])
    if "lib" in event:
        lib = event["lib"]
        assert lib and all(
            isinstance(f, list) and len(f) == 3 and isinstance(f[1], int) for f in lib
        ), lib
    if "rel" in event:
        rel = event["rel"]
        required = {"model", "field", "kind", "target", "op", "origin"}
        assert required <= set(rel) <= required | {"lookups", "prefetched"}, rel
        assert rel["kind"] in REL_KINDS and rel["op"] in REL_OPS, rel
        if "lookups" in rel:
            check_lookups(rel["lookups"])
        assert rel.get("prefetched", True) is True
        check_origin(rel["origin"])


def check_shape(event, shapes):
    """Assert that an event the shim sent has the keys and value types of the examples."""
    kind = event["type"]
    assert kind in shapes and kind != "disconnect", kind
    shape = shapes[kind]
    check_optional(event)
    optional = set(OPTIONAL.get(kind, ()))
    event = {k: v for k, v in event.items() if k not in optional}
    required = set(shape) - optional
    assert set(event) == required, (kind, sorted(set(event) ^ required))
    for key, value in event.items():
        allowed = set(shape[key])
        if "float" in allowed:
            allowed.add("int")  # a JSON number
        if (kind, key) in NULLABLE:
            allowed.add("null")
        assert json_type(value) in allowed, (kind, key, value)
    assert re.fullmatch(r"[0-9a-f]{16}", event["sid"])
    if "rid" in event:
        assert re.fullmatch(re.escape(event["sid"]) + r"-\d+", event["rid"])
    if kind == "hello":
        assert event["v"] == 2
        assert all(isinstance(a, str) for a in event["argv"])
        for db in event["databases"]:
            assert set(db) == {"alias", "vendor"} and all(isinstance(v, str) for v in db.values())
    if kind == "request":
        assert event["kind"] in ("http", "command", "thread", "startup")
        assert (event["method"] is None) == (event["kind"] != "http")
    if kind == "query":
        for frame in event["stack"]:
            assert [json_type(v) for v in frame] == ["str", "int", "str"], frame
        if event["many"]:
            assert event["params"] is None
        for param in event["params"] or []:
            if isinstance(param, dict):
                assert set(param) == {"$bytes"} and json_type(param["$bytes"]) == "int"
            else:
                assert json_type(param) in ("null", "bool", "int", "float", "str"), param
    if kind == "drops":
        assert event["count"] >= 0


def asgi_get(path):
    """One GET through Django's real ASGI handler; returns (status, body)."""
    import asyncio

    from asgiref.testing import ApplicationCommunicator
    from django.core.asgi import get_asgi_application

    raw_path, _, query = path.partition("?")

    async def go():
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        comm = ApplicationCommunicator(get_asgi_application(), scope)
        await comm.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await comm.receive_output(10)
        assert start["type"] == "http.response.start", start
        body = b""
        while True:
            message = await comm.receive_output(10)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            await comm.wait(5)
        except Exception:
            pass
        return start["status"], body

    return asyncio.run(go())
