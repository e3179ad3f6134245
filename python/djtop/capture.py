"""Recording every SQL statement: one permanent execute wrapper per database connection.

The wrapper is added to each connection object's ``execute_wrappers`` when the connection is
established (``connection_created``, which fires again on reconnect and before the first
query of every new connection object, in every thread or async context), and to the
connections that already exist when the app is ready.
"""

import atexit
import contextlib
import contextvars
import datetime
import decimal
import math
import platform
import sys
import threading
import uuid
import weakref
from time import perf_counter_ns, time_ns

from . import conf, context, explain, guard, stacks, transport

_installed = False
_install_lock = threading.Lock()
# True while djtop runs statements or code that may (a param's repr(), EXPLAIN): not the app's.
busy = contextvars.ContextVar("djtop_busy", default=False)
_busy = busy.get
# The last statement recorded in each thread: thread ident -> (qid, its stack as walked).
# relations reads it to say which statement loaded a queryset's rows (and from where).
last = {}
_get_ident = threading.get_ident
_stacks_on = True
_relations = None  # the relations module once its hooks are installed
_explain = None  # the explain module when EXPLAIN requests are answered
_current_request = context.current.get
_getframe = sys._getframe


def djtop_execute_wrapper(execute, sql, params, many, ctx):
    """The execute wrapper (see Django's "Database instrumentation"). A plain function: Django
    calls it once per statement, and calling an instance's ``__call__`` costs more."""
    sink = transport._transport
    # Nobody listens (or djtop's own work): only Django's call to this wrapper is left.
    if sink is None or not sink.active or _busy():
        return execute(sql, params, many, ctx)
    ts = time_ns()
    t0 = perf_counter_ns()
    error = None
    try:
        return execute(sql, params, many, ctx)
    except BaseException as exc:
        error = exc
        raise  # the app's own exception, unchanged
    finally:
        dur = perf_counter_ns() - t0
        try:
            _record(sink, sql, params, many, ctx["connection"], ctx["cursor"], ts, dur, error)
        except Exception:
            pass


_WRAPPER = djtop_execute_wrapper


# -- COMMIT / ROLLBACK / BEGIN -----------------------------------------------------------------
# Django runs these through the DB-API connection rather than a cursor, so no execute wrapper
# sees them; since 4.2 its own query log (connection.queries, CaptureQueriesContext,
# assertNumQueries) lists them, by way of django.db.backends.utils.debug_transaction. The
# backend modules that use it get a version that also records them, so djtop's counts are
# Django's.

_debug_transaction = None  # Django's original (None before 4.2: nothing to match)
_hooked_modules = set()


@contextlib.contextmanager
def _recording_debug_transaction(connection, sql):
    sink = transport._transport
    if sink is None or not sink.active or _busy():
        with _debug_transaction(connection, sql):
            yield
        return
    ts = time_ns()
    t0 = perf_counter_ns()
    error = None
    try:
        with _debug_transaction(connection, sql):
            yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        dur = perf_counter_ns() - t0
        try:
            _record(sink, sql, None, False, connection, None, ts, dur, error)
        except Exception:
            pass


def _hook_transactions(connection):
    """Swap debug_transaction in the modules defining this connection's class and bases."""
    for cls in type(connection).__mro__:
        name = cls.__module__
        if name in _hooked_modules:
            continue
        _hooked_modules.add(name)
        module = sys.modules.get(name)
        if getattr(module, "debug_transaction", None) is _debug_transaction:
            module.debug_transaction = _recording_debug_transaction


def _record(sink, sql, params, many, connection, cursor, ts, dur, error):
    state = _current_request()
    if state is not None:
        if state.skip:  # it started while nobody listened
            return
        rid = state.rid
        task = state.task
        loop_thread = state.loop_thread
        walks = state.walks
    else:
        rid = context.scope_rid(sink, ts / 1e9)
        task = loop_thread = walks = None
    rows = None
    if error is None and cursor is not None:
        try:
            # the DB-API cursor itself: Django's wrapper would answer through __getattr__
            rowcount = getattr(cursor, "cursor", cursor).rowcount
            if type(rowcount) is int and rowcount >= 0:
                rows = rowcount
        except Exception:
            pass
    # executemany params may be a one-shot generator: never iterate them
    if many:
        safe_params = None
    elif type(params) is tuple:  # json_safe_params' common case, inline
        safe_params = params
        for value in params:
            if type(value) not in _PLAIN:
                safe_params = json_safe_params(params)
                break
    else:
        safe_params = json_safe_params(params)
    relations = _relations
    orm = rel = None
    if relations is not None:
        orm, rel = relations.attribution()
    if _stacks_on:
        lib = []
        # from the first frame that is not the backend's plumbing (stacks.skip)
        skipped, code = stacks.skip
        try:
            frame = _getframe(2 + skipped)
        except ValueError:
            frame = None
        if frame is None or frame.f_code is not code:
            frame = _getframe(2)
            stacks.learn_skip(frame)
        stack = stacks.capture(frame, task, loop_thread, lib, walks)
    else:
        lib = stack = ()
    qid = next(sink._qids)
    if _explain is not None:
        _explain.remember(sink.sid, qid, connection.alias, sql, params, many)
    last[_get_ident()] = (qid, stack)
    # Encoded here, while its objects are in this core's caches (transport.emit_query).
    sink.emit_query(
        rid,
        qid,
        connection.alias,
        connection.vendor,
        sql,
        safe_params,
        many,
        ts,
        dur,
        rows,
        stack,
        lib,
        None if error is None else _describe(error),
        orm,
        rel,
    )


