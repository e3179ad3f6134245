"""The real binary in a real terminal: `djtop --replay` over a recording the shim wrote, driven
with tmux send-keys and read back with capture-pane, as a user would see it."""

import subprocess
import sys
import time

import pytest
from e2e_util import DEMO, base_env, djtop_bin, seed
from tmux_util import Tmux

VIEWS = ["/tags/creators/naive/", "/tags/creators/fixed/", "/articles/authors/naive/"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    seed(tmp)
    out = tmp / "demo.ndjson"
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        f"for path in {VIEWS!r}:\n"
        "    assert c.get(path).status_code == 200, path\n"
    )
    env = base_env(tmp, DJTOP_RECORD=str(out), DJANGO_SETTINGS_MODULE="demo.settings")
    subprocess.run([sys.executable, "-c", script], cwd=DEMO, env=env, check=True)
    return out


def test_replay_drill_down_findings_help_and_quit(recording):
    tmux = Tmux(f"{djtop_bin()} --replay {recording}; sleep 30")
    try:
        screen = tmux.wait_for("/articles/authors/naive/")
        assert "/tags/creators/fixed/" in screen and "!1" in screen
        # Newest first: the articles request is selected; open its findings.
        tmux.keys("f")
        screen = tmux.wait_for('select_related("author")')
        assert "N+1: Article.author loaded once per row: 30 queries" in screen
        tmux.keys("Enter")
        screen = tmux.wait_for("30 of 31 queries")
        tmux.keys("Enter")
        screen = tmux.wait_for("application frame")
        assert "blog/views.py:" in screen
        # Back to the list, then the canonical async-article shape two rows down.
        tmux.keys("Escape", "Escape", "Escape", "j", "j", "f")
        screen = tmux.wait_for("Prefetch(")
        assert 'Prefetch("tags", queryset=Tag.objects.select_related("created_by"))' in screen
        tmux.keys("Escape", "/")
        tmux.type("fixed")
        screen = tmux.wait_for("/ fixed")
        assert "/tags/creators/naive/" not in screen.split("/ fixed")[0]
        tmux.keys("Escape", "?")
        tmux.wait_for("all keys of this view")
        tmux.keys("x", "q")
        deadline = time.monotonic() + 5
        while "djtop" in tmux.screen() and time.monotonic() < deadline:
            time.sleep(0.1)
        # The terminal is restored: djtop's screen is gone, the shell's sleep is running.
        assert "requests" not in tmux.screen()
    finally:
        tmux.close()
