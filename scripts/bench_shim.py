"""Shim overhead per query: bare Django vs djtop vs django-debug-toolbar, measured interleaved.

Run by ``make bench`` (scripts/bench.sh) with the bench venv's Python::

    .bench-venv/bin/python scripts/bench_shim.py --djtop-bin target/release/djtop

One worker process per variant, each a real Django (benches/django) called through its WSGI
application (sync views) or its ASGI application (async views, ``await app(scope, receive,
send)``), one request at a time:

- ``bare``: nothing instruments the queries (DEBUG=True, as in the other variants);
- ``djtop``: the shim (python/ on sys.path), sending to a real ``djtop record`` process;
- ``djtop_down``: the shim with nothing listening at its address;
- ``toolbar``: django-debug-toolbar, SQL panel only (stack traces on, its default), shown on
  every request; the worker checks that the panel really recorded every query.

A round runs every scenario once in every variant (the variant order rotates each round);
the overhead per query of a variant is the median over rounds of
``(time(variant) - time(bare)) / queries``, paired within the round. Three times are taken per
request: ``wall`` (the request, as the client waits for it), and ``cpu``: the process CPU
time of all its threads over the request *and* until the shim's sender thread has written
every event (``flush``), so work the sender does after the response is counted too.

Nothing here asserts a time: the figures are printed and written as JSON lines for
benches/render.py.
"""

import argparse
import asyncio
import contextlib
import gc
import io
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "benches" / "django"
VARIANTS = ("bare", "djtop", "djtop_down", "toolbar")
# Ablations of the connected shim, to say where its time goes (--variants ...).
ABLATIONS = {
    "djtop_nostacks": {"stacks": False},
    "djtop_norel": {"relations": False},
    "djtop_min": {"stacks": False, "relations": False},
}
SCENARIOS = {
    # name: (path, async?, extra queries beyond N)
    "pk": ("/pk/", False, 0),
    "fk": ("/fk/", False, 1),
    "apk": ("/apk/", True, 0),
    "afk": ("/afk/", True, 1),
}
PG_ADMIN_DB = "test"


# -- the worker: one Django process per variant ---------------------------------------------


def worker_env(env, variant, live_port, dead_port):
    """A worker's environment: its collector address (a dead one for ``djtop_down``) and the
    DJTOP overrides of an ablation."""
    port = dead_port if variant == "djtop_down" else live_port
    return dict(
        env,
        BENCH_DJTOP_ADDRESS=f"127.0.0.1:{port}",
        BENCH_DJTOP_EXTRA=json.dumps(ABLATIONS.get(variant, {})),
    )


