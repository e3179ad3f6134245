"""The execute wrapper: every connection, executemany, params, errors, work outside requests."""

import datetime
import decimal
import sqlite3
import sys
import threading
import uuid

import pytest
from django.db import connection, connections
from django.db.utils import DatabaseError, OperationalError
from djtop.capture import _WRAPPER, json_safe, json_safe_params
from djtop_testutil import read_events
from shimproj.models import Author, Tag


def djtop_wrappers(conn):
    return [w for w in conn.execute_wrappers if w is _WRAPPER]


def queries_with(events, text):
    return [e for e in events if e["type"] == "query" and text in e["sql"]]


def scope_of(events, query):
    (request,) = [e for e in events if e["type"] == "request" and e["rid"] == query["rid"]]
    return request


def test_reconnect_keeps_exactly_one_wrapper():
    Author.objects.exists()
    assert len(djtop_wrappers(connection)) == 1
    connection.close()
    Author.objects.filter(name="reconnect-probe").exists()  # connection_created fires again
    assert len(djtop_wrappers(connection)) == 1
    assert djtop_wrappers(connection)[0] is connection.execute_wrappers[0]
    events = read_events()
    assert len([q for q in events if "reconnect-probe" in str(q.get("params"))]) == 1


def test_users_own_execute_wrapper_blocks_do_not_remove_ours():
    calls = []

    def mine(execute, sql, params, many, context):
        calls.append(sql)
        return execute(sql, params, many, context)

    connection.close()
    with connection.execute_wrapper(mine):  # connects inside: ours is added meanwhile
        Author.objects.filter(name="inside-user-wrapper").exists()
    assert calls and djtop_wrappers(connection) and mine not in connection.execute_wrappers
    Author.objects.filter(name="after-user-wrapper").exists()
    assert len([e for e in read_events() if "after-user-wrapper" in str(e.get("params"))]) == 1


def test_a_wrapper_put_outside_ours_is_in_the_stack_after_the_walk_learned_its_start():
    """The walk starts past the backend's cursor wrappers, as the statements before showed
    them (stacks.skip); a user's wrapper outside ours changes that shape and is walked."""

    def outer(execute, sql, params, many, context):
        return execute(sql, params, many, context)

    Author.objects.filter(name="skip-before").exists()
    connection.execute_wrappers.insert(0, outer)
    try:
        Author.objects.filter(name="skip-outer").exists()
    finally:
        connection.execute_wrappers.remove(outer)
    Author.objects.filter(name="skip-after").exists()
    line = sys._getframe().f_lineno - 1
    events = read_events()
    (inside,) = [e for e in events if "skip-outer" in str(e.get("params"))]
    (after,) = [e for e in events if "skip-after" in str(e.get("params"))]
    assert inside["stack"][0][2] == "outer"
    assert inside["stack"][1][2] == after["stack"][0][2]
    assert after["stack"][0] == [
        "test_capture.py",
        line,
        "test_a_wrapper_put_outside_ours_is_in_the_stack_after_the_walk_learned_its_start",
    ]


def test_queries_outside_requests_are_labelled_by_thread_and_startup():
    def work(name):
        Author.objects.filter(name=name).count()
        connections.close_all()

    for label in ("first", "second"):
        thread = threading.Thread(target=work, args=(f"thread-{label}",), name="djtop-worker")
        thread.start()
        thread.join()
    Author.objects.filter(name="main-thread").count()

    events = read_events()
    first, second = (
        [e for e in events if e["type"] == "query" and e["params"] == [f"thread-{label}"]][0]
        for label in ("first", "second")
    )
    scope = scope_of(events, first)
    assert scope["kind"] == "thread" and scope["path"] == "thread:djtop-worker"
    assert scope["method"] is None
    assert second["rid"] == first["rid"]  # one scope per name
    assert first["stack"][0][0] == "test_capture.py"  # new connection object, wrapped too
    (main,) = [e for e in events if e["type"] == "query" and e["params"] == ["main-thread"]]
    scope = scope_of(events, main)
    assert scope["kind"] == "startup" and scope["path"] == "startup"
    assert scope_of(events, main)["ts"] <= main["ts"]
    assert len([e for e in events if e["type"] == "request" and e["path"] == "startup"]) == 1


def test_executemany_with_a_generator_is_never_iterated_by_us():
    consumed = []

    def rows():
        for i in range(5):
            consumed.append(i)
            yield (f"gen-tag-{i}",)

    sql = 'INSERT INTO "shimproj_tag" ("name") VALUES (%s)'
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows())
    assert consumed == [0, 1, 2, 3, 4]
    assert Tag.objects.filter(name__startswith="gen-tag-").count() == 5  # all reached the DB
    (query,) = queries_with(read_events(), sql)
    assert query["many"] is True
    assert query["params"] is None
    assert query["rows"] in (5, None)
    assert query["error"] is None


