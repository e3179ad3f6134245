"""EXPLAIN in the shim (docs/explain.md): what may be explained and analysed, the bounded
memory of statements, the round trip over a real socket, and against the real PostgreSQL and
MariaDB servers: plans with the original params, read-only ANALYZE, timeouts, refusals.

The Rust side of the round trip (the real collector and TUI state) is tests/explain.rs.
A database server that is not running FAILS these tests with the way to start it; to leave
one out on purpose, name it in DJTOP_TEST_SKIP_DATABASES=postgresql,mariadb.
"""

import json
import os
import socket
import subprocess
import threading

import pytest
from djtop import explain, recording
from djtop_testutil import HERE, example_shapes, python_command, run_python, wait_until
from explainproj.servers import missing

# -- what may be explained ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "a"."id" FROM "a" WHERE "a"."name" = %s',
        "  -- a comment\n /* another; DELETE */ ((SELECT 1))",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "SELECT 'UPDATE t SET a = 1; DELETE FROM t' AS s, \"insert\" FROM t",
        "SELECT $$ DELETE $$, $tag$ INSERT $tag$",
        "SELECT 1;",
        "VALUES (1), (2)",
        "select count(*) from t where updated_at > %s",
    ],
)
def test_plain_selects_may_be_analyzed(sql):
    assert explain.analyzable(sql) is None


@pytest.mark.parametrize(
    "sql, why",
    [
        ('UPDATE "t" SET "n" = "n" + 1', "not UPDATE"),
        ('DELETE FROM "t"', "not DELETE"),
        ('INSERT INTO "t" VALUES (%s)', "not INSERT"),
        ("/* hi */ (UPDATE t SET a = 1)", "not UPDATE"),
        ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "WITH holding DELETE"),
        ("WITH x AS (UPDATE t SET a = 1 RETURNING a) SELECT 1", "WITH holding UPDATE"),
        ("with m as (merge into t using s on true when matched then delete) select 1", "MERGE"),
        ('SELECT "id" FROM "t" WHERE "id" = %s FOR UPDATE', "FOR UPDATE"),
        ("SELECT id FROM t FOR NO KEY UPDATE SKIP LOCKED", "FOR NO KEY UPDATE"),
        ("SELECT id FROM t FOR SHARE", "FOR SHARE"),
        ("SELECT id FROM t LOCK IN SHARE MODE", "LOCK IN SHARE MODE"),
        ("SELECT * INTO new_table FROM t", "INTO"),
        ("SELECT a FROM t INTO OUTFILE '/tmp/x'", "INTO"),
        ("SELECT nextval('s')", "nextval()"),
        ("SELECT pg_advisory_lock(1)", "pg_advisory_lock()"),
        ("SELECT 1; DELETE FROM t", "DELETE"),
        ("SELECT 1; SELECT 2", "several statements"),
        ("SELECT 1 /*! , (SELECT 1 FROM t FOR UPDATE) */", "FOR UPDATE"),
        ("BEGIN", "not BEGIN"),
        ("", "not an empty statement"),
    ],
)
def test_writes_locks_and_tricks_are_refused_for_analyze(sql, why):
    reason = explain.analyzable(sql)
    assert reason and why in reason, reason


def test_plain_explain_plans_writes_but_not_other_statements():
    for sql in ('UPDATE "t" SET "a" = 1', "DELETE FROM t", "INSERT INTO t VALUES (1)"):
        assert explain.explainable(sql) is None, sql
    for sql in ("BEGIN", "COMMIT", "SAVEPOINT s1", "SET search_path = x", "PRAGMA foreign_keys"):
        assert "have no plan" in explain.explainable(sql), sql
    assert "several statements" in explain.explainable("SELECT 1; DROP TABLE t")


# -- the bounded memory -------------------------------------------------------------------------


def test_memory_is_a_bounded_ring_keyed_by_process_and_query_id():
    params = [object()]
    try:
        explain.configure(True, 3, 5)
        for qid in range(1, 6):
            explain.remember("s1", qid, "default", f"SELECT {qid}", params, False)
        assert explain.recall("s1", 1) is None and explain.recall("s1", 2) is None, "evicted"
        alias, sql, kept_params, many, kept = explain.recall("s1", 5)
        assert (alias, sql, many, kept) == ("default", "SELECT 5", False, True)
        assert kept_params is params, "the original params object, not a JSON-safe copy"
        assert explain.recall("s2", 5) is None, "another process's id"
        explain.remember("s1", 6, "default", "INSERT INTO t VALUES (%s)", iter([(1,)]), True)
        assert explain.recall("s1", 6)[2] is None, "executemany params are never kept"
        explain.remember("s1", 7, "default", "INSERT %s" * 10, list(range(10**4)), False)
        assert explain.recall("s1", 7)[4] is False, "a bulk statement is not kept whole"
        event = explain.answer(1, 2, False, sid="s1")
        assert event["reason"] == "refused"
        assert "query 2 is not among the last 3 statements" in event["error"]
        assert "too large" in explain.answer(2, 7, False, sid="s1")["error"]
        assert "executemany" in explain.answer(3, 6, False, sid="s1")["error"]
    finally:
        explain.configure(True, explain.MEMORY, explain.TIMEOUT)


