"""Turn the benches' JSON lines into docs/performance.md's tables.

    python3 benches/render.py RESULTS.jsonl [--doc docs/performance.md] [--machine TEXT]

Every table sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in the doc and is
replaced whole; the prose around it is left alone. The tables are also printed. A verdict
compares a figure with its target (pass/miss); it is a label, never an exit status.
"""

import argparse
import json
import re
import sys
from pathlib import Path


def shim_cmd(s):
    """The bench_shim command of a result, with the rounds and queries it ran (results from
    before they were recorded: the rounds counted from its samples)."""
    rounds = s.get("rounds") or len(s.get("bare_raw") or ()) or 15
    queries = s.get("per_request") or s["queries"] - (
        1 if s.get("scenario", "").endswith("fk") else 0
    )
    return f"`.bench-venv/bin/python scripts/bench_shim.py --rounds {rounds} --queries {queries}`"


VIEWS = {
    "pk": "sync, 2000× `filter(pk=i).first()`",
    "fk": "sync, lazy `book.author` × 2000 (+1)",
    "apk": "async, 2000× `await …afirst()`",
    "afk": "async, lazy FK × 2000 via `sync_to_async` (+1)",
}


def load(paths):
    results = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                results[record["id"]] = record  # the last run of an id wins
    return results


def fmt(value, digits=1):
    if value is None:
        return "—"
    if abs(value) >= 100000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def verdict(ok):
    if ok is None:
        return "—"
    return "**pass**" if ok else "**miss**"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def shim_tables(r):
    rows = []
    side = []
    rounds = set()
    for db in ("sqlite", "postgres"):
        for view in ("pk", "fk", "apk", "afk"):
            s = r.get(f"shim.{db}.{view}")
            if s is None:
                continue
            date = s["date"]
            rounds.add(s.get("rounds") or len(s.get("bare_raw") or ()) or 15)
            where = f"{db}, {VIEWS[view]}"
            djtop, djtop_wall = s.get("djtop_cpu_us"), s.get("djtop_wall_us")
            down, down_wall = s.get("djtop_down_cpu_us"), s.get("djtop_down_wall_us")
            tb, tb_wall = s.get("toolbar_cpu_us"), s.get("toolbar_wall_us")
            limit = min(15.0, tb / 10) if tb else 15.0
            ratio = tb / djtop if tb and djtop and djtop > 0 else None
            rows.append(
                [
                    f"djtop, collector connected: {where}",
                    f"{fmt(djtop, 1)} µs/query (toolbar {fmt(tb, 1)}: {fmt(ratio, 1)}×)",
                    f"≤ 15 µs and ≤ toolbar/10 = {fmt(limit, 1)} µs",
                    verdict(djtop is not None and djtop <= limit),
                    shim_cmd(s),
                    date,
                ]
            )
            # Two figures, each with its verdict: the instruction count of the app's thread
            # (where there is one for this view: repeatable, but blind to what costs time
            # without instructions) and the timed median (which sees everything, and this
            # machine's noise with it).
            counted = r.get(f"shim.instructions.{db}.{view}")
            measured = f"{fmt(down, 1)} µs/query (timed)"
            timed = "—" if down is None else verdict(down <= 2.0)
            outcome = f"timed: {timed} (no instruction count)"
            if counted and counted.get("djtop_down_ir") is not None and s.get("bare_cpu_ms"):
                per_query = s["bare_cpu_ms"] * 1000 / s["queries"]
                est = counted["djtop_down_ir"] / counted["bare_ir_total"] * per_query
                measured = (
                    f"{fmt(counted['djtop_down_ir'], 0)} instructions/query on the app's thread "
                    f"≈ {est:.2f} µs (timed: {fmt(down, 1)} µs)"
                )
                outcome = f"instructions: {verdict(est <= 2.0)}; timed: {timed}"
            rows.append(
                [
                    f"djtop, collector down: {where}",
                    measured,
                    "≤ 2 µs",
                    outcome,
                    shim_cmd(s),
                    date,
                ]
            )
            recorded = s.get("toolbar_recorded") or []
            side.append(
                [
                    db,
                    view,
                    s["queries"],
                    f"{fmt(s.get('bare_cpu_ms'))} / {fmt(s['bare_wall_ms'])}",
                    f"{fmt(djtop, 1)} / {fmt(djtop_wall, 1)}",
                    f"{fmt(down, 1)} / {fmt(down_wall, 1)}",
                    f"{fmt(tb, 1)} / {fmt(tb_wall, 1)}",
                    f"{fmt(ratio, 1)} / {fmt(s.get('toolbar_over_djtop_wall'), 1)}",
                    ", ".join(str(c) for c in recorded) or "—",
                    s.get("djtop_drops", "—"),
                ]
            )
    main = table(["Figure", "Measured (CPU)", "Target", "Verdict", "Command", "Date"], rows)
    detail = table(
        [
            "DB",
            "view",
            "queries",
            "bare ms, CPU / wall",
            "djtop µs/q, CPU / wall",
            "djtop down µs/q, CPU / wall",
            "toolbar µs/q, CPU / wall",
            "toolbar ÷ djtop, CPU / wall",
            "queries the toolbar recorded",
            "djtop drops",
        ],
        side,
    )
    notes = []
    for db in ("sqlite", "postgres"):
        rec = r.get(f"shim.{db}.recorded")
        if rec:
            notes.append(
                f"- {db}: the `djtop record` collector wrote {rec['recorded']:,} query events; "
                f"the djtop worker ran {rec['sent']:,} queries."
            )
    return (
        main
        + "\n\nSide by side, same run (µs per query = median over "
        + " or ".join(str(n) for n in sorted(rounds))
        + " rounds of "
        + "(variant − bare) / queries, paired within the round):\n\n"
        + detail
        + ("\n\n" + "\n".join(notes) if notes else "")
    )


