"""Driving the real `djtop` binary in a real terminal: tmux new-session, send-keys and
capture-pane, as a user would type and read."""

import shutil
import subprocess
import time
import uuid

import pytest


class Tmux:
    def __init__(self, command, width=160, height=45):
        if not shutil.which("tmux"):
            pytest.fail("tmux is required for the TUI tests (make test installs it)")
        self.name = f"djtop-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
             command],
            check=True,
        )  # fmt: skip

    def keys(self, *keys):
        # One at a time, like a person: ESC followed at once by a key reads as Alt+key.
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def type(self, text):
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def screen(self):
        done = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return done.stdout

    def wait_for(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
