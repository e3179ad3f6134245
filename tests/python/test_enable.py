"""On/off rules, management commands and a missing collector, each in a fresh process."""

import json
import socket

import pytest
from djtop.context import command_name
from djtop_testutil import HERE, bundle, marker_line, read_events, run_python

REQUEST_ONCE = r"""
import json
import django

django.setup()
from django.db import connection
from django.test import Client
from djtop import transport
from djtop.capture import DjtopWrapper

status = Client().get("/books/?t=once").status_code
print(json.dumps({
    "status": status,
    "transport": transport.get() is not None,
    "wrapped": any(isinstance(w, DjtopWrapper) for w in connection.execute_wrappers),
}))
"""


@pytest.mark.parametrize(
    "env, on",
    [
        ({"SHIMPROJ_DEBUG": "1"}, True),
        ({"SHIMPROJ_DEBUG": "0"}, False),
        ({"SHIMPROJ_DEBUG": "0", "DJTOP_ENABLED": "1"}, True),
        ({"SHIMPROJ_DEBUG": "0", "SHIMPROJ_DJTOP": '{"enabled": true}'}, True),
        ({"SHIMPROJ_DEBUG": "1", "DJTOP_ENABLED": "0"}, False),
        ({"SHIMPROJ_DEBUG": "1", "SHIMPROJ_DJTOP": '{"enabled": false}'}, False),
        ({"SHIMPROJ_DEBUG": "0", "DJTOP_ENABLED": "0", "SHIMPROJ_DJTOP": '{"enabled": 1}'}, False),
    ],
)
def test_enabled_follows_debug_unless_forced(tmp_path, env, on):
    record = tmp_path / "rec.ndjson"
    proc = run_python(REQUEST_ONCE, env=dict(env, DJTOP_RECORD=str(record)))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {"status": 200, "transport": on, "wrapped": on}
    if not on:
        assert not record.exists()
        return
    # flushed at exit: hello, then the request with its queries and its end
    events = read_events(str(record), flush=False)
    assert events[0]["type"] == "hello"
    (request,) = [e for e in events if e["type"] == "request" and e["kind"] == "http"]
    assert request["path"] == "/books/?t=once"
    assert events[-1]["type"] == "end" and events[-1]["rid"] == request["rid"]


def test_management_command_queries_get_a_command_scope(tmp_path):
    record = tmp_path / "rec.ndjson"
    proc = run_python(None, args=["manage.py", "shim_demo"], env={"DJTOP_RECORD": str(record)})
    assert proc.returncode == 0, proc.stderr
    events = read_events(str(record), flush=False)
    assert events[0]["argv"] == ["manage.py", "shim_demo"]
    (scope,) = [e for e in events if e["type"] == "request"]
    assert scope["kind"] == "command" and scope["path"] == "command:shim_demo"
    assert scope["method"] is None
    (query,) = [e for e in events if e["type"] == "query"]
    assert query["rid"] == scope["rid"]
    path = "shimproj/management/commands/shim_demo.py"
    line = marker_line("command_count", f"{HERE}/{path}")
    assert query["stack"][0] == [path, line, "handle"]
    assert not [e for e in events if e["type"] == "end"]  # scopes stay open


def test_manage_py_test_records_requests_and_test_code(tmp_path):
    """`DJTOP_RECORD=... manage.py test`: the runner turns DEBUG off after the shim started."""
    record = tmp_path / "rec.ndjson"
    args = ["manage.py", "test", "shimproj.djtests", "-v", "0"]
    proc = run_python(None, args=args, env={"DJTOP_RECORD": str(record)})
    assert proc.returncode == 0, proc.stderr
    events = read_events(str(record), flush=False)
    request, _, end, _ = bundle(events, "/books/?t=django-test")
    assert end["status"] == 200
    (scope,) = [e for e in events if e["type"] == "request" and e["kind"] == "command"]
    assert scope["path"] == "command:test"
    line = marker_line("djtest_count", f"{HERE}/shimproj/djtests.py")
    assert [
        q
        for q in events
        if q["type"] == "query"
        and q["rid"] == scope["rid"]
        and q["stack"]
        and q["stack"][0] == ["shimproj/djtests.py", line, "test_request_and_direct_query"]
    ]


def test_command_name_from_argv():
    assert command_name(["manage.py", "migrate", "--noinput"]) == "migrate"
    assert command_name(["/srv/app/manage.py", "--verbosity=2", "shell"]) == "shell"
    assert command_name(["/venv/bin/django-admin", "check"]) == "check"
    assert command_name(["/usr/lib/python3/site-packages/django/__main__.py", "test"]) == "test"
    assert command_name(["manage.py"]) == "help"
    assert command_name(["/venv/bin/uvicorn", "app.asgi:application"]) is None
    assert command_name(["/venv/bin/pytest"]) is None
    assert command_name([]) is None


DOWN = r"""
import json
import django

django.setup()
from django.test import Client
from djtop import transport
from djtop_testutil import wait_until

client = Client()
statuses = [client.get("/books/").status_code for _ in range(30)]
sink = transport.get()
wait_until(lambda: sink.down, what="a failed connection attempt")
print(json.dumps({"statuses": statuses, "drops": sink.drops, "pending": sink.pending()}))
"""


def test_requests_succeed_when_the_collector_is_down():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    env = {"DJTOP_ADDRESS": f"127.0.0.1:{port}", "SHIMPROJ_DJTOP": '{"queue_size": 20}'}
    proc = run_python(DOWN, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["statuses"] == [200] * 30
    # 30 requests x 9 events: the queue holds its bound, the rest are counted as dropped
    assert result["pending"] <= 20
    assert result["drops"] >= 30 * 9 - 20 - 512
    assert result["drops"] > 0
