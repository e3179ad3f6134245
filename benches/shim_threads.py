"""Where the shim's CPU time goes between the app's thread and djtop's sender thread.

A diagnostic beside scripts/bench_shim.py (not part of ``make bench``): one Django process
(benches/django, SQLite, DEBUG on) with the shim streaming to a real ``djtop record``,
running one view per request. Per request it reads the process CPU time (all threads) and
the request thread's own CPU time (``time.thread_time``, over the request only); the rest is
djtop's threads (the sender, mostly), up to the moment the sender has written every event.
The median over the requests is printed per query, for three set-ups of the sender:

- ``as is``: what ships;
- ``no encoding``: the sender takes each event off the queue and writes a bare newline
  (what handling an event costs without encoding it);
- ``encoding timed``: as is, and each ``_encode_query`` call timed with the sender thread's
  CPU clock (two more clock reads per event: an upper bound).

Run it with the bench venv, after ``make bench`` built it (or ``scripts/bench.sh`` once)::

    .bench-venv/bin/python benches/shim_threads.py --djtop-bin target/release/djtop

Nothing here asserts a time; the machine's other load moves every figure.
"""

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts")]

import bench_shim  # noqa: E402  (the views, the WSGI call, the database seeding)


def child(mode, scenario, requests, port, db_path, queries):
    """One Django process: ``mode`` picks the sender's set-up; prints one result line."""
    sys.path[:0] = [str(bench_shim.PROJECT), str(ROOT / "python")]
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
    from django.core.wsgi import get_wsgi_application
    from djtop import transport

    app = get_wsgi_application()
    timed = [0, 0]
    if mode == "no encoding":
        transport.Transport._encode_query = lambda self, q, emit_def: b"\n"
    elif mode == "encoding timed":
        original = transport.Transport._encode_query

        def encode_query(self, q, emit_def):
            t0 = time.thread_time_ns()
            line = original(self, q, emit_def)
            timed[0] += time.thread_time_ns() - t0
            timed[1] += 1
            return line

        transport.Transport._encode_query = encode_query
    path = bench_shim.SCENARIOS[scenario][0]
    n = queries + bench_shim.SCENARIOS[scenario][2]
    rows = []
    for i in range(requests + 2):  # two warm-up requests
        gc.collect()
        timed[:] = [0, 0]
        c0, t0 = time.process_time(), time.thread_time()
        status, _body = bench_shim.call_wsgi(app, path)
        t1 = time.thread_time()
        assert status == 200 and transport.flush(30.0), "the sender did not catch up"
        c1 = time.process_time()
        if i >= 2:
            rows.append(((c1 - c0) / n, (t1 - t0) / n, timed[0] / max(timed[1], 1) / 1e9))
    rows.sort()
    process, app_thread, encode = rows[len(rows) // 2]
    line = (
        f"{scenario:3s} {mode:15s} process {process * 1e6:7.1f} µs/query = app thread "
        f"{app_thread * 1e6:7.1f} + djtop's threads {(process - app_thread) * 1e6:5.1f}"
    )
    if mode == "encoding timed":
        line += f" (of which _encode_query {encode * 1e6:.1f})"
    print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--djtop-bin", default=str(ROOT / "target" / "release" / "djtop"))
    parser.add_argument("--requests", type=int, default=9)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--scenarios", default="pk,fk")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, scenario, port, db_path, requests = args.child
        child(mode, scenario, int(requests), int(port), db_path, args.queries)
        return
    tmp = Path(tempfile.mkdtemp(prefix="djtop-threads-"))
    db_path = str(tmp / "bench.sqlite3")
    env = dict(os.environ, BENCH_DB="sqlite", BENCH_SQLITE_PATH=db_path, PYTHONHASHSEED="0")
    env["DJANGO_SETTINGS_MODULE"] = "benchproj.settings"
    bench_shim.setup_database(sys.executable, dict(env, BENCH_VARIANT="bare"), args.queries)
    port = bench_shim.free_port()
    recorder = subprocess.Popen(
        [args.djtop_bin, "record", "--listen", f"127.0.0.1:{port}", "--out", os.devnull],
        stderr=subprocess.DEVNULL,
    )
    try:
        bench_shim.wait_listening(port)
        for scenario in args.scenarios.split(","):
            for mode in ("as is", "no encoding", "encoding timed"):
                command = [sys.executable, __file__, "--queries", str(args.queries), "--child"]
                command += [mode, scenario, str(port), db_path, str(args.requests)]
                subprocess.run(command, env=env, check=True)
    finally:
        recorder.terminate()
        recorder.wait(10)


if __name__ == "__main__":
    main()
