"""On/off rules, management commands and a missing collector, each in a fresh process."""

import json
import os
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
from djtop.capture import _WRAPPER

status = Client().get("/books/?t=once").status_code
print(json.dumps({
    "status": status,
    "transport": transport.get() is not None,
    "wrapped": _WRAPPER in connection.execute_wrappers,
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
        # Strings: only the documented words; bool("false") must never switch capture on.
        ({"SHIMPROJ_DEBUG": "0", "SHIMPROJ_DJTOP": '{"enabled": "false"}'}, False),
        ({"SHIMPROJ_DEBUG": "0", "SHIMPROJ_DJTOP": '{"enabled": "0"}'}, False),
        ({"SHIMPROJ_DEBUG": "0", "SHIMPROJ_DJTOP": '{"enabled": "on"}'}, True),
        # Anything else warns and is off, even with DEBUG on.
        ({"SHIMPROJ_DEBUG": "1", "SHIMPROJ_DJTOP": '{"enabled": "maybe"}'}, False),
        ({"SHIMPROJ_DEBUG": "1", "SHIMPROJ_DJTOP": '{"enabled": 1}'}, False),
        ({"SHIMPROJ_DEBUG": "1", "DJTOP_ENABLED": "sure"}, False),
        ({"SHIMPROJ_DEBUG": "1", "SHIMPROJ_DJTOP": '["enabled"]'}, False),
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
import sys
import django

django.setup()
from django.test import Client
from djtop import transport
from djtop_testutil import wait_until

from django.db import connection
from djtop import capture, recording, relations, stacks
from djtop_testutil import LineServer
from asgiref.sync import SyncToAsync
from django.test.utils import CaptureQueriesContext

sink = transport.get()
wait_until(lambda: sink.down, what="a failed connection attempt")
waiting = sink.pending()
client = Client()
statuses = [client.get("/books/").status_code for _ in range(30)]
down = {
    "drops": sink.drops, "waiting": waiting, "pending": sink.pending(), "active": sink.active,
    # bare Django while nobody listens: no execute wrapper, no relation or sync_to_async hook
    "wrapped": capture._WRAPPER in connection.execute_wrappers,
    "relations": relations.installed(),
    "s2a": getattr(SyncToAsync.__call__, "_djtop", False),
}
# A collector appears: the next request to start is captured whole.
server = LineServer(("127.0.0.1", int(sys.argv[1])))
client.get("/books/")  # pokes the sender, not captured itself
wait_until(lambda: sink.active, what="the shim to reconnect")
with CaptureQueriesContext(connection) as django_saw:
    statuses.append(client.get("/books/?after=1").status_code)
assert transport.flush(5)


def ended():
    lines = server.connections[0] if server.connections else []
    return any(e["type"] == "end" for e in lines)


wait_until(ended, what="the request to arrive")
events = recording.inline(server.connections[0])
after = [e for e in events if e["type"] == "request" and e["path"] == "/books/?after=1"]
up = {
    "paths": [e["path"] for e in events if e["type"] == "request" and e["kind"] == "http"],
    "queries": len([e for e in events if e["type"] == "query" and e["rid"] == after[0]["rid"]]),
    "ends": len([e for e in events if e["type"] == "end" and e["rid"] == after[0]["rid"]]),
    "django": len(django_saw.captured_queries),
    "wrapped": capture._WRAPPER in connection.execute_wrappers,
    "relations": relations.installed(),
    "s2a": getattr(SyncToAsync.__call__, "_djtop", False),
}
server.close()
print(json.dumps({"statuses": statuses, "down": down, "up": up}))
"""


def test_requests_succeed_when_the_collector_is_down():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    env = {"DJTOP_ADDRESS": f"127.0.0.1:{port}", "SHIMPROJ_DJTOP": '{"queue_size": 20}'}
    proc = run_python(DOWN, env=env, args=[str(port)])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["statuses"] == [200] * 31
    # Once an attempt failed, nothing is captured: the 30 requests (9 events each) add
    # nothing to the queue and drop nothing; what start-up queued waits within its bound.
    down = result["down"]
    assert down["active"] is False
    assert down["pending"] == down["waiting"] <= 20
    assert down["drops"] == 0
    assert not down["wrapped"] and not down["relations"] and not down["s2a"]
    # Then a collector appears: hooks back in, and the request after the reconnect is whole.
    up = result["up"]
    assert up["wrapped"] and up["relations"] and up["s2a"]
    assert up["paths"] == ["/books/?after=1"], up["paths"]
    assert up["queries"] == up["django"] > 0 and up["ends"] == 1


FORK_WHILE_DOWN = r"""
import json
import os
import sys
import django

django.setup()
from django.db import connections
from django.test import Client
from djtop import recording, transport
from djtop_testutil import LineServer, wait_until

sink = transport.get()
wait_until(lambda: sink.down and not sink.hooked, what="a failed connection attempt")
connections.close_all()
pid = os.fork()
if pid == 0:
    # The child starts with the parent's state (hooks out, nobody reached): its first request
    # makes it try, and the one after it reconnected is captured.
    child = transport.get()
    server = LineServer(("127.0.0.1", int(sys.argv[1])))
    client = Client()
    client.get("/books/?child=poke")
    wait_until(lambda: child.active, what="the child to connect")
    client.get("/books/?child=1")
    assert transport.flush(5)
    wait_until(lambda: any(e["type"] == "end" for c in server.connections for e in c), what="end")
    events = recording.inline([e for c in server.connections for e in c])
    sid = child.sid
    print(json.dumps({
        "hellos": len([e for e in events if e["type"] == "hello" and e["sid"] == sid]),
        "paths": [e["path"] for e in events if e["type"] == "request" and e["sid"] == sid
                  and e["kind"] == "http"],
        "queries": len([e for e in events if e["type"] == "query" and e["sid"] == sid]),
    }), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_collector_was_down_connects_and_captures():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = run_python(FORK_WHILE_DOWN, env={"DJTOP_ADDRESS": f"127.0.0.1:{port}"}, args=[str(port)])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["hellos"] == 1
    assert result["paths"] == ["/books/?child=1"]
    assert result["queries"] > 0


@pytest.mark.parametrize(
    "djtop, warning",
    [
        ('{"enabled": "maybe"}', "DJTOP['enabled'] must be True or False, not 'maybe'"),
        ('{"queue_size": 1e400}', "DJTOP['queue_size'] must be an integer from 1 to 10000000"),
        ('{"queue_size": "12"}', "DJTOP['queue_size'] must be an integer"),
        ('{"stack_depth": true}', "DJTOP['stack_depth'] must be an integer"),
        ('{"explain_timeout": 1e400}', "DJTOP['explain_timeout'] must be a number of seconds"),
        ('{"stacks": "no thanks"}', "DJTOP['stacks'] must be True or False"),
        ('["enabled"]', "DJTOP must be a dict, not list; djtop is off"),
    ],
)
def test_bad_settings_warn_once_and_never_break_setup(tmp_path, djtop, warning):
    """A wrong type or an out-of-range number (float('inf') once made setup() fail with an
    OverflowError) gives one warning naming the key, and the app starts."""
    env = {"SHIMPROJ_DEBUG": "1", "SHIMPROJ_DJTOP": djtop, "DJTOP_RECORD": str(tmp_path / "r")}
    proc = run_python(REQUEST_ONCE, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["status"] == 200
    assert proc.stderr.count(warning) == 1, proc.stderr


@pytest.mark.parametrize(
    "address, problem",
    [
        ("127.0.0.1:99999", "port 99999 is not from 1 to 65535"),
        ("unix:", "unix: needs a path"),
        ("http://127.0.0.1:7878", "is a URL"),
        ("localhost", "must be HOST:PORT"),
    ],
)
def test_an_address_djtop_cannot_use_warns_and_turns_capture_off(address, problem):
    """Capture with nowhere to send used to queue and drop every statement, saying nothing."""
    proc = run_python(REQUEST_ONCE, env={"SHIMPROJ_DEBUG": "1", "DJTOP_ADDRESS": address})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {"status": 200, "transport": False, "wrapped": False}
    assert proc.stderr.count(f"DJTOP_ADDRESS={address!r}: {problem}") == 1, proc.stderr