def test_a_forked_child_keeps_answering_but_forgets_its_parents_statements():
    code = """
import os, sys
from djtop import explain, transport
t = transport.start("127.0.0.1:9", None, 10, {})
t.on_request = explain.submit
explain.remember(t.sid, 1, "default", "SELECT 1", [], False)
pid = os.fork()
if pid == 0:
    child = transport.get()
    ok = (child is not t and child.on_request is explain.submit and child.sid != t.sid
          and explain.recall(t.sid, 1) is None)
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert explain.recall(t.sid, 1) is not None, "the parent keeps its own"
sys.exit(os.WEXITSTATUS(status))
"""
    done = run_python(code)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unsupported_vendors_say_so():
    class Oracle:
        vendor = "oracle"

    event = explain._explain(explain._answer_base(1, 1, False), Oracle(), "SELECT 1", [], False)
    assert event["reason"] == "unsupported"
    assert event["error"] == "EXPLAIN is not supported for oracle"


# -- the round trip over a socket (SQLite, a stand-in collector) --------------------------------


class StandIn:
    """A collector that accepts one connection, keeps its events and can send lines back."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.events = []
        self._resolve = recording.Resolver()  # the shim sends protocol v2: defs, then ids
        self.conn = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.conn, _ = self.sock.accept()
        buf = b""
        while True:
            data = self.conn.recv(65536)
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            raw = [json.loads(line) for line in lines if line]
            self.events.extend(self._resolve.inline(raw))

    def send(self, obj):
        self.conn.sendall((obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n")

    def plan(self, ident):
        wait_until(lambda: any(e.get("id") == ident for e in self.plans()), what=f"plan {ident}")
        return next(e for e in self.plans() if e.get("id") == ident)

    def plans(self):
        return [e for e in self.events if e["type"] == "plan"]

    def close(self):
        for s in (self.conn, self.sock):
            if s is not None:
                s.close()


APP = """
import sys
import django
django.setup()
from shimproj.models import Author, Book
list(Book.objects.select_related("author").filter(author__name="Ann", price__gte="1.00"))
Author.objects.filter(name__startswith="A").update(name="Ann")
print("ready", flush=True)
sys.stdin.read()
"""


def test_round_trip_over_the_socket_sqlite():
    server = StandIn()
    cmd, env = python_command(APP, env={"DJTOP_ADDRESS": server.address, "DJTOP_ENABLED": "1"})
    proc = subprocess.Popen(
        cmd, cwd=HERE, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        queries = lambda: [e for e in server.events if e["type"] == "query"]  # noqa: E731
        wait_until(lambda: any(q["sql"].startswith("UPDATE") for q in queries()), what="queries")
        join = next(q for q in queries() if "INNER JOIN" in q["sql"])
        update = next(q for q in queries() if q["sql"].startswith("UPDATE"))
        server.send({"type": "explain", "id": 1, "qid": join["qid"], "analyze": False})
        plan = server.plan(1)
        assert plan["sid"] == join["sid"] and plan["qid"] == join["qid"]
        assert (plan["vendor"], plan["format"], plan["error"]) == ("sqlite", "rows", None)
        assert plan["prefix"] == "EXPLAIN QUERY PLAN"
        details = [row[3] for row in plan["plan"]]
        assert any("shimproj_book" in d for d in details), details
        assert all(len(row) == 4 for row in plan["plan"])
        # the example line documents every field the shim sends ("tables" is optional)
        assert set(plan) - {"tables"} <= set(example_shapes()["plan"])
        assert set(example_shapes()["plan"]) - {"tables"} <= set(plan)

        server.send({"type": "explain", "id": 2, "qid": update["qid"], "analyze": True})
        assert "SQLite has no EXPLAIN ANALYZE" in server.plan(2)["error"]
        server.send({"type": "explain", "id": 3, "qid": update["qid"], "analyze": False})
        assert server.plan(3)["error"] is None, "plain EXPLAIN QUERY PLAN of an UPDATE"
        server.send({"type": "explain", "id": 4, "qid": 10**6, "analyze": False})
        assert "not among the last 2000" in server.plan(4)["error"]
        # malformed requests and other lines are ignored; SQL text is never taken
        server.send(b'{"type":"explain","qid":1}')
        server.send(b"not json")
        server.send({"type": "explain", "id": 5, "qid": join["qid"], "sql": "DROP TABLE x"})
        assert server.plan(5)["error"] is None
        assert [p["id"] for p in server.plans()] == [1, 2, 3, 4, 5]
        # the explain thread's own statements are not captured
        assert not [q for q in queries() if "EXPLAIN" in q["sql"]]
    finally:
        proc.stdin.close()
        proc.wait(10)
        server.close()


# -- against the real servers -------------------------------------------------------------------

CHECKS = r"""
import datetime, decimal, json, sys, threading, time
from explainproj import scenario
vendor = scenario.setup()
from django.db import connection, connections
from djtop import explain
from explainproj.models import Book

