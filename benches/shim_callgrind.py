"""Where the shim's instructions go, function by function, in one process under callgrind.

A diagnostic beside scripts/bench_shim.py (not part of ``make bench``). bench_shim's
``--instructions`` gives each variant's total per query, from separate processes. Here one
Django process (benches/django, SQLite, DEBUG on, the shim streaming to a real ``djtop
record``) runs a view under valgrind's callgrind, either with the shim on (``full``) or with
everything taken out after the warm-up (``bare``: no execute wrapper, no relation hooks), or
in one of benches/shim_parts.py's modes (``norel``, ``nostacks``, ``min``, ...), and
each shim version given (``--shims``: directories holding a ``djtop`` package, e.g. a copy of
an older ``python/``) is counted the same way. Each set-up runs twice, with 1 and with 3
measured requests after the warm-up, so that start-up cancels out: per query is the
difference over two requests' queries. Then the interpreter's and the C library's functions
are compared between the first set-up and each other one, by their own (exclusive) cost per
query: which C functions a change in the shim made busier or quieter (the bytecode loop,
dict lookups, attribute reads, allocation, ...), which a bytecode count cannot say.

Instruction counts do not depend on the machine's load (PYTHONHASHSEED is fixed; the counts
still move by ~1-2 thousand per query between runs, with the sender thread's timing). Run it
with the bench venv, after ``make bench`` built it (or ``scripts/bench.sh`` once)::

    .bench-venv/bin/python benches/shim_callgrind.py --modes bare,full
    .bench-venv/bin/python benches/shim_callgrind.py --shims /tmp/old/python,python

``--json FILE`` writes each mode's instructions per query by function, which
benches/shim_perf.py sets beside their time.

Nothing here asserts anything; it prints.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts")]

import bench_shim  # noqa: E402  (the views, the WSGI call, the database seeding)


def child(shim, mode, scenario, measured, port, db_path, queries):
    """One Django process: warm up, set ``mode``, run ``measured`` requests."""
    bench_shim.setup_djtop_sqlite(port, db_path, queries, shim)
    from django.core.wsgi import get_wsgi_application
    from djtop import capture, transport

    app = get_wsgi_application()
    path = bench_shim.SCENARIOS[scenario][0]
    for _ in range(3):
        assert bench_shim.call_wsgi(app, path)[0] == 200 and transport.flush(30.0)
    if mode == "bare":  # as the shim leaves the app while nobody listens
        transport.get().active = False
        capture._while_listened(False)
    elif mode != "full":  # one of shim_parts' modes
        sys.path[:0] = [str(ROOT / "benches")]
        import shim_parts

        shim_parts.switcher()(mode)
    for _ in range(measured):
        assert bench_shim.call_wsgi(app, path)[0] == 200 and transport.flush(30.0)


_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.+?)(?:\s+\[[^\]]*\])?$")


def functions(path):
    """Own cost by function (file:function, the build directory cut off) of a callgrind file."""
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    costs = collections.Counter()
    for line in out.splitlines():
        match = _LINE.match(line)
        if match and (":" in match.group(2) or match.group(2) == "PROGRAM TOTALS"):
            name = match.group(2)
            build = name.find("/Python-3.")  # CPython's build directory: from its root on
            if build >= 0:
                name = name[name.index("/", build + 1) + 1 :]
            costs[name] += int(match.group(1).replace(",", ""))
    return costs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--djtop-bin", default=str(ROOT / "target" / "release" / "djtop"))
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--scenario", default="pk", choices=("pk", "fk"))
    parser.add_argument("--shims", default=str(ROOT / "python"), help="comma-separated dirs")
    parser.add_argument(
        "--modes", default="full", help="comma-separated: bare, full, or shim_parts' modes"
    )
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--json", help="write each mode's instructions per query by function")
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        shim, mode, scenario, measured, port, db_path, queries = args.child
        child(shim, mode, scenario, int(measured), int(port), db_path, int(queries))
        return

    shims = [str(Path(s).resolve()) for s in args.shims.split(",")]
    setups = [(shim, mode) for shim in shims for mode in args.modes.split(",")]

    def run(job):
        (shim, mode), measured = job
        out = tmp / f"cg.{setups.index((shim, mode))}.{measured}"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            shim,
            mode,
            args.scenario,
            str(measured),
            str(port),
            db_path,
            str(args.queries),
        ]
        subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
        return job, functions(out)

    jobs = [(setup, measured) for setup in setups for measured in (1, 3)]
    with bench_shim.sqlite_and_recorder(args.djtop_bin, args.queries, "djtop-callgrind-") as (
        env,
        db_path,
        port,
    ):
        tmp = Path(db_path).parent  # the callgrind files go beside the database, and with it
        env = dict(env, PYTHONDONTWRITEBYTECODE="1")
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            counted = dict(pool.map(run, jobs))

    n = 2 * (args.queries + bench_shim.SCENARIOS[args.scenario][2])
    per_query = {}
    for setup in setups:
        one, three = counted[(setup, 1)], counted[(setup, 3)]
        per_query[setup] = {k: (three[k] - one[k]) / n for k in set(one) | set(three)}
    if args.json:  # for benches/shim_perf.py --instructions
        with open(args.json, "w") as out:
            json.dump({mode: per_query[(shim, mode)] for shim, mode in setups}, out)
    base = setups[0]
    for setup in setups:
        total = per_query[setup].get("PROGRAM TOTALS", 0)
        print(f"{setup[1]:5s} {setup[0]}: {total:,.0f} instructions per query")
    for setup in setups[1:]:
        diff = collections.Counter()
        for name in set(per_query[base]) | set(per_query[setup]):
            if name != "PROGRAM TOTALS":
                diff[name] = per_query[setup].get(name, 0) - per_query[base].get(name, 0)
        total = per_query[setup].get("PROGRAM TOTALS", 0) - per_query[base].get("PROGRAM TOTALS", 0)
        print(f"\n{setup[1]} {setup[0]} minus {base[1]} {base[0]}: {total:+,.0f} per query")
        ranked = diff.most_common()
        for name, cost in ranked[: args.top] + ranked[-args.top // 2 :]:
            print(f"  {cost:+10,.0f}  {name}")


if __name__ == "__main__":
    main()
