"""What each part of the shim costs, switched on and off request by request in one process.

A diagnostic beside scripts/bench_shim.py (not part of ``make bench``). bench_shim compares
separate worker processes (bare Django, djtop, the toolbar), so a figure there also holds
whatever differs between two processes (memory layout, what else is imported); here one
Django process (benches/django, SQLite, DEBUG on, the shim streaming to a real ``djtop
record``) runs the view once per mode per round, the modes in a rotating order, and each
mode's CPU time per query is compared with the wrapper taken out altogether:

- ``nowrapper``: no execute wrapper, no relation hooks (what a process whose collector is
  down runs);
- ``inactive``: the wrapper in, returning at once (``Transport.active`` false);
- ``min``: capture without stack walks and relation hooks;
- ``noexplain``: ``min`` without remembering statements for EXPLAIN;
- ``nostacks`` / ``norel``: everything but the stack walk / the relation hooks;
- ``explain1``: everything, with an EXPLAIN memory of one statement;
- ``parked``: everything, with the sender thread asleep until the request has ended (no
  ``WAKE_AT`` or ``LATENCY`` wake-ups during it): what the sender's hand-offs of the GIL cost
  the request;
- ``full``: everything (the defaults).

Run it with the bench venv, after ``make bench`` built it (or ``scripts/bench.sh`` once)::

    .bench-venv/bin/python benches/shim_parts.py --rounds 14 --scenarios pk,fk

Nothing here asserts a time; the machine's other load moves every figure.
"""

import argparse
import gc
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts")]

import bench_shim  # noqa: E402  (the views, the WSGI call, the database seeding)

MODES = (
    "nowrapper",
    "inactive",
    "min",
    "noexplain",
    "nostacks",
    "norel",
    "explain1",
    "parked",
    "full",
)


def app_call(scenario):
    """The view's path, its statements per request, and a function making one request the
    way the server would (WSGI, or the ASGI application as uvicorn calls it)."""
    import asyncio

    from django.core.asgi import get_asgi_application
    from django.core.wsgi import get_wsgi_application

    path, is_async, extra = bench_shim.SCENARIOS[scenario]
    if is_async:
        asgi = get_asgi_application()
        loop = asyncio.new_event_loop()

        def call():
            return loop.run_until_complete(bench_shim.call_asgi(asgi, path))
    else:
        wsgi = get_wsgi_application()

        def call():
            return bench_shim.call_wsgi(wsgi, path)

    return call, extra


def switcher():
    """A function putting the running shim in one of MODES (after a first request)."""
    from djtop import capture, explain, relations, transport

    sink = transport.get()
    wake_at, latency = transport.WAKE_AT, transport.LATENCY

    def switch(mode):
        relations.install()
        capture._relations = relations
        capture._stacks_on = True
        capture._explain = explain
        explain.configure(True, explain.MEMORY)
        sink.active = True
        for connection in list(capture._connections):  # per thread: asgiref's has its own
            capture._insert_wrapper(connection)
        if mode in ("nowrapper", "inactive", "min", "noexplain", "norel"):
            relations.uninstall()
            capture._relations = None
        if mode in ("nowrapper", "inactive"):
            sink.active = False
        if mode == "nowrapper":
            for connection in list(capture._connections):
                capture._remove_wrapper(connection)
        if mode in ("min", "noexplain", "nostacks"):
            capture._stacks_on = False
        if mode == "noexplain":
            capture._explain = None
        if mode == "explain1":
            explain.configure(True, 1)
        parked = mode == "parked"  # read by the sender at each wait, by emit_query per query
        transport.WAKE_AT, transport.LATENCY = (1 << 30, 1e6) if parked else (wake_at, latency)
        if not parked:
            sink.poke()  # a sender parked by the last mode waits for LATENCY no longer

    return switch


def child(scenario, rounds, port, db_path, queries, modes):
    bench_shim.setup_djtop_sqlite(port, db_path, queries)
    from djtop import transport

    call, extra = app_call(scenario)
    n = queries + extra
    assert call()[0] == 200 and transport.flush(30.0)
    switch = switcher()

    times = {mode: [] for mode in modes}
    for round_ in range(rounds):
        for mode in modes[round_ % len(modes) :] + modes[: round_ % len(modes)]:
            switch(mode)
            gc.collect()
            c0 = time.process_time()
            status, _body = call()
            assert status == 200 and transport.flush(30.0), "the sender did not catch up"
            times[mode].append((time.process_time() - c0) / n * 1e6)
    switch("full")
    base = statistics.median(times["nowrapper"])
    for mode in modes:
        median = statistics.median(times[mode])
        print(f"{scenario:3s} {mode:10s} {median:7.1f} µs/query   {median - base:+6.1f} µs/query")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--djtop-bin", default=str(ROOT / "target" / "release" / "djtop"))
    parser.add_argument("--rounds", type=int, default=14)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--scenarios", default="pk,fk")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    modes = tuple(args.modes.split(","))
    if "nowrapper" not in modes:
        modes = ("nowrapper", *modes)
    if args.child:
        scenario, rounds, port, db_path = args.child
        child(scenario, int(rounds), int(port), db_path, args.queries, modes)
        return
    print(f"median of {args.rounds} requests per mode; the second column is over 'nowrapper'")
    with bench_shim.sqlite_and_recorder(args.djtop_bin, args.queries, "djtop-parts-") as (
        env,
        db_path,
        port,
    ):
        for scenario in args.scenarios.split(","):
            command = [sys.executable, __file__, "--queries", str(args.queries), "--modes"]
            command += [",".join(modes), "--child", scenario, str(args.rounds), str(port), db_path]
            subprocess.run(command, env=env, check=True)


if __name__ == "__main__":
    main()