def shim_breakdown(r):
    parts = []
    rows = []
    for view in ("pk", "fk"):
        s = r.get(f"shim.ablation.sqlite.{view}")
        if s is None:
            continue
        full = s.get("djtop_cpu_us")
        norel = s.get("djtop_norel_cpu_us")
        nostacks = s.get("djtop_nostacks_cpu_us")
        bare_min = s.get("djtop_min_cpu_us")
        rows.append(
            [
                f"sqlite, {VIEWS[view]}",
                fmt(full, 1),
                fmt(norel, 1),
                fmt(nostacks, 1),
                fmt(bare_min, 1),
                s["date"],
            ]
        )
    if rows:
        parts.append(
            "Ablations, CPU µs per query over bare Django (same interleaved method, "
            "`scripts/bench_shim.py --tag ablation --dbs sqlite --scenarios pk,fk "
            "--variants bare,djtop,djtop_norel,djtop_nostacks,djtop_min`):\n\n"
            + table(
                [
                    "view",
                    "djtop (all on)",
                    "relations off",
                    "stacks off",
                    "stacks + relations off",
                    "Date",
                ],
                rows,
            )
        )
    rows = []
    for view in ("pk", "fk", "apk", "afk"):
        s = r.get(f"shim.instructions.sqlite.{view}")
        if s is None:
            continue
        rows.append(
            [
                f"sqlite, {VIEWS[view].replace('2000', str(s['queries']))}",
                fmt(s.get("bare_ir_total"), 0),
                fmt(s.get("djtop_ir"), 0),
                fmt(s.get("djtop_down_ir"), 0),
                fmt(s.get("toolbar_ir"), 0),
                fmt(s.get("toolbar_over_djtop"), 1),
                s["date"],
            ]
        )
    if rows:
        parts.append(
            "Instructions per query (valgrind callgrind, all threads, except the collector-down "
            "column: the app's thread only, since the sender's retries are paced by the clock "
            "and valgrind runs the app ~50x slower, which is why the async views, whose ORM "
            "work runs in another thread, have none; independent of the machine's load; "
            "`scripts/bench_shim.py --instructions --queries 500 --scenarios "
            "pk,fk --variants bare,djtop,djtop_down,toolbar`, then `--scenarios apk,afk "
            "--variants bare,djtop,toolbar`):\n\n"
            + table(
                [
                    "view",
                    "bare (total)",
                    "djtop (extra)",
                    "djtop, collector down (extra)",
                    "toolbar (extra)",
                    "toolbar ÷ djtop",
                    "Date",
                ],
                rows,
            )
        )
    notes = []
    for db in ("sqlite", "postgres"):
        micro = r.get(f"shim.{db}.micro")
        if micro:
            m = micro["value"]
            notes.append(
                f"- {db} worker, one call timed alone (µs, best of 5 × 20,000): the execute "
                f"wrapper with the queue stubbed out {m['wrapper_total_us']:.2f}, of which "
                f"stack capture from a shallow stack {m['stack_capture_us']:.2f}, params "
                f"{m['json_safe_params_us']:.2f}, emit {m['emit_us']:.2f}"
                + (
                    f"; JSON encoding of one {m['event_bytes']}-byte query event in the sender "
                    f"thread {m['encode_us']:.2f}."
                    if "encode_us" in m  # before the app's thread encoded its queries
                    else f" (the encoding of its {m['event_bytes']}-byte line included)."
                )
            )
        prof = r.get(f"shim.{db}.profile_djtop")
        if prof:
            shim = [p for p in prof["value"] if "djtop/" in p["function"] or "put" in p["function"]]
            top = ", ".join(
                f"`{p['function'].split('/')[-1]}` {p['tottime_ms']:.0f} ms" for p in shim[:8]
            )
            notes.append(
                f"- {db}, cProfile of one djtop `pk` request, the shim's functions by own time "
                f"(profiler overhead included): {top}."
            )
    if notes:
        parts.append("\n".join(notes))
    return "\n\n".join(parts) if parts else "(not measured in this run)"


