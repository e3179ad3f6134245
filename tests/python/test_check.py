"""`djtop check` as CI uses it, over recordings the real shim wrote: exit 0 when clean, 1 on a
finding or a route over its budget, 2 on bad usage or unreadable input (design.md)."""

import subprocess
import sys

import pytest
from e2e_util import DEMO, base_env, djtop_bin, seed


def record(tmp, name, paths):
    out = tmp / f"{name}.ndjson"
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        f"for path in {paths!r}:\n"
        "    assert c.get(path).status_code == 200, path\n"
    )
    env = base_env(tmp, DJTOP_RECORD=str(out), DJANGO_SETTINGS_MODULE="demo.settings")
    subprocess.run([sys.executable, "-c", script], cwd=DEMO, env=env, check=True)
    return out


def check(*args):
    return subprocess.run([djtop_bin(), "check", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("check")
    seed(tmp)
    return {
        "clean": record(tmp, "clean", ["/articles/authors/fixed/", "/authors/books/fixed/"]),
        "naive": record(tmp, "naive", ["/articles/authors/fixed/", "/authors/books/naive/"]),
        "tmp": tmp,
    }


def test_clean_run_passes(recordings):
    r = check(recordings["clean"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


def test_a_finding_fails_with_the_fix(recordings):
    r = check(recordings["naive"])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "GET /authors/books/naive/: N+1: Author.books loaded once per row" in r.stdout
    assert 'fix: prefetch_related("books")' in r.stdout
    assert len(r.stdout.splitlines()) == 1


def test_a_route_over_budget_fails(recordings):
    budget = recordings["tmp"] / "budget.toml"
    budget.write_text('default = 50\n[routes]\n"authors/books/fixed/" = 1\n')
    r = check(recordings["clean"], "--budget", budget)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 queries, over the budget of 1 for route authors/books/fixed/" in r.stdout


def test_bad_input_is_exit_2_with_the_problem_named(recordings):
    r = check(recordings["tmp"] / "missing.ndjson")
    assert r.returncode == 2
    assert "missing.ndjson" in r.stderr
    bad = recordings["tmp"] / "bad.toml"
    bad.write_text("defualt = 3\n")
    r = check(recordings["clean"], "--budget", bad)
    assert r.returncode == 2
    assert "is not a budget" in r.stderr
    assert check().returncode == 2, "usage errors are 2 too"


@pytest.mark.parametrize("content", [b"", b"\x00\x9f\x92\x96 random\n\xff", b"\n\n"])
def test_a_recording_without_events_fails_with_exit_2(recordings, content):
    """A wrong DJTOP_RECORD path or a shim that never switched on must not pass CI."""
    empty = recordings["tmp"] / "empty.ndjson"
    empty.write_bytes(content)
    r = check(empty)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "has no events" in r.stderr
    assert "is the shim enabled and DJTOP_RECORD set?" in r.stderr