@contextlib.contextmanager
def sqlite_and_recorder(djtop_bin, queries, prefix):
    """For the diagnostics in benches/: a seeded SQLite database in a new temporary directory
    and a ``djtop record`` listening on a free port, for the ``with`` block. Yields (env for
    child processes, the database's path, the port); afterwards the recorder is stopped and
    the directory removed."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    recorder = None
    try:
        db_path = str(tmp / "bench.sqlite3")
        env = dict(os.environ, BENCH_DB="sqlite", BENCH_SQLITE_PATH=db_path, PYTHONHASHSEED="0")
        env["DJANGO_SETTINGS_MODULE"] = "benchproj.settings"
        setup_database(sys.executable, dict(env, BENCH_VARIANT="bare"), queries)
        port = free_port()
        recorder = subprocess.Popen(
            [djtop_bin, "record", "--listen", f"127.0.0.1:{port}", "--out", os.devnull],
            stderr=subprocess.DEVNULL,
        )
        wait_listening(port)
        yield env, db_path, port
    finally:
        if recorder is not None:
            recorder.terminate()
            try:
                recorder.wait(10)
            except subprocess.TimeoutExpired:
                recorder.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def setup_djtop_sqlite(port, db_path, queries, shim=None):
    """Set up Django in this process as a djtop worker on SQLite streaming to 127.0.0.1:port,
    with the shim from ``shim`` (a directory holding ``djtop``; default: this checkout's).
    For the diagnostics in benches/ that run their own child processes."""
    sys.path[:0] = [str(PROJECT), shim or str(ROOT / "python")]
    os.environ.update(
        BENCH_VARIANT="djtop",
        BENCH_DB="sqlite",
        BENCH_QUERIES=str(queries),
        BENCH_SQLITE_PATH=db_path,
        DJANGO_SETTINGS_MODULE="benchproj.settings",
        BENCH_DJTOP_ADDRESS=f"127.0.0.1:{port}",
        BENCH_DJTOP_EXTRA="{}",
    )
    import django

    django.setup()


def worker_main(variant):
    sys.path[:0] = [str(PROJECT), str(ROOT / "python")]
    os.environ["BENCH_VARIANT"] = variant
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
    import django

    django.setup()
    from django.core.asgi import get_asgi_application
    from django.core.wsgi import get_wsgi_application

    wsgi = get_wsgi_application()
    asgi = get_asgi_application()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    toolbar_counts = []
    if variant == "toolbar":
        from debug_toolbar.panels.sql.panel import SQLPanel

        original = SQLPanel.generate_stats

        def generate_stats(self, request, response):
            toolbar_counts.append(len(self._queries))
            return original(self, request, response)

        SQLPanel.generate_stats = generate_stats

    transport = None
    if variant.startswith("djtop"):
        from djtop import transport

    out = sys.stdout
    sys.stdout = sys.stderr  # only results on the pipe
    for line in sys.stdin:
        command = line.split()
        if not command:
            continue
        if command[0] == "quit":
            break
        if command[0] == "profile":
            out.write(json.dumps(profile(command[1], wsgi, asgi, loop)) + "\n")
            out.flush()
            continue
        if command[0] == "micro":
            out.write(json.dumps(micro()) + "\n")
            out.flush()
            continue
        path, is_async, _ = SCENARIOS[command[1]]
        gc.collect()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        c0 = time.process_time()
        t0 = time.perf_counter()
        if is_async:
            status, body = loop.run_until_complete(call_asgi(asgi, path))
        else:
            status, body = call_wsgi(wsgi, path)
        t1 = time.perf_counter()
        flushed = True
        if transport is not None:
            flushed = transport.flush(30.0)
        t2 = time.perf_counter()
        c1 = time.process_time()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        result = {
            "status": status,
            "wall": t1 - t0,
            "wall_flushed": t2 - t0,
            "cpu": c1 - c0,
            # what instruction counts cannot see: the kernel's share, page faults, switches
            "user": r1.ru_utime - r0.ru_utime,
            "sys": r1.ru_stime - r0.ru_stime,
            "minflt": r1.ru_minflt - r0.ru_minflt,
            "vcsw": r1.ru_nvcsw - r0.ru_nvcsw,
            "ivcsw": r1.ru_nivcsw - r0.ru_nivcsw,
            "flushed": flushed,
            "toolbar_inserted": b"djDebug" in body,
        }
        if toolbar_counts:
            result["toolbar_queries"] = toolbar_counts.pop()
        if transport is not None and transport.get() is not None:
            result["drops"] = transport.get().drops
        out.write(json.dumps(result) + "\n")
        out.flush()


def call_wsgi(app, path):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT": "text/html",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(int(s.split()[0]))

    response = app(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()
    return status[0], body


async def call_asgi(app, path):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"accept", b"text/html")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    first = True
    never = asyncio.get_running_loop().create_future()

    async def receive():
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await never  # no disconnect: Django cancels this when the response is sent
        return {"type": "http.disconnect"}

    status = []
    body = []

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0], b"".join(body)


def profile(scenario, wsgi, asgi, loop):
    """cProfile one request: the functions with the most own time."""
    import cProfile
    import pstats

    path, is_async, _ = SCENARIOS[scenario]
    profiler = cProfile.Profile()
    profiler.enable()
    if is_async:
        loop.run_until_complete(call_asgi(asgi, path))
    else:
        call_wsgi(wsgi, path)
    try:
        from djtop import transport

        transport.flush(30.0)
    except ImportError:
        pass
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _) in stats.stats.items():
        rows.append(
            {
                "function": f"{_short(file)}:{line}({name})",
                "calls": nc,
                "tottime_ms": tt * 1000,
                "cumtime_ms": ct * 1000,
            }
        )
    rows.sort(key=lambda r: -r["tottime_ms"])
    # the heaviest functions overall, then every shim function (python/djtop/)
    shim = [r for r in rows[25:] if "python/djtop/" in r["function"]]
    return rows[:25] + shim


def _short(file):
    for marker in ("site-packages/", "python/djtop/", "benches/django/", "lib/python3"):
        i = file.find(marker)
        if i >= 0:
            return file[i:]
    return file


def micro():
    """The shim's per-query steps timed alone, in this (djtop) worker: what one query costs."""
    import timeit

    from django.db import connection
    from djtop import capture, stacks, transport

    sink = transport.get()
    sql = 'SELECT "benchapp_author"."id", "benchapp_author"."name" FROM "benchapp_author" WHERE "benchapp_author"."id" = %s ORDER BY "benchapp_author"."id" ASC LIMIT 1'  # noqa: E501
    params = (7,)
    connection.ensure_connection()
    cursor = connection.cursor()
    # as stacks._walk leaves them: display path, code object, instruction offset
    here = sys._getframe()
    stack = ["benchapp/views.py", here.f_code, 20, "benchapp/views.py", here.f_code, 40]
    query_py = "django/db/models/query.py"
    lib = [query_py, here.f_code, 60, query_py, here.f_code, 80]
    # what capture._record hands to transport.Transport.emit_query
    event = ("0123456789abcdef-1", 1, "default", "sqlite", sql, (7,), False,
             1763730001256301000, 84100, 1, stack, lib, None,
             ("benchapp.Author", "first", {"pk": 7}), None)  # fmt: skip

    def nested(depth, fn):
        # a call stack like a view's: a few app frames above the ORM
        if depth == 0:
            return fn()
        return nested(depth - 1, fn)

    def per_call(stmt, number=20000):
        times = timeit.repeat(stmt, number=number, repeat=5)
        return min(times) / number * 1e6

    def execute(sql, params, many, context):
        return None

    class NullQueue:
        """Stands in for the transport's deque: the request thread's side is measured alone."""

        def __len__(self):
            return 0

        def append(self, item):
            pass

        def popleft(self):
            raise IndexError

    ctx = {"connection": connection, "cursor": cursor}
    saved = sink._queue
    results = {}
    try:
        sink._queue = NullQueue()
        results["wrapper_total_us"] = per_call(
            lambda: capture._WRAPPER(execute, sql, params, False, ctx)
        )
        results["stack_capture_us"] = per_call(
            lambda: nested(5, lambda: stacks.capture(sys._getframe(), None, None))
        )
        results["json_safe_params_us"] = per_call(lambda: capture.json_safe_params(params))
        sink.emit_query(*event)  # defines the SQL text and the frames once
        results["emit_us"] = per_call(lambda: sink.emit_query(*event))  # encoding included
    finally:
        sink._queue = saved
    encoder = transport.Transport("127.0.0.1:9")  # its own def table
    encoder._thread = True  # never started: the line stays in its queue
    encoder.emit_query(*event)
    results["event_bytes"] = len(encoder._queue[-1])
    return results


# -- the parent: databases, collector, workers, rounds --------------------------------------


class Worker:
    def __init__(self, python, variant, env, prefix=()):
        self.variant = variant
        self.proc = subprocess.Popen(
            [*prefix, python, str(Path(__file__).resolve()), "--worker", variant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )

    def ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.variant} died (see its stderr above)")
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def pg_admin(sql):
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname=PG_ADMIN_DB, autocommit=True
    ) as conn:
        conn.execute(sql)