def simple_rows(r, specs):
    rows = []
    for id_, label, target, ok, cmd in specs:
        rec = r.get(id_)
        if rec is None:
            continue
        value = rec["value"]
        unit = rec["unit"]
        digits = 0 if unit.endswith("/s") else 1
        shown = f"{fmt(value, digits)} {unit}"
        if rec.get("wall") is not None:
            shown += f" (wall {fmt(rec['wall'], digits)})"
        rows.append(
            [
                label,
                shown,
                target,
                verdict(ok(value) if ok else None),
                f"`{cmd}`",
                rec["date"],
                rec.get("note", ""),
            ]
        )
    return table(["Figure", "Measured", "Target", "Verdict", "Command", "Date", "How"], rows)


def at_least(x):
    return lambda v: v >= x


def at_most(x):
    return lambda v: v <= x


def ingest_table(r):
    c = "cargo bench --bench ingest"
    t = "≥ 300,000 queries/s"
    return simple_rows(
        r,
        [
            (
                "ingest.e2e.tui",
                "End to end, TUI path: 4 connections → Collector → Store + frames",
                t,
                at_least(300_000),
                c,
            ),
            (
                "ingest.e2e.apply",
                "End to end: 4 connections → Collector → Store",
                t,
                at_least(300_000),
                c,
            ),
            (
                "ingest.e2e.record",
                "End to end, record path: 4 connections → Collector → raw lines",
                t,
                at_least(300_000),
                c,
            ),
            (
                "ingest.parse_apply_frames.lazy-fk",
                "In-process parse + apply + frames, lazy-FK N+1",
                t,
                at_least(300_000),
                c,
            ),
            (
                "ingest.parse_apply.lazy-fk",
                "In-process parse + apply, lazy-FK N+1",
                t,
                at_least(300_000),
                c,
            ),
            (
                "ingest.parse_apply.get-per-row",
                "In-process parse + apply, get-per-row N+1",
                t,
                at_least(300_000),
                c,
            ),
            (
                "ingest.e2e.apply.v1",
                "End to end: 4 connections → Collector → Store, v1 lines (reference)",
                "(reference)",
                None,
                c,
            ),
            (
                "ingest.parse_apply.lazy-fk.v1",
                "In-process parse + apply, lazy-FK N+1, v1 lines (reference)",
                "(reference)",
                None,
                c,
            ),
            (
                "ingest.parse_apply.get-per-row.v1",
                "In-process parse + apply, get-per-row N+1, v1 lines (reference)",
                "(reference)",
                None,
                c,
            ),
            ("ingest.parse.lazy-fk", "parse_line only, lazy-FK N+1", "(reference)", None, c),
            (
                "ingest.parse.get-per-row",
                "parse_line only, get-per-row N+1",
                "(reference)",
                None,
                c,
            ),
            (
                "ingest.parse.lazy-fk.v1",
                "parse_line only, lazy-FK N+1, v1 lines",
                "(reference)",
                None,
                c,
            ),
            (
                "ingest.parse.get-per-row.v1",
                "parse_line only, get-per-row N+1, v1 lines",
                "(reference)",
                None,
                c,
            ),
        ],
    )


def memory_table(r):
    c = "cargo bench --bench memory"
    t = "≤ 300 bytes"
    return simple_rows(
        r,
        [
            (
                "memory.per_query.lazy-fk",
                "Store heap per query, 1,000,000 lazy-FK N+1 queries",
                t,
                at_most(300),
                c,
            ),
            (
                "memory.per_query.get-per-row",
                "Store heap per query, 1,000,000 get-per-row queries",
                t,
                at_most(300),
                c,
            ),
            (
                "memory.per_query.lazy-fk.v1",
                "Store heap per query, lazy-FK, v1 lines (same store expected)",
                "(reference)",
                None,
                c,
            ),
            (
                "memory.per_query.get-per-row.v1",
                "Store heap per query, get-per-row, v1 lines (same store expected)",
                "(reference)",
                None,
                c,
            ),
        ],
    )


