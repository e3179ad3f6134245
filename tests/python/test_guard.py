"""No Django change can break an app (djtop.guard): every function djtop hooks is checked
against the signatures its hook was written for; a changed one is left alone with one warning,
and the app works exactly as without djtop.

The real test changes every hooked function at once (tests/python/serve_every_view.py, in a
process of its own), serves every view of the demo and of the diagnosis project, and compares
each response and Django's own statement count with a run without the shim; the recording must
still count every statement of every request.
"""

import json
import re
import shutil
import subprocess
import sys

import pytest
from djtop import guard
from e2e_util import DEMO, HERE, manage, project_env, read_events, requests_by_ref, seed

TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
DIAG = HERE / "diagproj"


def test_shape_reads_every_kind_of_parameter():
    def plain(a, b=1): ...
    def star(self, *args, **kwargs): ...
    def keyword_only(self, *, instance): ...
    def both(self, *objs, bulk=True): ...
    def positional_only(a, /, b): ...

    class K:
        def method(self, x): ...

    assert guard.shape(plain) == "(a, b)"
    assert guard.shape(star) == "(self, *args, **kwargs)"
    assert guard.shape(keyword_only) == "(self, *, instance)"
    assert guard.shape(both) == "(self, *objs, bulk)"
    assert guard.shape(positional_only) == "(a, /, b)"
    assert guard.shape(K.method) == "(self, x)"
    assert guard.shape(len) is None  # no code object: never accepted


def test_accepts_warns_once_per_hook(caplog):
    def f(klass_info, select, db, fetch_mode): ...

    shapes = ("(klass_info, select, db)",)
    with caplog.at_level("WARNING", logger="djtop"):
        assert not guard.accepts("test.guard.f", f, shapes)
        assert not guard.accepts("test.guard.f", f, shapes)
        assert guard.accepts("test.guard.ok", f, ("(klass_info, select, db, fetch_mode)",))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "not hooking test.guard.f on Django " in warnings[0]
    assert "(klass_info, select, db, fetch_mode)" in warnings[0]


def _serve(project, settings, routes, mode, tmp, **env):
    out = tmp / f"{mode}.json"
    environ = project_env(project, settings, **env)
    environ["PYTHONPATH"] += ":" + str(HERE)
    if mode == "bare":
        environ["DJTOP_ENABLED"] = "0"
    else:
        environ["DJTOP_ENABLED"] = "1"
        environ["DJTOP_RECORD"] = str(tmp / f"{mode}.ndjson")
    done = subprocess.run(
        [sys.executable, str(HERE / "serve_every_view.py"), mode, routes, str(out)],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{mode}: exited {done.returncode}\n{done.stdout}{done.stderr}"
    return json.loads(out.read_text()), done.stderr


PROJECTS = {
    # name: (project dir, settings, routes, database variable)
    "demo": (DEMO, "demo.settings", "blog.catalog:ROUTES", "DJTOP_DEMO_DB"),
    "diagproj": (DIAG, "diagproj.settings", "shop.views:VIEWS", "DIAG_DB"),
}


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_every_hook_changed_the_app_is_unchanged(name, tmp_path):
    project, settings, routes, db_var = PROJECTS[name]
    # One seeded database, copied for each run: the views write (visits), the runs compare.
    if name == "demo":
        seed(tmp_path)
        seeded = tmp_path / "demo.sqlite3"
    else:
        seeded = tmp_path / "diag.sqlite3"
        env = project_env(DIAG, settings, DIAG_DB=str(seeded), DJTOP_ENABLED="0")
        manage(DIAG, env, "migrate", "-v0")
        manage(DIAG, env, "seed")
    runs = {}
    for mode in ("bare", "changed"):
        db = tmp_path / f"{mode}.sqlite3"
        shutil.copy(seeded, db)
        runs[mode] = _serve(project, settings, routes, mode, tmp_path, **{db_var: str(db)})
    (bare, _), (changed, log) = runs["bare"], runs["changed"]

    # Every hook was met changed and stepped aside, each with one warning.
    assert len(changed["changed"]) >= 30, changed["changed"]
    warned = re.findall(r"djtop: not hooking (\S+) on Django ", log)
    assert sorted(warned) == sorted(changed["changed"]), log
    assert "Traceback" not in log, log

    # The app: every view answers as without djtop, with Django's own statement count.
    assert changed["views"] == bare["views"]
    assert all(v["status"] == 200 for v in bare["views"].values()), bare["views"]

    # djtop still counts every statement of every request (transaction control aside: its
    # hook, debug_transaction, was changed too).
    by_ref, _ = requests_by_ref(read_events(tmp_path / "changed.ndjson"), "t")
    counted = {
        ref: sum(1 for q in entry["queries"] if not q["sql"].startswith(TRANSACTION))
        for ref, entry in by_ref.items()
    }
    assert counted == {view: v["statements"] for view, v in bare["views"].items()}
