"""Where the shim's *time* goes, C function by C function: perf's software clock, sampled.

A diagnostic beside scripts/bench_shim.py (not part of ``make bench``).
benches/shim_callgrind.py counts the shim's instructions by C function. This counts its time
the same way, with no hardware performance counters needed (``perf record -e cpu-clock``
samples the running function on a timer). Sample rarely (``--period``, µs of CPU time per
sample): on a VM every sample costs an interrupt, and at one per 50 µs perf nearly doubled
the requests' time; at one per 1,000 µs it adds a few per cent.

One Django process (benches/django, SQLite, DEBUG on, the shim streaming to a real ``djtop
record``) runs the view once per mode per round, the modes alternating. shim_parts.switcher
puts the shim in each mode. perf samples the whole process, and each sample is credited to
the mode whose request was running at its time (the request's CLOCK_MONOTONIC interval) and
to its thread (the process's main thread, which runs the request, or any other: djtop's sender,
and for the async views asgiref's worker, which runs their ORM calls). Repeating a mode (``--modes
nowrapper,nowrapper``) is an A/A run: its difference is the method's noise.

With ``--instructions FILE`` (written by ``benches/shim_callgrind.py --modes bare,full --json
FILE``; its ``bare`` is this ``nowrapper``), each function's instructions are set beside its
time. Three figures answer why the shim's time exceeds its instruction count:

- what the extra instructions would cost at the rate each function runs in bare Django;
- how much slower the functions whose instruction count did not change became (Django's own
  work, slowed down by the shim beside it);
- the rest: the shim's own instructions, running slower than the same functions run for
  Django.

Run it with the bench venv, after ``make bench`` built it (or ``scripts/bench.sh`` once);
perf must be installed and allowed to sample (``kernel.perf_event_paranoid`` <= 2)::

    .bench-venv/bin/python benches/shim_callgrind.py --modes bare,full --json /tmp/cg.json
    .bench-venv/bin/python benches/shim_perf.py --instructions /tmp/cg.json

Nothing here asserts anything; it prints.
"""

import argparse
import bisect
import collections
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "benches")]

import bench_shim  # noqa: E402  (the views, the WSGI call, the database seeding)
import shim_parts  # noqa: E402  (the modes)


def child(scenario, rounds, port, db_path, queries, modes, log):
    """One Django process: warm up, then each mode once per round; the requests' intervals
    (monotonic ns) go to ``log``."""
    bench_shim.setup_djtop_sqlite(port, db_path, queries)
    from djtop import transport

    call, extra = shim_parts.app_call(scenario)
    for _ in range(3):
        assert call()[0] == 200 and transport.flush(30.0)
    switch = shim_parts.switcher()
    intervals = []
    for round_ in range(rounds):
        order = list(enumerate(modes))
        for index, mode in order[round_ % len(order) :] + order[: round_ % len(order)]:
            switch(mode)
            gc.collect()
            assert transport.flush(30.0)
            t0 = time.monotonic_ns()
            assert call()[0] == 200
            intervals.append((index, t0, time.monotonic_ns()))
            assert transport.flush(30.0), "the sender did not catch up"
    switch("full")
    with open(log, "w") as out:
        json.dump({"pid": os.getpid(), "n": queries + extra, "intervals": intervals}, out)


def samples(data, log):
    """(mode index, thread, function, library) -> samples, and the requests per mode."""
    with open(log) as f:
        run = json.load(f)
    intervals = run["intervals"]
    starts = [start for _, start, _ in intervals]
    pid = run["pid"]
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "--ns", "-F", "pid,tid,time,ip,sym,dso"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts = collections.Counter()
    for line in script.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            process, thread = parts[0].split("/")
            seconds, _, ns = parts[1].rstrip(":").partition(".")
            t = int(seconds) * 1_000_000_000 + int(ns.ljust(9, "0"))
        except ValueError:
            continue
        if int(process) != pid:
            continue
        i = bisect.bisect_right(starts, t) - 1
        if i < 0 or t > intervals[i][2]:
            continue  # between requests
        function = " ".join(parts[3:-1]).replace("@plt", "") or "[unknown]"
        library = parts[-1].strip("()").rsplit("/", 1)[-1]
        who = "main" if thread == process else "other"
        counts[(intervals[i][0], who, function, library)] += 1
    requests = collections.Counter(index for index, _, _ in intervals)
    return counts, requests, run["n"]


def by_function(instructions, mode):
    """Instructions per query by function name (callgrind's file: prefix and '2 cut off)."""
    out = collections.Counter()
    for name, value in instructions[mode].items():
        if name != "PROGRAM TOTALS":
            out[name.rsplit(":", 1)[-1].split("'")[0]] += value
    return out