def tui_table(r):
    c = "cargo bench --bench tui"
    f = "≤ 10 ms"
    rows = simple_rows(
        r,
        [
            (
                "tui.frame.requests.1m.cold",
                "Request list frame, 1M queries, first frame",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.requests.1m.warm",
                "Request list frame, 1M queries, redraw",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.queries.1m.cold",
                "Query list frame (250-query request), 1M stored",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.requests.100k.cold",
                "Request list frame, one 100k-query request, first frame",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.requests.100k.live",
                "Request list frame while the 100k request grows",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.queries.100k.cold",
                "Query list frame, 100k-query request, first frame",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.queries.100k.warm",
                "Query list frame, 100k-query request, redraw",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.queries.100k.live",
                "Query list frame while the 100k request grows",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.findings.100k.cold",
                "Findings panel, 100k-query request, first frame",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.frame.findings.100k.live",
                "Findings panel while the 100k request grows",
                f,
                at_most(10),
                c,
            ),
            (
                "tui.key.filter.1m",
                "Filter keystroke (`/`, request list), 1M queries stored",
                "≤ 30 ms",
                at_most(30),
                c,
            ),
            (
                "tui.key.filter.100k",
                "Filter keystroke (`/`, SQL text), 100k-query request",
                "≤ 30 ms",
                at_most(30),
                c,
            ),
            (
                "tui.analysis.findings.100k",
                "analysis::findings of the 100k-query request",
                "(reference)",
                None,
                c,
            ),
            (
                "tui.analysis.summary.100k",
                "analysis::summarize of the 100k-query request",
                "(reference)",
                None,
                c,
            ),
            (
                "tui.key.move.100k",
                "Key j/k + frame in the 100k query list",
                "≤ 30 ms",
                at_most(30),
                c,
            ),
            (
                "tui.startup.pty",
                "Start-up to first frame, real binary in a pty",
                "≤ 150 ms",
                at_most(150),
                "python3 benches/startup.py --djtop-bin target/release/djtop",
            ),
            (
                "tui.startup.library",
                "Start-up, library path (load + App::new + first frame)",
                "≤ 150 ms",
                at_most(150),
                c,
            ),
        ],
    )
    return rows


def load_table(r):
    c = "cargo bench --bench load"
    t = "≥ 500,000 queries/s"
    return simple_rows(
        r,
        [
            (
                "load.record_load.lazy-fk",
                "record::load, 1M lazy-FK N+1 queries",
                t,
                at_least(500_000),
                c,
            ),
            (
                "load.record_load.get-per-row",
                "record::load, 1M get-per-row queries",
                t,
                at_least(500_000),
                c,
            ),
            (
                "load.parse_only.lazy-fk",
                "parse_line only, same lazy-FK bytes",
                "(reference)",
                None,
                c,
            ),
            (
                "load.parse_only.get-per-row",
                "parse_line only, same get-per-row bytes",
                "(reference)",
                None,
                c,
            ),
            (
                "load.record_load.lazy-fk.v1",
                "record::load, 1M lazy-FK queries, v1 lines (reference)",
                "(reference)",
                None,
                c,
            ),
            (
                "load.record_load.get-per-row.v1",
                "record::load, 1M get-per-row queries, v1 lines (reference)",
                "(reference)",
                None,
                c,
            ),
            (
                "load.parse_only.lazy-fk.v1",
                "parse_line only, same lazy-FK v1 bytes",
                "(reference)",
                None,
                c,
            ),
            (
                "load.parse_only.get-per-row.v1",
                "parse_line only, same get-per-row v1 bytes",
                "(reference)",
                None,
                c,
            ),
        ],
    )


BLOCKS = {
    "shim": shim_tables,
    "shim-breakdown": shim_breakdown,
    "ingest": ingest_table,
    "memory": memory_table,
    "tui": tui_table,
    "load": load_table,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--doc", help="rewrite the tables of this Markdown file in place")
    parser.add_argument(
        "--only",
        help="comma-separated blocks to render (a partial run: the other tables stay as they are)",
    )
    args = parser.parse_args()
    r = load(args.results)
    wanted = set(args.only.split(",")) if args.only else set(BLOCKS)
    unknown = wanted - set(BLOCKS)
    if unknown:
        parser.error(f"unknown blocks: {', '.join(sorted(unknown))} (known: {', '.join(BLOCKS)})")
    rendered = {name: build(r) for name, build in BLOCKS.items() if name in wanted}
    for name, text in rendered.items():
        print(f"\n## {name}\n\n{text}")
    if args.doc:
        doc = Path(args.doc)
        text = doc.read_text()
        for name, block in rendered.items():
            tag = re.escape(name)
            pattern = re.compile(
                rf"(<!-- bench:{tag} -->\n)(?:.*?\n)??(<!-- /bench:{tag} -->)", re.DOTALL
            )
            if not pattern.search(text):
                print(f"render: no bench:{name} block in {doc}", file=sys.stderr)
                continue
            text = pattern.sub(lambda m, b=block: m.group(1) + b + "\n" + m.group(2), text)
        doc.write_text(text)
        print(f"\nrender: tables of {doc} rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