explain.configure(True, 100, 0.5)
out = {}
n = [0]

def ask(sql, params, analyze):
    n[0] += 1
    explain.remember("sid", n[0], "default", sql, params, False)
    return explain.answer(n[0], n[0], analyze, sid="sid")

qs = Book.objects.select_related("author").filter(
    author__name="Author 7", price__gte=decimal.Decimal("10.50"),
    published__gte=datetime.date(2020, 3, 1))
sql, params = qs.query.sql_with_params()
out["param_types"] = sorted({type(p).__name__ for p in params})
out["select"] = ask(sql, params, False)
out["analyze"] = ask(sql, params, True)

book = Book.objects.get(pk=1)
update = 'UPDATE explainproj_book SET stock = stock + %s WHERE id = %s'
out["update"] = ask(update, [1, 1], False)
out["update_analyze"] = ask(update, [1, 1], True)

# Even if the statement check were fooled, the read-only transaction refuses the write.
prefix = "EXPLAIN (ANALYZE)" if vendor == "postgresql" else "ANALYZE"
guard = connections.create_connection("default")
try:
    explain._run(guard, explain._vendor(guard), prefix + " " + update, [1, 1], 5, True)
    out["guard"] = "ran"
except Exception as exc:
    out["guard"] = str(exc)
finally:
    explain._close(guard)
out["stock_before"] = book.stock
out["stock_after"] = Book.objects.get(pk=1).stock

sleep = "SELECT pg_sleep(%s)" if vendor == "postgresql" else "SELECT SLEEP(%s)"
t0 = time.monotonic()
out["timeout"] = ask(sleep, [3], True)
out["timeout_seconds"] = time.monotonic() - t0

with connection.cursor() as cursor:
    if vendor == "postgresql":
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%'")
    else:
        cursor.execute("SELECT count(*) FROM information_schema.INNODB_TRX")
    out["open_transactions"] = cursor.fetchone()[0]
print(json.dumps(out, default=str))
"""


def checks(vendor):
    skip = os.environ.get("DJTOP_TEST_SKIP_DATABASES", "")
    if vendor in [s.strip() for s in skip.split(",")]:
        pytest.skip(f"{vendor} left out on purpose: DJTOP_TEST_SKIP_DATABASES={skip}")
    why = missing(vendor)
    if why:
        pytest.fail(why, pytrace=False)
    env = {
        "DJANGO_SETTINGS_MODULE": "explainproj.settings",
        "EXPLAINPROJ_VENDOR": vendor,
        "EXPLAINPROJ_DB": "djtop_explain_py",
        "DJTOP_ENABLED": "0",
    }
    done = run_python(CHECKS, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("vendor", ["postgresql", "mariadb"])
def test_explain_on_the_real_server(vendor):
    out = checks(vendor)
    # The params as Django passed them to the cursor (the JSON copy would hold only strings);
    # MySQL's backend turns dates into strings itself.
    types = ["Decimal", "date", "str"] if vendor == "postgresql" else ["Decimal", "str"]
    assert out["param_types"] == types, "real Python types reach EXPLAIN"

    select = out["select"]
    assert select["error"] is None, select
    assert (select["vendor"], select["format"]) == (vendor, "json")
    assert select["tables"] == {"explainproj_author": 40.0, "explainproj_book": 4000.0}
    analyze = out["analyze"]
    assert analyze["error"] is None, analyze
    text = json.dumps(analyze["plan"])
    assert ("Actual Rows" in text) if vendor == "postgresql" else ("r_rows" in text)
    if vendor == "postgresql":  # Django orders the options as a frozenset iterates
        for part in ("EXPLAIN (", "ANALYZE true", "BUFFERS true", "FORMAT JSON"):
            assert part in analyze["prefix"]
    else:
        assert analyze["prefix"] == "ANALYZE FORMAT=JSON"

    assert out["update"]["error"] is None, "plain EXPLAIN of an UPDATE only plans it"
    refused = out["update_analyze"]
    assert refused["reason"] == "refused" and "not UPDATE" in refused["error"]
    assert "read-only" in out["guard"] or "READ ONLY" in out["guard"], out["guard"]
    assert out["stock_after"] == out["stock_before"], "nothing was written"

    timeout = out["timeout"]
    assert timeout["reason"] == "timeout", timeout
    assert "ran longer than 0.5 s" in timeout["error"]
    assert out["timeout_seconds"] < 2.5, "cancelled, not waited out"
    assert out["open_transactions"] == 0, "every EXPLAIN was rolled back and closed"
