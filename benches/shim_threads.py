"""Where the shim's CPU time goes between the app's thread and djtop's threads.

A diagnostic beside scripts/bench_shim.py (not part of ``make bench``): one Django process
(benches/django, SQLite, DEBUG on) with the shim streaming to a real ``djtop record``,
running one view per request. Per request it reads the process CPU time (all threads) and
the request thread's own CPU time (``time.thread_time``, over the request only); the rest is
djtop's threads (the sender, mostly), up to the moment the sender has written every event;
and the wall-clock time over the same span. The median over the requests is printed per
query.

``--shims`` compares shim versions side by side (each a directory holding a ``djtop``
package, e.g. a copy of an older ``python/``): the processes take turns, round after round,
so the machine's other load falls on each alike. Run it with the bench venv, after ``make
bench`` built it (or ``scripts/bench.sh`` once)::

    .bench-venv/bin/python benches/shim_threads.py --shims /tmp/old/python,python

Nothing here asserts a time; the machine's other load moves every figure.
"""

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts")]

import bench_shim  # noqa: E402  (the views, the WSGI call, the database seeding)


def child(shim, scenario, requests, port, db_path, queries):
    """One Django process with the shim from ``shim``; prints one result line (JSON)."""
    bench_shim.setup_djtop_sqlite(port, db_path, queries, shim)
    from django.core.wsgi import get_wsgi_application
    from djtop import transport

    assert Path(transport.__file__).resolve().is_relative_to(Path(shim).resolve())
    app = get_wsgi_application()
    path = bench_shim.SCENARIOS[scenario][0]
    n = queries + bench_shim.SCENARIOS[scenario][2]
    rows = []
    for i in range(requests + 2):  # two warm-up requests
        gc.collect()
        w0, c0, t0 = time.perf_counter(), time.process_time(), time.thread_time()
        status, _body = bench_shim.call_wsgi(app, path)
        t1 = time.thread_time()
        assert status == 200 and transport.flush(30.0), "the sender did not catch up"
        c1, w1 = time.process_time(), time.perf_counter()
        if i >= 2:
            rows.append(((c1 - c0) / n, (t1 - t0) / n, (w1 - w0) / n))
    rows.sort()
    process, app_thread, _wall = rows[len(rows) // 2]
    wall = statistics.median(r[2] for r in rows)
    print(json.dumps({"process": process, "app": app_thread, "wall": wall}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--djtop-bin", default=str(ROOT / "target" / "release" / "djtop"))
    parser.add_argument("--requests", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--scenarios", default="pk,fk")
    parser.add_argument("--shims", default=str(ROOT / "python"), help="comma-separated dirs")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        shim, scenario, port, db_path, requests = args.child
        child(shim, scenario, int(requests), int(port), db_path, args.queries)
        return
    shims = [str(Path(d).resolve()) for d in args.shims.split(",")]
    results = {}  # (scenario, shim) -> [(process, app thread)] per round
    with bench_shim.sqlite_and_recorder(args.djtop_bin, args.queries, "djtop-threads-") as (
        env,
        db_path,
        port,
    ):
        for round_ in range(args.rounds):
            for scenario in args.scenarios.split(","):
                for shim in shims[round_ % len(shims) :] + shims[: round_ % len(shims)]:
                    command = [sys.executable, __file__, "--queries", str(args.queries)]
                    command += ["--child", shim, scenario, str(port), db_path, str(args.requests)]
                    out = subprocess.run(command, env=env, check=True, capture_output=True)
                    row = json.loads(out.stdout.decode().strip().splitlines()[-1])
                    results.setdefault((scenario, shim), []).append(
                        (row["process"], row["app"], row["wall"])
                    )
    print(f"median of {args.rounds} rounds, each the median of {args.requests} requests:")
    for (scenario, shim), rows in results.items():
        process = statistics.median(r[0] for r in rows) * 1e6
        app = statistics.median(r[1] for r in rows) * 1e6
        wall = statistics.median(r[2] for r in rows) * 1e6
        print(
            f"{scenario:3s} {shim}: process {process:7.1f} µs/query = app thread {app:7.1f} "
            f"+ djtop's threads {process - app:5.1f}; wall {wall:7.1f}   (CPU by round: "
            + " ".join(f"{r[0] * 1e6:.1f}" for r in rows)
            + ")"
        )


if __name__ == "__main__":
    main()