def explain_gap(times, instructions, top):
    """Set each function's time (µs per query, the main thread) beside its instructions."""
    base_i, full_i = by_function(instructions, "bare"), by_function(instructions, "full")
    base_t, full_t = times
    rate = sum(base_i.values()) / sum(base_t.values()) / 1000  # instructions per ns
    d_instr = sum(full_i.values()) - sum(base_i.values())
    d_time = sum(full_t.values()) - sum(base_t.values())
    expected = unchanged = unchanged_base = 0.0
    rows = []
    for name in set(base_i) | set(full_i) | set(base_t) | set(full_t):
        bi, di = base_i.get(name, 0), full_i.get(name, 0) - base_i.get(name, 0)
        bt, dt = base_t.get(name, 0), full_t.get(name, 0) - base_t.get(name, 0)
        own = bi / bt / 1000 if bt > 0.3 and bi > 0 else rate  # too few samples: the mean
        expected += di / own / 1000
        if bi > 0 and abs(di) <= max(20, 0.005 * bi):
            unchanged += dt
            unchanged_base += bt
        rows.append((name, bi, bt, di, dt))
    print(
        f"\nthe shim's instructions: {d_instr:+,.0f} per query; its time: {d_time:+.1f} µs "
        f"(bare Django: {rate:.2f} instructions per ns)"
    )
    print(f"  at the rate each function runs in bare Django, they would take {expected:+.1f} µs")
    print(
        f"  functions whose instruction count did not change: {unchanged_base:.1f} µs bare, "
        f"{unchanged:+.1f} µs ({100 * unchanged / max(unchanged_base, 1e-9):+.1f}%) with the shim"
    )
    print(f"  the rest (the shim's own instructions, run slower): {d_time - expected:+.1f} µs")
    print(f"\n{'function':36s} {'bare: instr':>11s} {'µs':>7s} {'/ns':>5s}   shim: ", end="")
    print(f"{'+instr':>8s} {'+µs':>6s} {'/ns':>5s}")
    rows.sort(key=lambda row: -abs(row[4]))
    for name, bi, bt, di, dt in rows[:top]:
        r1 = f"{bi / bt / 1000:5.2f}" if bt > 0.3 and bi else "    -"
        r2 = f"{di / dt / 1000:5.2f}" if dt > 0.3 and di > 0 else "    -"
        print(f"{name[:36]:36s} {bi:11,.0f} {bt:7.2f} {r1}         {di:+8,.0f} {dt:+6.2f} {r2}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--djtop-bin", default=str(ROOT / "target" / "release" / "djtop"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--scenario", default="pk", choices=sorted(bench_shim.SCENARIOS))
    parser.add_argument("--modes", default="nowrapper,full", help="shim_parts' modes; first: base")
    parser.add_argument("--period", type=int, default=1000, help="µs of CPU time per sample")
    parser.add_argument("--instructions", help="shim_callgrind's --json file (bare, full)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    modes = args.modes.split(",")
    if args.child:
        scenario, rounds, port, db_path, log = args.child
        child(scenario, int(rounds), int(port), db_path, args.queries, modes, log)
        return
    if shutil.which("perf") is None:
        sys.exit("shim_perf: needs perf (Debian: apt install linux-perf)")
    with bench_shim.sqlite_and_recorder(args.djtop_bin, args.queries, "djtop-perf-") as (
        env,
        db_path,
        port,
    ):
        tmp = Path(db_path).parent  # perf's data goes beside the database, and with it
        log, data = tmp / "intervals.json", tmp / "perf.data"
        command = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-e", "cpu-clock"]
        # a fixed period (-c, in ns for cpu-clock), not a frequency (-F): with -F the kernel
        # adapts the period sample by sample, and a count of samples is no longer a time
        command += ["-c", str(args.period * 1000), "-o", str(data), sys.executable, __file__]
        command += ["--queries", str(args.queries), "--modes", args.modes, "--child"]
        command += [args.scenario, str(args.rounds), str(port), db_path, str(log)]
        subprocess.run(command, env=env, check=True)
        counts, requests, n = samples(data, log)

    us = args.period  # one sample, in µs
    per_query = collections.defaultdict(collections.Counter)  # (mode, thread) -> function: µs
    libraries = collections.defaultdict(collections.Counter)  # mode -> library: µs (main thread)
    for (index, who, function, library), count in counts.items():
        per_query[(index, who)][function] += count * us / (requests[index] * n)
        if who == "main":
            libraries[index][library] += count * us / (requests[index] * n)
    print(f"{args.scenario}: {n} statements per request, {args.rounds} requests per mode")
    for index, mode in enumerate(modes):
        request = sum(per_query[(index, "main")].values())
        other = sum(per_query[(index, "other")].values())
        print(f"  {mode:10s} {request:7.1f} µs per query (main thread), {other:.2f} (others)")
    base = per_query[(0, "main")]
    for index, mode in list(enumerate(modes))[1:]:
        diff = collections.Counter(per_query[(index, "main")])
        diff.subtract(base)
        total = sum(diff.values())
        print(f"\n{mode} minus {modes[0]}, main thread: {total:+.2f} µs per query")
        ranked = diff.most_common()
        for function, value in ranked[: args.top] + ranked[len(ranked) - args.top // 3 :]:
            print(f"  {value:+7.2f}  {function}")
        # SQLite's own library: code the shim never calls, so any change is a slowdown
        print("  by library (µs per query, and over the base):")
        for library, value in libraries[index].most_common(6):
            print(f"    {library:28s} {value:7.2f} {value - libraries[0][library]:+6.2f}")
    if args.instructions and len(modes) > 1:
        with open(args.instructions) as f:
            instructions = json.load(f)
        explain_gap((base, per_query[(len(modes) - 1, "main")]), instructions, args.top)


if __name__ == "__main__":
    main()
