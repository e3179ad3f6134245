"""Real processes for the end-to-end tests: `djtop record`, a project under runserver and uvicorn.

Nothing here is mocked: the collector is the built binary, the servers are Django's runserver
(WSGI) and uvicorn (ASGI) running a project with the shim (the demo unless told otherwise), over
real sockets.
"""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from djtop import recording

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo"
HERE = Path(__file__).resolve().parent


def djtop_bin():
    path = Path(os.environ.get("DJTOP_BIN", ROOT / "target" / "release" / "djtop"))
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: build it with `cargo build --release`")
    return str(path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(tmp, **extra):
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(DEMO), str(HERE), str(ROOT / "python")]),
            "DJTOP_DEMO_DB": str(tmp / "demo.sqlite3"),
            "DJANGO_SETTINGS_MODULE": "e2e_ref.settings",
            "DJTOP_E2E_REF_DIR": str(tmp / "ref"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("DJTOP_RECORD", None)
    env.update(extra)
    (tmp / "ref").mkdir(exist_ok=True)
    return env


def project_env(project, settings, **extra):
    """The environment for running `project` (a directory holding manage.py) with `settings`,
    the shim imported from the source checkout; DJTOP_* variables of this process left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJTOP_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(project), str(ROOT / "python")]),
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def manage(project, env, *args):
    """`manage.py *args` of `project`; its stdout. Raises with the output when it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=project, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def seed(tmp):
    env = base_env(tmp, DJTOP_ENABLED="0")
    for cmd in (["migrate", "-v0"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *cmd], cwd=DEMO, env=env, check=True, capture_output=True
        )


class Recorder:
    """`djtop record` on a free port (or a given one), writing to `out`."""

    def __init__(self, out, port=None):
        self.out = out
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [djtop_bin(), "record", "--listen", self.address, "--out", str(out)],
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stderr.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"djtop record did not start: {line!r}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)


class Server:
    """A project under runserver (`wsgi`) or uvicorn (`asgi`), with the shim.

    The demo by default; another project is its directory (`project`, holding manage.py), its
    ASGI application (`asgi_app`) and the environment to run it in (`env`, e.g. from
    project_env()). Either way `/` must answer 200 once the server is ready.
    """

    def __init__(
        self,
        kind,
        tmp,
        address,
        log_name=None,
        project=DEMO,
        asgi_app="demo.asgi:application",
        env=None,
    ):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(base_env(tmp) if env is None else env, DJTOP_ADDRESS=address)
        if kind == "wsgi":
            cmd = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        else:
            cmd = [
                sys.executable, "-m", "uvicorn", asgi_app,
                "--port", str(self.port), "--log-level", "warning",
            ]  # fmt: skip
        self.log = tmp / (log_name or f"{kind}.log")
        self.proc = subprocess.Popen(
            cmd, cwd=project, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.base + "/", timeout=2).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not start:\n{self.log.read_text()}") from None
                time.sleep(0.1)

    def get(self, path, timeout=30, headers=None):
        request = urllib.request.Request(self.base + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as r:
            r.read()
            return r.status

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.log.read_text()


def read_events(path):
    """A recording's events, v2 references resolved (djtop.recording). The file is read in one
    go and a last line without its newline (a running recorder's write in progress) is left
    for the next read."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")[:-1]  # after the last newline: incomplete, or nothing
    return recording.inline([json.loads(line) for line in lines if line.strip()])


def requests_by_ref(events, param="e2e"):
    """{id: {"request": ..., "end": ..., "queries": [...]}} from a recording, for the requests
    whose query string has `<param>=<id>`."""
    by_rid = {}
    for ev in events:
        if ev["type"] == "request":
            by_rid.setdefault((ev["sid"], ev["rid"]), {"queries": []})["request"] = ev
        elif ev["type"] == "end":
            by_rid.setdefault((ev["sid"], ev["rid"]), {"queries": []})["end"] = ev
        elif ev["type"] == "query":
            by_rid.setdefault((ev["sid"], ev["rid"]), {"queries": []})["queries"].append(ev)
    out = {}
    for entry in by_rid.values():
        req = entry.get("request")
        ref = req and query_param(req["path"], param)
        if ref:
            out[ref] = entry
    return out, by_rid


def query_param(path, param):
    """The value of `param` in a request path's query string, or None."""
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get(param)
    return values[0] if values else None


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


_quoter = sqlite3.connect(":memory:")


def render_sqlite(sql, params):
    """What Django's SQLite backend records for (sql, params): `last_executed_query`, which
    quotes each param with SQLite's QUOTE() and substitutes it for `%s`."""
    if not params:
        return sql
    quoted = [
        _quoter.execute("SELECT QUOTE(?)", (p,)).fetchone()[0] if not isinstance(p, dict) else "X''"
        for p in params
    ]
    return sql % tuple(quoted)


# ``# callsite: NAME`` in Python, ``{# callsite: NAME #}`` in a template; also owner/queryset.
MARKER = re.compile(r"#\s*(owner|callsite|queryset):\s*(\w+)\s*(#\})?$")


def markers(project, files):
    """{(kind, NAME): "file:line"} of the marker comments in ``files``, each file named as
    djtop names it (relative to ``project``, the root). A marker twice is an error."""
    found = {}
    for path in files:
        rel = path.relative_to(project).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            m = MARKER.search(line)
            if m:
                key = (m.group(1), m.group(2))
                assert key not in found, f"marker {key} twice ({found[key]}, {rel}:{number})"
                found[key] = f"{rel}:{number}"
    return found
