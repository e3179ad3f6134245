"""EXPLAIN in the real binary, live: `djtop --listen` in a tmux terminal, a Django process
(explainproj, SQLite) connected to it; `x` on a query shows its plan, `R` the raw rows, and
once the process is killed, `x` on another query says the process is gone while the app keeps
working. (The round trip on PostgreSQL and MariaDB is tests/explain.rs.)"""

import os
import signal
import subprocess

from djtop_testutil import HERE, python_command
from e2e_util import djtop_bin, free_port
from tmux_util import Tmux


def test_x_shows_the_plan_live_and_a_killed_process_is_said_gone(tmp_path):
    port = free_port()
    tui = Tmux(f"NO_COLOR=1 {djtop_bin()} --listen 127.0.0.1:{port}", height=40)
    env = {
        "DJANGO_SETTINGS_MODULE": "explainproj.settings",
        "EXPLAINPROJ_VENDOR": "sqlite",
        "EXPLAINPROJ_DB": str(tmp_path / "explain.sqlite3"),
        "DJTOP_ADDRESS": f"127.0.0.1:{port}",
    }
    cmd, full = python_command(None, env=env, args=["-m", "explainproj.scenario"])
    app = None
    try:
        tui.wait_for(f"127.0.0.1:{port}", timeout=10)  # the status line: bound, listening
        app = subprocess.Popen(
            cmd, cwd=HERE, env=full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert app.stdout.readline().strip() == "ready"
        tui.wait_for("1 connected")
        tui.keys("Enter")
        tui.wait_for("› startup")  # the scope the scenario's queries ran in
        tui.keys("/")
        tui.type("INNER JOIN")
        tui.keys("Enter", "x")
        tui.wait_for("EXPLAIN QUERY PLAN")
        screen = tui.screen()
        assert "› plan" in screen
        assert "SEARCH explainproj_book" in screen, screen
        assert "x plan" in screen and "R raw" in screen, "the footer"
        tui.keys("R")
        tui.wait_for("id  parent  notused  detail")
        tui.keys("R", "X")
        tui.wait_for("refused: SQLite has no EXPLAIN ANALYZE")

        os.kill(app.pid, signal.SIGKILL)
        app.wait(10)
        tui.wait_for("0 connected")
        tui.keys("Escape", "Escape")  # out of the plan, then the filter goes
        tui.keys("/")
        tui.type("COUNT")
        tui.keys("Enter", "x")
        tui.wait_for("process gone:")
        assert "has exited" in tui.screen()
        tui.keys("Escape", "Escape", "Escape")
        tui.wait_for("› requests")
        tui.keys("q")
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.wait(10)
        tui.close()
