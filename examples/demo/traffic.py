#!/usr/bin/env python3
"""Generate traffic against the djtop demo: hit every demo view, in a loop or once.

Standard library only. Waits until the server answers, reads the list of views and pages from
the demo's index (``GET /``, JSON) unless ``--path`` is given, then requests them, printing one
line per request. Pages under ``/admin/`` are requested logged in: one session, opened once
(``GET /admin/login/`` for the CSRF cookie and token, ``POST`` of ``--user`` / ``--password``,
``admin`` / ``admin`` by default, as ``manage.py seed_demo`` creates them), kept in a cookie jar
and opened again if the server stops accepting it::

    python traffic.py                              # loop over every view until Ctrl-C
    python traffic.py http://127.0.0.1:8011 --once # each view once; exit 1 if any was not 200
    python traffic.py --concurrency 4 --interval 0.1 --only async/

Exit status: 0 (all fine, or stopped with Ctrl-C / SIGTERM / --duration), 1 (``--once`` and some
request failed), 2 (the server never answered, or the index could not be read).
"""

import argparse
import http.cookiejar
import itertools
import json
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_BASE = "http://127.0.0.1:8000"
ADMIN_PREFIX = "/admin/"
LOGIN_PATH = "/admin/login/"
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def request(url, timeout, opener=None, data=None, headers=None):
    """GET ``url`` (POST ``data`` if given) through ``opener`` (default: urllib's, following
    redirects); return ``(status, body bytes, error text or None)``. Never raises."""
    req = urllib.request.Request(
        url, data=data, headers={"User-Agent": "djtop-demo-traffic/1", **(headers or {})}
    )
    send = opener.open if opener is not None else urllib.request.urlopen
    try:
        with send(req, timeout=timeout) as resp:
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


def needs_login(path):
    return path.startswith(ADMIN_PREFIX)


def discover_paths(base, timeout):
    """The ``path`` of every view and page the demo's index lists."""
    status, body, error = request(base + "/", timeout)
    if status != 200:
        raise RuntimeError(f"GET {base}/ -> {status or error}")
    try:
        index = json.loads(body.decode("utf-8"))
        return [entry["path"] for entry in index["views"] + index.get("pages", [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"GET {base}/ did not return the demo index: {exc}") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: 302 from the login form means "logged in", and from an admin
    page "not logged in" (urllib raises it as an HTTPError, which ``request`` returns)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class AdminSession:
    """One logged-in admin session shared by the workers: a cookie jar and its opener."""

    def __init__(self, base, username, password, timeout):
        self.base = base
        self.username = username
        self.password = password
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.lock = threading.Lock()

    def login(self):
        """GET the login form (CSRF cookie and token), POST the credentials. Raises
        RuntimeError when the server does not log us in."""
        url = self.base + LOGIN_PATH
        status, body, error = request(url, self.timeout, self.opener)
        if status != 200:
            raise RuntimeError(f"GET {LOGIN_PATH} -> {status or error}")
        token = CSRF_INPUT.search(body)
        if token is None:
            raise RuntimeError(f"GET {LOGIN_PATH}: no csrfmiddlewaretoken in the form")
        form = {
            "csrfmiddlewaretoken": token.group(1).decode(),
            "username": self.username,
            "password": self.password,
            "next": ADMIN_PREFIX,
        }
        status, _body, error = request(
            url,
            self.timeout,
            self.opener,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": url},
        )
        if status != 302 or not any(c.name == "sessionid" for c in self.jar):
            hint = " (wrong user or password? run manage.py seed_demo)" if status == 200 else ""
            raise RuntimeError(f"POST {LOGIN_PATH} -> {status or error}{hint}")

    def get(self, url, timeout):
        """GET ``url`` in the session; log in again once if the server sends us to log in."""
        answer = request(url, timeout, self.opener)
        if answer[0] != 302:
            return answer
        with self.lock:
            try:
                self.login()
            except RuntimeError as exc:
                return 302, answer[1], f"logged out, and {exc}"
        return request(url, timeout, self.opener)


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


def worker(base, jobs, stats, stop, args, session=None):
    """Take paths from ``jobs`` (an iterator shared by the workers) until it or time runs out;
    paths under /admin/ go through the logged-in ``session``."""
    while not stop.is_set():
        try:
            with stats.lock:
                path = next(jobs)
        except StopIteration:
            return
        started = time.monotonic()
        if session is not None and needs_login(path):
            status, body, error = session.get(base + path, args.timeout)
        else:
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
    parser.add_argument(
        "--user", default="admin", help="admin user for the /admin/ pages (default admin)"
    )
    parser.add_argument("--password", default="admin", help="its password (default admin)")
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
        session = None
        if any(needs_login(p) for p in paths):
            session = AdminSession(base, args.user, args.password, args.timeout)
            try:
                session.login()
                print(f"logged in as {args.user} for the {ADMIN_PREFIX} pages", flush=True)
            except RuntimeError as exc:
                # Without a session those pages only redirect to the login form: leave them out
                # (with --once, as failures).
                skipped = [p for p in paths if needs_login(p)]
                print(
                    f"warning: could not log in as {args.user} ({exc}): "
                    f"skipping {' '.join(skipped)}",
                    file=sys.stderr,
                    flush=True,
                )
                if args.once:
                    for path in skipped:
                        stats.record(path, None, 0.0, 0, "not logged in", args.quiet)
                paths = [p for p in paths if not needs_login(p)]
                session = None
        if not paths:
            print("error: no paths to request", file=sys.stderr)
            return 2
        jobs = iter(paths) if args.once else itertools.cycle(paths)
        threads = [
            threading.Thread(
                target=worker, args=(base, jobs, stats, stop, args, session), daemon=True
            )
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
