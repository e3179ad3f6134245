#!/usr/bin/env python3
"""Generate traffic against the djtop demo: hit every demo view, in a loop or once.

Standard library only. Waits until the server answers, reads the list of views from the demo's
index (``GET /``, JSON) unless ``--path`` is given, then requests them, printing one line per
request::

    python traffic.py                              # loop over every view until Ctrl-C
    python traffic.py http://127.0.0.1:8011 --once # each view once; exit 1 if any was not 200
    python traffic.py --concurrency 4 --interval 0.1 --only async/

Exit status: 0 (all fine, or stopped with Ctrl-C / SIGTERM / --duration), 1 (``--once`` and some
request failed), 2 (the server never answered, or the index could not be read).
"""

import argparse
import itertools
import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

DEFAULT_BASE = "http://127.0.0.1:8000"


def request(url, timeout):
    """GET ``url``; return ``(status, body bytes, error text or None)``. Never raises."""
    req = urllib.request.Request(url, headers={"User-Agent": "djtop-demo-traffic/1"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), None
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read()
        except OSError:
            body = b""
        return exc.code, body, None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, b"", f"{type(exc).__name__}: {reason}"


def wait_for_server(base, deadline_s, timeout, stop):
    """Poll ``base/`` until any HTTP answer; True when it answered before the deadline."""
    deadline = time.monotonic() + deadline_s
    announced = False
    while not stop.is_set():
        status, _body, _error = request(base + "/", timeout=min(timeout, 5))
        if status is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        if not announced:
            print(f"waiting for {base} ...", flush=True)
            announced = True
        stop.wait(0.25)
    return False


def discover_paths(base, timeout):
    """The ``path`` of every view the demo's index lists."""
    status, body, error = request(base + "/", timeout)
    if status != 200:
        raise RuntimeError(f"GET {base}/ -> {status or error}")
    try:
        views = json.loads(body.decode("utf-8"))["views"]
        return [view["path"] for view in views]
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"GET {base}/ did not return the demo index: {exc}") from exc


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.failed = []

    def record(self, path, status, ms, size, error, quiet):
        with self.lock:
            self.total += 1
            if status != 200:
                self.failed.append(path)
            if quiet and status == 200:
                return
            shown = str(status) if status is not None else "ERR"
            line = f"{time.strftime('%H:%M:%S')} {shown:>3} {ms:8.1f}ms {size:7d}B  {path}"
            if error:
                line += f"  ({error})"
            print(line, flush=True)


def worker(base, jobs, stats, stop, args):
    """Take paths from ``jobs`` (an iterator shared by the workers) until it or time runs out."""
    while not stop.is_set():
        try:
            with stats.lock:
                path = next(jobs)
        except StopIteration:
            return
        started = time.monotonic()
        status, body, error = request(base + path, args.timeout)
        ms = (time.monotonic() - started) * 1000.0
        stats.record(path, status, ms, len(body), error, args.quiet)
        if args.interval > 0 and stop.wait(args.interval):
            return


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", default=DEFAULT_BASE, help=f"default {DEFAULT_BASE}")
    parser.add_argument("--once", action="store_true", help="hit each view once, then exit")
    parser.add_argument("--concurrency", "-c", type=int, default=1, help="parallel clients")
    parser.add_argument(
        "--interval",
        "-i",
        type=float,
        default=0.5,
        help="seconds each client waits between requests",
    )
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the server to answer"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    parser.add_argument(
        "--only", action="append", default=[], help="only paths containing this (repeatable)"
    )
    parser.add_argument(
        "--path", action="append", default=[], help="request this path instead of the index list"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print failed requests only")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    base = args.base.rstrip("/")
    stop = threading.Event()
    stats = Stats()
    threads = []

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)

    try:
        if not wait_for_server(base, args.wait, args.timeout, stop):
            print(f"error: {base} did not answer within {args.wait:g}s", file=sys.stderr)
            return 2
        if args.path:
            paths = ["/" + p.lstrip("/") for p in args.path]
        else:
            try:
                paths = discover_paths(base, args.timeout)
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        paths = [p for p in paths if not args.only or any(s in p for s in args.only)]
        if not paths:
            print("error: no paths to request", file=sys.stderr)
            return 2
        jobs = iter(paths) if args.once else itertools.cycle(paths)
        threads = [
            threading.Thread(target=worker, args=(base, jobs, stats, stop, args), daemon=True)
            for _ in range(args.concurrency)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            if args.duration and time.monotonic() - started >= args.duration:
                break
            for thread in threads:
                thread.join(0.1)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        stop.set()
    stopped = time.monotonic()
    for thread in threads:  # let in-flight requests print their line (bounded wait)
        thread.join(max(0.0, 2.0 - (time.monotonic() - stopped)))
    failed = sorted(set(stats.failed))
    print(f"{stats.total} requests, {len(stats.failed)} not 200", flush=True)
    if failed:
        print("not 200: " + " ".join(failed), flush=True)
    return 1 if args.once and stats.failed else 0


if __name__ == "__main__":
    sys.exit(main())