def setup_database(python, env, n):
    code = (
        "import os, sys; sys.path[:0] = [os.environ['BENCH_PROJECT']];"
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from benchapp.models import Author, Book;"
        f"n = {n};"
        "Author.objects.bulk_create([Author(id=i, name=f'author {i}') for i in range(1, n + 1)]);"
        "Book.objects.bulk_create([Book(id=i, title=f'book {i}', author_id=i)"
        " for i in range(1, n + 1)])"
    )
    subprocess.run([python, "-c", code], env=dict(env, BENCH_PROJECT=str(PROJECT)), check=True)


def run_database(db, args, emit):
    python = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix=f"djtop-bench-{db}-"))
    env = dict(os.environ)
    env.update(
        BENCH_DB=db,
        BENCH_QUERIES=str(args.queries),
        BENCH_SQLITE_PATH=str(tmp / "bench.sqlite3"),
        BENCH_PG_NAME=args.pg_name,
        DJANGO_SETTINGS_MODULE="benchproj.settings",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("DJTOP_RECORD", None)
    env.pop("DJTOP_ADDRESS", None)
    env.pop("DJTOP_ENABLED", None)
    created_pg = False
    recorder = None
    workers = []
    try:
        if db == "postgres":
            pg_admin(f'DROP DATABASE IF EXISTS "{args.pg_name}"')
            pg_admin(f'CREATE DATABASE "{args.pg_name}"')
            created_pg = True
        setup_database(python, dict(env, BENCH_VARIANT="bare"), args.queries)

        live_port, dead_port = free_port(), free_port()
        recording = tmp / "recording.ndjson"
        recorder = subprocess.Popen(
            [
                args.djtop_bin,
                "record",
                "--listen",
                f"127.0.0.1:{live_port}",
                "--out",
                str(recording),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_listening(live_port)

        def start_workers():
            for variant in args.variants:
                wenv = worker_env(env, variant, live_port, dead_port)
                workers.append(Worker(python, variant, wenv))
            for _ in range(args.warmup):
                for scenario in args.scenarios:
                    for w in workers:
                        w.ask(f"run {scenario}")

        start_workers()
        samples = {(s, w.variant): [] for s in args.scenarios for w in workers}
        for r in range(args.rounds):
            if args.respawn and r and r % args.respawn == 0:
                # fresh processes: what one process happens to cost more than another (its
                # memory layout) is not carried through the whole run by one variant
                for w in workers:
                    w.close()
                del workers[:]
                start_workers()
            order = workers[r % len(workers) :] + workers[: r % len(workers)]
            for scenario in args.scenarios:
                for w in order:
                    samples[(scenario, w.variant)].append(w.ask(f"run {scenario}"))
            print(f"  {db}: round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

        extra = {}
        if args.profile:
            for w in workers:
                if w.variant in ("djtop", "djtop_down", "toolbar"):
                    extra[f"profile_{w.variant}"] = w.ask(f"profile {args.profile}")
        for w in workers:
            if w.variant == "djtop":
                extra["micro"] = w.ask("micro")
                extra["micro"]["vendor"] = db
    finally:
        for w in workers:
            w.close()
        recorded = None
        if recorder is not None:
            recorder.send_signal(signal.SIGTERM)
            try:
                recorder.wait(10)
            except subprocess.TimeoutExpired:
                recorder.kill()
            if (tmp / "recording.ndjson").exists():
                recorded = count_queries(tmp / "recording.ndjson")
        if created_pg:
            try:
                pg_admin(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)')
            except Exception as exc:  # say it, do not hide the results
                print(f"could not drop {args.pg_name}: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    return summarize(db, args, samples, recorded, extra, emit)


def count_queries(path):
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b'{"type":"query"'):
                n += 1
    return n


def summarize(db, args, samples, recorded, extra, emit):
    prefix = f"shim.{args.tag}" if args.tag else "shim"
    rows = []
    for scenario in args.scenarios:
        path, is_async, plus = SCENARIOS[scenario]
        n = args.queries + plus
        bare = samples[(scenario, "bare")]
        for s in bare:
            assert s["status"] == 200, s
        row = {
            "db": db,
            "scenario": scenario,
            "async": is_async,
            "queries": n,
            "rounds": args.rounds,  # with --queries, what benches/render.py's Command says
            "per_request": args.queries,
            "bare_wall_ms": statistics.median(s["wall"] for s in bare) * 1000,
            "bare_cpu_ms": statistics.median(s["cpu"] for s in bare) * 1000,
            "bare_raw": [[round(s["wall"], 5), round(s["cpu"], 5)] for s in bare],
        }
        for variant in args.variants:
            if variant == "bare":
                continue
            runs = samples[(scenario, variant)]
            for s in runs:
                if s["status"] != 200:
                    raise RuntimeError(f"{variant} {scenario}: status {s['status']}")
            for key in ("wall", "cpu", "user", "sys"):
                diffs = [(v[key] - b[key]) / n * 1e6 for v, b in zip(runs, bare)]
                row[f"{variant}_{key}_us"] = statistics.median(diffs)
            # per query, over bare: what an instruction count cannot see
            for key in ("minflt", "vcsw", "ivcsw"):
                diffs = [(v[key] - b[key]) / n for v, b in zip(runs, bare)]
                row[f"{variant}_{key}_per_query"] = statistics.median(diffs)
            row[f"{variant}_wall_ms"] = statistics.median(s["wall"] for s in runs) * 1000
            row[f"{variant}_cpu_ms"] = statistics.median(s["cpu"] for s in runs) * 1000
            row[f"{variant}_raw"] = [[round(s["wall"], 5), round(s["cpu"], 5)] for s in runs]
            if variant == "toolbar":
                counts = {s.get("toolbar_queries") for s in runs}
                row["toolbar_recorded"] = sorted(c for c in counts if c is not None)
                row["toolbar_inserted"] = all(s["toolbar_inserted"] for s in runs)
            if variant.startswith("djtop"):
                row[f"{variant}_drops"] = max(s.get("drops", 0) for s in runs)
                row[f"{variant}_flushed"] = all(s["flushed"] for s in runs)
        if "djtop" in args.variants and "toolbar" in args.variants:
            for key in ("wall", "cpu"):
                d = row[f"djtop_{key}_us"]
                row[f"toolbar_over_djtop_{key}"] = row[f"toolbar_{key}_us"] / d if d > 0 else None
        rows.append(row)
        emit({"id": f"{prefix}.{db}.{scenario}", **row})
    if recorded is not None:
        expected = sum(
            (args.queries + SCENARIOS[s][2]) * (args.rounds + args.warmup) for s in args.scenarios
        )
        if args.profile:
            expected += args.queries + SCENARIOS[args.profile][2]
        emit({"id": f"{prefix}.{db}.recorded", "recorded": recorded, "sent": expected})
    for key, value in extra.items():
        emit({"id": f"{prefix}.{db}.{key}", "value": value})
    return rows


def print_table(rows, variants):
    others = [v for v in variants if v != "bare"]
    head = f"{'db':8} {'view':5} {'N':>5} {'bare ms':>8} {'(cpu)':>7}"
    for v in others:
        head += f" | {v + ' µs/q':>18} {'(cpu)':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        line = (
            f"{r['db']:8} {r['scenario']:5} {r['queries']:5d} {r['bare_wall_ms']:8.1f} "
            f"{r['bare_cpu_ms']:7.1f}"
        )
        for v in others:
            line += f" | {r[v + '_wall_us']:18.2f} {r[v + '_cpu_us']:6.2f}"
        print(line)
        split = ", ".join(
            f"{v} {r[v + '_user_us']:+.1f} user / {r[v + '_sys_us']:+.1f} sys µs, "
            f"{r[v + '_minflt_per_query']:+.3f} faults, {r[v + '_vcsw_per_query']:+.3f} switches"
            for v in others
        )
        print(f"{'':20} per query over bare: {split}")
        if "toolbar" in others and "djtop" in others:
            print(
                f"{'':20} toolbar ÷ djtop: wall {r.get('toolbar_over_djtop_wall') or 0:.1f}, "
                f"CPU {r.get('toolbar_over_djtop_cpu') or 0:.1f}"
            )


def instructions(args, emit):
    """Instructions per query (valgrind callgrind, all threads): insensitive to the machine's
    load. Each variant's worker runs under callgrind twice, with 1 and with 3 measured
    requests (after one warm-up); the difference is two requests' worth."""
    python = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="djtop-bench-cg-"))
    env = dict(os.environ)
    env.update(
        BENCH_DB="sqlite",
        BENCH_QUERIES=str(args.queries),
        BENCH_SQLITE_PATH=str(tmp / "bench.sqlite3"),
        DJANGO_SETTINGS_MODULE="benchproj.settings",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",  # the same dict layouts in every run: counts differ by djtop only
    )
    for key in ("DJTOP_RECORD", "DJTOP_ADDRESS", "DJTOP_ENABLED"):
        env.pop(key, None)
    recorder = None
    out = {}
    try:
        setup_database(python, dict(env, BENCH_VARIANT="bare"), args.queries)
        live_port, dead_port = free_port(), free_port()
        recorder = subprocess.Popen(
            [args.djtop_bin, "record", "--listen", f"127.0.0.1:{live_port}", "--out", os.devnull],
            stderr=subprocess.DEVNULL,
        )
        wait_listening(live_port)
        for scenario in args.scenarios:
            n = args.queries + SCENARIOS[scenario][2]
            for variant in args.variants:
                wenv = worker_env(env, variant, live_port, dead_port)
                totals = []
                for k in (1, 3):
                    cg = tmp / f"cg.{variant}.{scenario}.{k}"
                    prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}"]
                    if variant == "djtop_down":
                        # The app's thread only: the sender's retries while nobody listens
                        # are paced by the clock, and valgrind runs the app ~50x slower, so
                        # counting them per query would inflate them ~50x (measured apart).
                        prefix.append("--separate-threads=yes")
                    w = Worker(python, variant, wenv, prefix)
                    try:
                        for _ in range(1 + k):
                            result = w.ask(f"run {scenario}")
                            assert result["status"] == 200, result
                    finally:
                        w.close()
                    w.proc.wait()
                    totals.append(callgrind_total(cg))
                per_query = (totals[1] - totals[0]) / (2 * n)
                out[(scenario, variant)] = per_query
                print(f"  {scenario} {variant}: {per_query:,.0f} instructions/query", flush=True)
            bare = out[(scenario, "bare")]
            record = {"id": f"shim.instructions.sqlite.{scenario}", "queries": n}
            for variant in args.variants:
                record[f"{variant}_ir"] = out[(scenario, variant)] - bare
            record["bare_ir_total"] = bare
            if "djtop" in args.variants and "toolbar" in args.variants:
                record["toolbar_over_djtop"] = record["toolbar_ir"] / record["djtop_ir"]
            emit(record)
    finally:
        if recorder is not None:
            recorder.send_signal(signal.SIGTERM)
            recorder.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def callgrind_total(path):
    path = Path(path)
    main_thread = path.with_name(path.name + "-01")  # --separate-threads: one file per thread
    if main_thread.exists():
        path = main_thread
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--djtop-bin", default=str(ROOT / "target" / "release" / "djtop"))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--dbs", default="sqlite,postgres")
    parser.add_argument("--scenarios", default="pk,fk,apk,afk")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--pg-name", default="djtop_bench")
    parser.add_argument("--profile", default="pk", help="scenario to cProfile once ('' for none)")
    parser.add_argument("--json", help="append results as JSON lines to this file")
    parser.add_argument("--tag", default="", help="ids become shim.TAG.db.view")
    parser.add_argument(
        "--respawn", type=int, default=0, help="fresh worker processes every N rounds (0: never)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per query under valgrind (SQLite) instead of timing",
    )
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker)
        return
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.variants = [v for v in args.variants.split(",") if v]
    if "bare" not in args.variants:
        args.variants.insert(0, "bare")
    out = open(args.json, "a") if args.json else None  # noqa: SIM115

    def emit(record):
        record["date"] = time.strftime("%Y-%m-%d")
        if out is not None:
            out.write(json.dumps(record) + "\n")
            out.flush()

    if args.instructions:
        instructions(args, emit)
        if out is not None:
            out.close()
        return
    rows = []
    for db in [d for d in args.dbs.split(",") if d]:
        if db == "postgres":
            try:
                pg_admin("SELECT 1")
            except Exception as exc:
                print(f"SKIPPED postgres: cannot reach 127.0.0.1:5432 ({exc})", file=sys.stderr)
                continue
        rows += run_database(db, args, emit)
    print_table(rows, args.variants)
    if out is not None:
        out.close()


if __name__ == "__main__":
    main()