# -- params ----------------------------------------------------------------------------------

_REPR_LIMIT = 1000


_PLAIN = frozenset((int, str, type(None), bool))


def json_safe_params(params):
    """Params as JSON-safe values (see docs/protocol.md); a mapping stays a mapping."""
    if params is None:
        return None
    kind = type(params)
    if kind is tuple or kind is list:
        plain = _PLAIN
        for value in params:
            if type(value) not in plain:
                break
        else:  # the common case: nothing to convert, and a tuple cannot change under us
            return params if kind is tuple else tuple(params)
    # repr() of an odd value may itself query: those statements are djtop's, not the app's
    token = busy.set(True)
    try:
        return _json_safe_params(params)
    finally:
        busy.reset(token)


def _json_safe_params(params):
    if isinstance(params, dict):
        return {str(k): json_safe(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [json_safe(v) for v in params]
    return _repr(params)


def json_safe(value):
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": value.nbytes if isinstance(value, memoryview) else len(value)}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime.timedelta):
        return str(value)
    return _repr(value)


def _repr(value):
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _REPR_LIMIT else text[:_REPR_LIMIT] + "..."


def _describe(error):
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return type(error).__name__


# -- installing ------------------------------------------------------------------------------


_connections = weakref.WeakSet()  # every connection object given the wrapper


def add_wrapper(connection):
    """Give one connection object our wrapper (and transaction hooks), once; while nobody
    listens it is only remembered, and gets the wrapper when a collector appears."""
    if _debug_transaction is not None:
        _hook_transactions(connection)
    try:
        _connections.add(connection)
    except TypeError:  # not weak-referenceable: keep the wrapper on for good
        pass
    else:
        sink = transport._transport
        if sink is not None and not sink.active:
            return
    _insert_wrapper(connection)


def _insert_wrapper(connection):
    wrappers = connection.execute_wrappers
    for wrapper in wrappers:
        if wrapper is _WRAPPER:
            return
    # First (outermost), so that `with connection.execute_wrapper(...)` blocks, which pop()
    # the last wrapper on exit, never remove ours.
    wrappers.insert(0, _WRAPPER)


def _remove_wrapper(connection):
    wrappers = connection.execute_wrappers
    for index, wrapper in enumerate(wrappers):
        if wrapper is _WRAPPER:
            del wrappers[index]
            return


def _while_listened(active):
    """Capture costs something on every statement and queryset call: while no collector
    listens, the execute wrappers, the relation hooks and the sync_to_async hook come out, so
    the app runs as bare Django (the transport calls this on its thread as that changes;
    hooks go in before capture starts and out after it stopped)."""
    if active and _relations is not None:
        _relations.install()
    stacks.hook_sync_to_async(active)
    for connection in list(_connections):
        try:
            (_insert_wrapper if active else _remove_wrapper)(connection)
        except Exception:
            pass
    if not active and _relations is not None:
        _relations.uninstall()


def _on_connection_created(sender, connection, **kwargs):
    try:
        add_wrapper(connection)
    except Exception:
        pass


def install():
    """Start capturing, once per process; False when djtop is disabled."""
    global _installed, _stacks_on, _debug_transaction, _relations, _explain
    cfg = conf.get()
    if not cfg.enabled:
        return False
    with _install_lock:
        if _installed:
            return True
        from django.db import connections
        from django.db.backends import utils
        from django.db.backends.signals import connection_created

        _debug_transaction = getattr(utils, "debug_transaction", None)
        if _debug_transaction is not None and not guard.accepts(
            "django.db.backends.utils.debug_transaction", _debug_transaction, ("(connection, sql)",)
        ):
            _debug_transaction = None  # BEGIN/COMMIT/ROLLBACK go unrecorded
        stacks.configure(cfg.root, cfg.stack_depth, cfg.hide_modules, cfg.library_frames)
        _stacks_on = cfg.stacks and cfg.stack_depth > 0
        sink = transport.start(cfg.address, cfg.record, cfg.queue_size, hello_fields(cfg))
        if cfg.explain and not cfg.record:  # a recording has no collector to ask
            explain.configure(True, cfg.explain_memory, cfg.explain_timeout)
            sink.on_request = explain.submit
            _explain = explain
        connection_created.connect(_on_connection_created, dispatch_uid="djtop.capture")
        try:
            existing = connections.all(initialized_only=True)
        except TypeError:  # Django < 4.1
            existing = connections.all()
        for connection in existing:
            add_wrapper(connection)
        if cfg.relations:
            try:
                from . import relations

                if relations.install():
                    _relations = relations
            except Exception:
                pass
        sink.on_active = _while_listened
        atexit.register(transport.flush, 0.5)
        sink.start()  # find out now whether anyone listens (transport.active)
        _installed = True
        return True


def hello_fields(cfg):
    """The process-wide part of the `hello` event."""
    import django
    from django.conf import settings
    from django.db import connections

    databases = []
    for alias in getattr(settings, "DATABASES", {}) or {}:
        try:
            vendor = connections[alias].vendor  # does not connect
        except Exception:
            vendor = "unknown"
        databases.append({"alias": alias, "vendor": vendor})
    return {
        "argv": [str(a) for a in sys.argv],
        "django": django.get_version(),
        "python": platform.python_version(),
        "databases": databases,
        "root": cfg.root,
        "models": _model_tables,  # computed when the first hello is built
    }


def _model_tables():
    from . import relations

    return relations.model_tables()
