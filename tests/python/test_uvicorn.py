"""Async views under a real uvicorn: stacks still point at the view's lines."""

import os
import signal
import socket
import subprocess
import urllib.request

import pytest
from djtop_testutil import HERE, bundle, marker_line, python_command, read_events, wait_until

pytest.importorskip("uvicorn")
VIEWS = "shimproj/views.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_async_views_under_uvicorn(tmp_path):
    record = tmp_path / "uvicorn.ndjson"
    port = free_port()
    args = ["-m", "uvicorn", "shimproj.asgi:application", "--port", str(port)]
    cmd, env = python_command(None, env={"DJTOP_RECORD": str(record)}, args=args)
    server = subprocess.Popen(
        cmd + ["--lifespan", "off", "--log-level", "warning"],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return server.poll() is not None

    try:
        wait_until(up, timeout=20, what="uvicorn")
        assert server.poll() is None, server.stdout.read().decode()
        bodies = {}
        for path in ("/async/get/?t=u", "/async/iter/?t=u", "/async/stream/?t=u", "/books/?t=u"):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                bodies[path] = (response.status, response.read())
    finally:
        server.send_signal(signal.SIGINT)  # graceful: the shim flushes at exit
        server.wait(20)
    assert {status for status, _ in bodies.values()} == {200}
    assert bodies["/async/stream/?t=u"][1] == b"start\nAnn\nBob\nCid\n"

    events = read_events(str(record), flush=False)
    assert events[0]["type"] == "hello" and events[0]["pid"] == server.pid
    _, queries, end, _ = bundle(events, "/async/get/?t=u")
    assert queries[0]["stack"][0] == [VIEWS, marker_line("async_get"), "async_get"]
    assert end["async"] is True and end["status"] == 200
    _, queries, _, _ = bundle(events, "/async/iter/?t=u")
    assert [q["stack"][0][1] for q in queries] == [
        marker_line("async_for"),
        marker_line("async_list"),
        marker_line("helper_count", os.path.join(HERE, "shimproj", "helpers.py")),
    ]
    assert queries[2]["stack"][1] == [VIEWS, marker_line("async_helper"), "async_iter"]
    _, queries, end, mine = bundle(events, "/async/stream/?t=u")
    assert queries[0]["stack"][0] == [VIEWS, marker_line("astream_authors"), "chunks"]
    assert mine[-1] is end
    _, queries, end, _ = bundle(events, "/books/?t=u")
    assert len(queries) == 7 and end["async"] is False
    assert queries[1]["stack"][0] == [VIEWS, marker_line("books_author"), "books"]