def test_params_are_json_safe():
    when = datetime.datetime(2026, 11, 21, 10, 0, tzinfo=datetime.timezone.utc)
    params = [when, decimal.Decimal("1.50"), b"abcd", True, None, 7, 2.5, "text"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s, %s, %s, %s, %s, %s, %s, %s -- json-safe", params)
    (query,) = queries_with(read_events(), "-- json-safe")
    assert query["params"] == [
        "2026-11-21T10:00:00+00:00",
        "1.50",
        {"$bytes": 4},
        True,
        None,
        7,
        2.5,
        "text",
    ]
    assert query["rows"] is None  # sqlite reports -1 for SELECT


def test_json_safe_values():
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert json_safe(value) == "12345678-1234-5678-1234-567812345678"
    assert json_safe(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert json_safe(datetime.time(10, 30)) == "10:30:00"
    assert json_safe(memoryview(b"xyz")) == {"$bytes": 3}
    assert json_safe(bytearray(b"ab")) == {"$bytes": 2}
    assert json_safe(float("nan")) == "nan"
    assert json_safe([1, (2, b"")]) == [1, [2, {"$bytes": 0}]]
    assert json_safe(object()).startswith("<object object at")
    assert json_safe_params({"a": 1}) == {"a": 1}
    assert json_safe_params(None) is None


def test_database_errors_are_recorded_and_reraised_unchanged():
    with pytest.raises(OperationalError) as caught, connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM nope -- error-test")
    assert str(caught.value) == "no such table: nope"
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    (query,) = queries_with(read_events(), "error-test")
    assert query["error"] == "OperationalError: no such table: nope"
    assert query["rows"] is None
    assert query["stack"][0][0] == "test_capture.py"

    value = uuid.UUID("12345678-1234-5678-1234-567812345678")  # sqlite3 cannot bind a UUID
    # (with DEBUG, Django's own debug cursor then fails again quoting it for the log;
    # Python < 3.11 calls it InterfaceError)
    with pytest.raises((DatabaseError, sqlite3.Error)), connection.cursor() as cursor:
        cursor.execute("SELECT %s -- bind-error", [value])
    (query,) = queries_with(read_events(), "bind-error")
    assert query["params"] == [str(value)]
    assert query["error"].split(":")[0] in ("ProgrammingError", "InterfaceError")


def test_wrapper_reraises_the_very_same_exception_object():
    class Boom(Exception):
        pass

    boom = Boom("boom")

    def execute(sql, params, many, context):
        raise boom

    with connection.cursor() as cursor:
        context = {"connection": connection, "cursor": cursor}
        with pytest.raises(Boom) as caught:
            _WRAPPER(execute, "SELECT 'wrapped'", None, False, context)
    assert caught.value is boom
    (query,) = queries_with(read_events(), "SELECT 'wrapped'")
    assert query["error"] == "Boom: boom"


def test_hide_modules_and_stack_depth():
    from djtop import conf, stacks
    from shimproj.helpers import count_books

    cfg = conf.get()
    try:
        stacks.configure(cfg.root, depth=1, hide_modules=["shimproj.helpers"])
        count_books()  # its frame is hidden now: the query points at this line
        line = sys._getframe().f_lineno - 1
    finally:
        stacks.configure(cfg.root, cfg.stack_depth, cfg.hide_modules)
    count_books()
    first, second = [q for q in read_events() if q.get("sql", "").startswith("SELECT COUNT")][-2:]
    assert first["stack"] == [["test_capture.py", line, "test_hide_modules_and_stack_depth"]]
    assert second["stack"][0][0] == "shimproj/helpers.py" and len(second["stack"]) > 1


def test_begin_without_a_statement_is_counted_like_django():
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        transaction.set_autocommit(False)  # Django logs BEGIN, no statement runs
        try:
            Tag.objects.create(name="manual-begin")
            transaction.commit()
        finally:
            transaction.set_autocommit(True)
    assert [q["sql"] for q in captured.captured_queries][::2] == ["BEGIN", "COMMIT"]
    events = read_events()
    (insert,) = [e for e in events if (e.get("params") or [None])[0] == "manual-begin"]
    i = events.index(insert)
    assert [e["sql"] for e in events[i - 1 : i + 2]] == ["BEGIN", insert["sql"], "COMMIT"]
    assert events[i - 1]["stack"][0][0] == "test_capture.py"


def test_library_frames_show_how_the_orm_got_to_the_sql():
    from djtop import conf, stacks
    from shimproj.models import Book

    author = Author.objects.create(name="library frames")
    book = Book.objects.create(title="lib", author=author)
    cfg = conf.get()
    try:
        fresh = Book.objects.get(pk=book.pk)
        assert fresh.author.name == "library frames"  # the lazy load
        line = sys._getframe().f_lineno - 1
        stacks.configure(cfg.root, cfg.stack_depth, cfg.hide_modules, library=0)
        again = Book.objects.get(pk=book.pk)
        assert again.author.pk == author.pk
    finally:
        stacks.configure(cfg.root, cfg.stack_depth, cfg.hide_modules, cfg.library_frames)
        book.delete()  # other tests seed on exactly the conftest's rows
        author.delete()
    loads = [q for q in read_events() if (q.get("rel") or {}).get("field") == "author"][-2:]
    first, second = loads
    assert first["stack"][0] == [
        "test_capture.py",
        line,
        "test_library_frames_show_how_the_orm_got_to_the_sql",
    ]
    files = [f[0] for f in first["lib"]]
    functions = [f[2] for f in first["lib"]]
    assert "django/db/models/fields/related_descriptors.py" in files
    assert "get_object" in functions and "execute_sql" in functions
    assert not any(f.startswith(("djtop/", "django/db/backends/")) for f in files), files
    assert len(first["lib"]) <= cfg.library_frames
    # the last is the frame the test's line called, even when there are more than fit (6.1's
    # fetch modes add two)
    assert first["lib"][-1][:1] == ["django/db/models/fields/related_descriptors.py"]
    assert first["lib"][-1][2] == "__get__"
    assert "lib" not in second, "library_frames: 0 turns them off"
