"""Start-up to first frame of the real binary, in a real pseudo-terminal.

    python3 benches/startup.py --djtop-bin target/release/djtop [--json FILE]

Runs ``djtop --replay small.ndjson`` (20 requests, 1,000 queries) in a 160x48 pty, from just
before the fork until the first frame has been written to the terminal (its status line, then
the cursor hidden at the end of the frame), then presses ``q``. Median of 15 runs;
``djtop --version`` is timed the same way as the floor (process start alone). Nothing is
asserted.
"""

import argparse
import json
import os
import pty
import select
import statistics
import struct
import sys
import tempfile
import time

ROWS, COLS = 48, 160
SID = "5f0c2a9e00000002"
LOAD_SQL = (
    'SELECT \\"blog_author\\".\\"id\\", \\"blog_author\\".\\"name\\" FROM \\"blog_author\\" '
    'WHERE \\"blog_author\\".\\"id\\" = %s LIMIT 21'
)


def small_recording(path, requests=20, n=49):
    with open(path, "w") as f:
        f.write(
            f'{{"type":"hello","v":1,"sid":"{SID}","pid":4242,"argv":["manage.py","runserver"],'
            f'"ts":1763730000.0}}\n'
        )
        qid = 0
        for r in range(1, requests + 1):
            rid = f"{SID}-{r}"
            ts = 1763730000.0 + r
            f.write(
                f'{{"type":"request","sid":"{SID}","rid":"{rid}","kind":"http","method":"GET",'
                f'"path":"/books/","ts":{ts}}}\n'
            )
            for i in range(n + 1):
                qid += 1
                f.write(
                    f'{{"type":"query","sid":"{SID}","rid":"{rid}","qid":{qid},'
                    f'"alias":"default","vendor":"sqlite","sql":"{LOAD_SQL}","params":[{i}],'
                    f'"many":false,"ts":{ts + i * 0.0001:.6f},"ms":0.05,"rows":1,'
                    f'"stack":[["blog/views.py",27,"book_list"]],"error":null}}\n'
                )
            f.write(
                f'{{"type":"end","sid":"{SID}","rid":"{rid}","status":200,"route":"books/",'
                f'"view":"blog.views.book_list","ms":12.5,"async":false}}\n'
            )


def run_once(argv, marker, quit_key, frame_end=b""):
    """Seconds from fork to ``marker`` appearing in the pty output (None if it never does)."""
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = dict(os.environ, TERM="xterm-256color")
        env.pop("NO_COLOR", None)
        os.execve(argv[0], argv, env)
    seen = b""
    elapsed = None
    deadline = t0 + 10.0
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            # The status line is drawn last but one; ratatui hides the cursor once the frame
            # is written.
            at = seen.find(marker)
            if at >= 0 and frame_end in seen[at:]:
                elapsed = time.perf_counter() - t0
                break
        if quit_key:
            os.write(fd, quit_key)
            # let it restore the terminal and exit
            end = time.perf_counter() + 5.0
            while time.perf_counter() < end:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        if not os.read(fd, 65536):
                            break
                    except OSError:
                        break
    finally:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--djtop-bin", default="target/release/djtop")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json")
    args = parser.parse_args()
    binary = os.path.abspath(args.djtop_bin)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "small.ndjson")
        small_recording(path)
        floor = [run_once([binary, "--version"], b"djtop", None) for _ in range(args.runs)]
        first = [
            run_once([binary, "--replay", path], b"processes", b"q", b"\x1b[?25l")
            for _ in range(args.runs)
        ]
    missing = sum(1 for t in first if t is None)
    first = [t for t in first if t is not None]
    floor = [t for t in floor if t is not None]
    if not first:
        print("startup: the first frame never appeared", file=sys.stderr)
        sys.exit(1)
    result = {
        "id": "tui.startup.pty",
        "value": statistics.median(first) * 1000,
        "unit": "ms",
        "note": (
            f"djtop --replay small.ndjson (1,000 queries) in a {COLS}x{ROWS} pty, fork to first "
            f"frame's status line; median of {len(first)} (min {min(first) * 1000:.1f}, "
            f"max {max(first) * 1000:.1f}); `djtop --version` alone: "
            f"{statistics.median(floor) * 1000:.1f} ms"
            + (f"; {missing} runs timed out" if missing else "")
        ),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"{result['id']:<44} {result['value']:>14.3f} ms         {result['note']}")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
