"""Getting events out of the process without ever blocking it, and not capturing at all while
nobody listens.

The app's threads only append an event to a bounded deque (dropping and counting when it is
full); nothing wakes up per event. A daemon sender thread, started with the transport, wakes
when a request ends (``wake``), when ``WAKE_AT`` events are waiting, and at the latest every
``LATENCY`` seconds, and writes what has gathered (NDJSON) to the collector's socket, or
appends it to a file with ``DJTOP_RECORD``. So a request's queries usually travel
in one batch, right after its response, and a long request's still show up as it runs. Every
connection (and a recording) starts with ``hello``.

A query is encoded on the app's thread that ran it, right after the statement, into the
protocol's v2 line (docs/protocol.md): each distinct SQL text, stack, library-frame list and
relation gets an id once per process, the first time a query needs it, and its ``def`` line
(written by the sender, queued ahead of that query's line) defines it for the collector; an
N+1's thousand queries cost a thousand short lines rather than a thousand copies of the SQL
and the stack. Encoding there, while the statement's objects are still in that core's
caches, spares the sender's core from fetching them (docs/performance.md measures both
sides); the queue holds short lines instead of each statement's objects, and the sender only
writes bytes, and the def lines, which are rare.
After a reconnect (a collector restart, say) it first sends again the defs it had sent,
since the new collector knows none.

``active`` says whether capturing is worth anything: true while connected (or recording, or
before the first attempt), false once an attempt to reach the collector failed. The execute
wrapper, the relation hooks and the middleware check it first, so a process whose collector is
down pays next to nothing. While it is false the sender tries again every ``RETRY`` seconds and
when a request starts (``poke``), at most every ``RETRY_MIN``; the first request that starts
after it reconnects is captured whole. After ``fork`` the child gets a new session id, queue
and thread.

The collector may send lines back on the same connection (EXPLAIN requests, docs/explain.md):
a reader thread per connection hands each JSON object to ``on_request`` (set by the explain
module), which only queues it; answers are emitted like any other event.
"""

import collections
import itertools
import json
import os
import socket
import sys
import threading
import time

from .stacks import owner_of, resolve, site_of

PROTOCOL_VERSION = 2
MAX_LINE = 4 * 1024 * 1024  # the collector skips longer lines
BATCH = 2048  # events per write
LATENCY = 0.2  # the longest an event waits to be sent (a request's end sends it at once)
WAKE_AT = 512  # ... or this many waiting events: a long request's queries keep flowing
# While no collector listens: try again this often, and when a request starts, but at most
# every RETRY_MIN. Each attempt wakes this thread, which then takes the GIL from the app's:
# at 0.25 s / 0.05 s the attempts cost the app ~8 µs per query (docs/performance.md).
RETRY = 2.0
RETRY_MIN = 1.0
MAX_DEFS = 50_000  # ids in use per process; the tables start over beyond it (ids keep growing)


def _default(value):
    """JSON for what json cannot encode: its repr()."""
    return repr(value)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_default)


def _make_iterencode():
    """``iterencode(value, 0)``: the chunks of value's compact JSON, as _ENCODER gives it, from
    a C encoder built once (JSONEncoder.encode builds one anew on every call: ~3x slower for
    the small containers of a query)."""
    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii

        if c_make_encoder is not None and encode_basestring_ascii is not None:
            return c_make_encoder(
                None, _default, encode_basestring_ascii, None, ":", ",", False, False, False
            )
    except ImportError:
        pass
    return lambda value, _level: _ENCODER.iterencode(value)


_iterencode = _make_iterencode()
_join = "".join


def _encode_json(value):
    """Compact JSON text of a value (the sender's per-query path calls _iterencode itself)."""
    return _join(_iterencode(value, 0))


def new_sid():
    return os.urandom(8).hex()


class _Marker:
    """Put in the queue by flush(); set once everything before it is written."""

    __slots__ = ("done",)

    def __init__(self):
        self.done = threading.Event()


class Transport:
    def __init__(self, address="127.0.0.1:7878", record=None, queue_size=10000, hello=None):
        self.address = address
        self.record = record
        self.queue_size = queue_size
        self.hello = dict(hello or {})  # the fixed part of the hello event
        self.sid = new_sid()
        self.drops = 0  # events dropped since the process started
        self.down = False  # the last connection attempt failed
        self.active = True  # worth capturing: connected, recording, or not yet tried
        self.hooked = True  # the capture hooks (on_active) are in
        self._rids = itertools.count(1)  # next() is atomic
        self._qids = itertools.count(1)  # capture takes next() of it directly, per query
        self._queue = collections.deque()  # append()/popleft() are atomic
        self._wake = threading.Event()
        self._drop_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread = None
        self._sink = None
        self._defs = _Defs(self._queue)  # the ids of this process's SQL texts, stacks, relations
        self._defs_sent = 0  # the sender has written every def up to this id (ids grow)
        self.on_request = None  # called with each JSON object the collector sends
        self.on_active = None  # called (on the sender thread) with True/False as it changes

    # -- called from the app's threads: never blocks, never raises -------------------------

    def next_rid(self):
        return f"{self.sid}-{next(self._rids)}"

    def emit(self, event):
        """Queue one event (a dict: a request's start or end, an EXPLAIN answer, ...; queries
        go through ``emit_query``); False when the queue is full and it was dropped."""
        queue = self._queue
        waiting = len(queue)
        if waiting >= self.queue_size:
            with self._drop_lock:
                self.drops += 1
            return False
        queue.append(event)
        if waiting == WAKE_AT:
            self._wake.set()
        elif self._thread is None:
            self.start()
        return True

    def emit_query(self, rid, qid, alias, vendor, sql, params, many, ts_ns, dur_ns, rows, stack,
                   lib, error, orm, rel):  # fmt: skip
        """Queue one statement (see capture._record) as its v2 line; the ids it names that
        are new get their defs queued first. False when the queue is full and it was dropped.

        Written for speed: it runs once per query, on the app's thread, and a Python call or
        a string concatenation less is a measurable share of what djtop costs."""
        queue = self._queue
        waiting = len(queue)
        if waiting >= self.queue_size:
            with self._drop_lock:
                self.drops += 1
            return False
        try:
            defs = self._defs
            sql_id = defs.sql.get(sql)
            if sql_id is None:
                sql_id = defs.define(defs.sql, sql, "sql", sql)
            # An N+1 repeats one stack: compared with the last one (list equality checks
            # identity first, so the code objects are not compared field by field, nor
            # hashed as a dict key would need). (stack, id): one slot, read and written whole.
            last = defs.last_stack
            if stack == last[0]:
                stack_id = last[1]
            else:
                key = tuple(stack)
                stack_id = defs.frames.get(key)
                if stack_id is None:
                    stack_id = defs.define(defs.frames, key, "frames", key)
                defs.last_stack = (stack, stack_id)
            where = _alias_vendor.get((alias, vendor))
            if where is None:
                where = _remember_pair(_alias_vendor, "alias", alias, "vendor", vendor)
            tail = ',"error":null' if error is None else f',"error":{_encode_json(error)}'
            if lib:
                last = defs.last_lib
                if lib == last[0]:
                    lib_id = last[1]
                else:
                    key = tuple(lib)
                    lib_id = defs.frames.get(key)
                    if lib_id is None:
                        lib_id = defs.define(defs.frames, key, "frames", key)
                    defs.last_lib = (lib, lib_id)
                tail = f',"lib_id":{lib_id}{tail}'
            if orm is not None:
                model, op, lookups = orm
                what = _model_op.get((model, op))
                if what is None:
                    what = _remember_pair(_model_op, "model", model, "op", op)
                if lookups is None:
                    tail = f'{tail},"orm":{{{what}}}'
                else:
                    # {"pk": 5}, the common case, without the encoder (~1.6x cheaper)
                    text = None
                    if len(lookups) == 1:
                        ((key, value),) = lookups.items()
                        if type(value) is int:
                            name = _names.get(key)
                            if name is None:
                                name = _name(key)
                            text = f"{{{name}:{value}}}"
                    if text is None:
                        text = _join(_iterencode(lookups, 0))
                    tail = f'{tail},"orm":{{{what},"lookups":{text}}}'
            if rel is not None:
                # A loop's lazy loads share one relation tuple (relations' get_object)
                info, rel_op, rel_lookups = rel
                last = defs.last_rel
                if info is last[0] and rel_op == last[1] and rel_lookups is None and last[2]:
                    rel_id = last[2]
                else:
                    key = rel_key(rel)
                    entry = defs.rels.get(key)
                    if entry is None:
                        rel_id = defs.define(defs.rels, key, "rel", rel)
                    else:
                        rel_id = entry[0]
                    if rel_lookups is None:
                        defs.last_rel = (info, rel_op, rel_id)
                tail = f'{tail},"rel_id":{rel_id}'
            if params is None:
                ptext = "null"
            elif type(params) is tuple and len(params) == 1 and type(params[0]) is int:
                ptext = f"[{params[0]}]"  # an N+1's one id, without the encoder
            else:
                ptext = _join(_iterencode(params, 0))
            line = (
                f'{{"type":"query","sid":"{self.sid}","rid":"{rid}","qid":{qid},{where},'
                f'"sql_id":{sql_id},"params":'
                f"{ptext},"
                f'"many":{"true" if many else "false"},"ts_ns":{ts_ns},"dur_ns":{dur_ns},'
                f'"rows":{"null" if rows is None else rows},"stack_id":{stack_id}{tail}}}\n'
            )
            data = line.encode("utf-8")
            if len(data) >= MAX_LINE:
                # oversized params: the query still counts, without them
                data = line.replace(f'"params":{ptext}', '"params":null', 1).encode("utf-8")
                if len(data) >= MAX_LINE:
                    data = None
        except Exception:
            data = None
        if data is None:
            with self._drop_lock:
                self.drops += 1
            return False
        queue.append(data)
        if WAKE_AT <= waiting < WAKE_AT + 8:  # a query may queue up to 4 defs before it
            self._wake.set()
        elif self._thread is None:
            self.start()
        return True

    def wake(self):
        """A request ended: send what it queued now rather than at the next ``LATENCY``."""
        if self._queue:
            self._wake.set()

    def poke(self):
        """A request starts while nobody listens: try to reach the collector now."""
        if self._thread is None:
            self.start()
        self._wake.set()

    def flush(self, timeout=0.5):
        """Wait up to ``timeout`` seconds for the queued events to be written.

        Returns at once (False) when the collector is unreachable: exiting must stay fast.
        """
        try:
            thread = self._thread
            if thread is None or not thread.is_alive() or self.down:
                return thread is None
            marker = _Marker()
            self._queue.append(marker)
            self._wake.set()
            return marker.done.wait(timeout)
        except Exception:
            return False

    def pending(self):
        return len(self._queue)

    def start(self):
        """Start the sender thread (once): it connects at once, so ``active`` soon says
        whether anyone listens."""
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="djtop-sender", daemon=True)
                thread.start()
                self._thread = thread

    # -- the sender thread ------------------------------------------------------------------

    def _run(self):
        pending = []  # lines taken from the queue, not yet written
        taken = []  # the query and event lines among them, to queue again after a reconnect
        markers = []  # flush() markers among them
        drops_sent = 0
        while True:
            try:
                if self._sink is None:
                    try:
                        self._sink = self._connect()
                    except (OSError, ValueError) as exc:
                        # a collector is optional; a file or a malformed address is a mistake
                        if not self.down and (self.record or isinstance(exc, ValueError)):
                            _say(f"djtop: {exc}")
                        self.down = True
                        self._set_active(False)
                        for marker in markers:
                            marker.done.set()  # nothing to wait for
                        del markers[:]
                        time.sleep(RETRY_MIN)
                        self._wake.wait(RETRY - RETRY_MIN)
                        self._wake.clear()
                        continue
                    self.down = False
                    self._set_active(True)
                    pending.append(self._encode(self._hello()))
                    # this connection's collector knows none of the ids sent before: the defs
                    # still queued come in their turn
                    for item in self._defs.defined(self._defs_sent):
                        line = self._def_line(item)
                        if line is not None:
                            pending.append(line)
                if not pending and not markers:
                    if len(self._queue) < WAKE_AT:  # else a backlog: keep at it
                        self._sleep()
                    self._take(pending, taken, markers)
                drops = self.drops
                if drops != drops_sent:
                    pending.append(self._encode({"type": "drops", "sid": self.sid, "count": drops}))
                if pending:
                    try:
                        self._sink.write(b"".join(pending))
                    except OSError:
                        self._close_sink()  # reconnect (hello, the defs) and write them again
                        del pending[:]
                        self._queue.extendleft(reversed(taken))
                        del taken[:]
                        continue
                drops_sent = drops
                del pending[:]
                del taken[:]
                for marker in markers:
                    marker.done.set()
                del markers[:]
            except Exception:  # keep the sender alive whatever happens
                with self._drop_lock:
                    self.drops += len(taken)
                del pending[:]
                del taken[:]
                time.sleep(RETRY)

    def _set_active(self, active):
        """Capture on or off; hooks go in before capturing starts and out after it stops."""
        if not active:
            self.active = False
        if active != self.hooked:
            callback = self.on_active
            if callback is not None:
                try:
                    callback(active)
                except Exception:
                    pass
            self.hooked = active
        if active:
            self.active = True

    def _sleep(self):
        """Wait for a request's end, a full batch, or ``LATENCY``, whichever comes first."""
        wake = self._wake
        wake.wait(LATENCY)
        wake.clear()

    def _take(self, pending, taken, markers):
        """Up to a batch of queued items into ``pending``: query lines as they are, defs and
        other events encoded here."""
        queue = self._queue
        append = pending.append
        keep = taken.append
        for _ in range(BATCH):
            try:
                item = queue.popleft()
            except IndexError:
                return
            kind = type(item)
            if kind is bytes:  # a query, encoded by emit_query
                append(item)
                keep(item)
            elif kind is _Def:
                self._defs_sent = item.id  # defined in id order, under the defs' lock
                line = self._def_line(item)
                if line is not None:
                    append(line)
            elif kind is _Marker:
                markers.append(item)
            else:
                line = self._encode(item)
                if line is not None:
                    append(line)
                    keep(line)

    def _def_line(self, item):
        """The ``def`` line of one id; a value that cannot be written is sent empty, so the
        queries naming it still arrive."""
        kind = item.kind
        try:
            value = item.value
            if kind == "sql":
                value = _sql_text(value)
            elif kind == "frames":
                value = resolve(value)
            else:
                value = rel_json(value)
            body = _encode_json(value)
            if len(body) >= MAX_LINE - 100:
                if kind != "sql":
                    raise ValueError("too long")
                body = _encode_json(value[: MAX_LINE // 8])  # a giant statement: its start
        except Exception:
            body = {"sql": '""', "frames": "[]"}.get(kind, "{}")
        return f'{{"type":"def","sid":"{self.sid}","id":{item.id},"{kind}":{body}}}\n'.encode()

    def _encode(self, event):
        try:
            line = _encode_json(event)
            if len(line) < MAX_LINE:
                return line.encode("utf-8") + b"\n"
        except Exception:
            pass
        with self._drop_lock:
            self.drops += 1
        return None

    def _hello(self):
        event = {"type": "hello", "v": PROTOCOL_VERSION, "sid": self.sid, "pid": os.getpid()}
        event["ppid"] = os.getppid()
        for key, value in list(self.hello.items()):
            if callable(value):  # computed once, on the first hello (the app is ready then)
                try:
                    value = value()
                except Exception:
                    value = None
                if value is None:
                    del self.hello[key]
                else:
                    self.hello[key] = value
        event.update(self.hello)
        event["ts"] = round(time.time(), 6)
        return event

    def _connect(self):
        if self.record:
            return FileSink(self.record)
        return SocketSink(self.address, on_line=self._on_line)

    def _on_line(self, line):
        """A line from the collector (on the connection's reader thread): never blocks."""
        handler = self.on_request
        if handler is None:
            return
        try:
            request = json.loads(line)
        except ValueError:
            return
        if isinstance(request, dict) and request.get("type") == "explain":
            handler(request)

    def _close_sink(self):
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.close()

    def abandon(self):
        """In a forked child: let go of the parent's connection without disturbing it."""
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.abandon()


class _Def:
    """An id just given to a value (by an app's thread, see ``_Defs.define``): the sender
    writes its def line when it takes it from the queue."""

    __slots__ = ("id", "kind", "value")

    def __init__(self, number, kind, value):
        self.id = number
        self.kind = kind
        self.value = value  # the SQL text, a walked stack (resolved when sent), a relation


class _Defs:
    """The ids of the values queries name (protocol v2): value (or key) -> id, per process.

    Read without a lock by every thread that records a query; a new id is given under the
    lock, and its ``_Def`` queued before it is in a table, so a query line naming it (from
    whichever thread) is always queued after the def."""

    __slots__ = ("sql", "frames", "rels", "count", "size", "lock", "queue",
                 "last_stack", "last_lib", "last_rel")  # fmt: skip

    def __init__(self, queue):
        self.sql = {}
        self.frames = {}
        self.rels = {}  # key -> (id, the rel tuple: keeps its origin dict alive)
        self.count = 0  # the last id given
        self.size = 0  # ids in the tables
        self.lock = threading.Lock()
        self.queue = queue
        self.last_stack = self.last_lib = (None, None)  # the last stack written, its id
        self.last_rel = (None, None, 0)  # the last relation tuple written: (info, op, id)

    def define(self, table, key, kind, value):
        """The id of ``key`` in ``table``, given now if it has none; ``value`` is what its
        def line says (a relation: its tuple, which the table keeps)."""
        with self.lock:
            entry = table.get(key)  # another thread may have given it meanwhile
            if entry is not None:
                return entry[0] if kind == "rel" else entry
            if self.size >= MAX_DEFS:  # start over: ids keep growing, old ones are not reused
                self.sql.clear()
                self.frames.clear()
                self.rels.clear()
                self.size = 0
                self.last_stack = self.last_lib = (None, None)
                self.last_rel = (None, None, 0)
            self.count += 1
            number = self.count
            self.queue.append(_Def(number, kind, value))  # whatever the queue's bound
            table[key] = (number, value) if kind == "rel" else number
            self.size += 1
            return number

    def defined(self, upto):
        """The ids up to ``upto`` still in the tables, as ``_Def``s in id order: what a new
        connection's collector must be told again."""
        with self.lock:
            items = [_Def(n, "sql", sql) for sql, n in self.sql.items() if n <= upto]
            items += [_Def(n, "frames", key) for key, n in self.frames.items() if n <= upto]
            items += [_Def(n, "rel", rel) for n, rel in self.rels.values() if n <= upto]
        items.sort(key=lambda item: item.id)
        return items


_names = {}  # alias / vendor -> JSON text


def _name(value):
    try:
        return _names[value]
    except KeyError:
        text = _encode_json(value)
        if len(_names) < 10_000:  # aliases, vendors, lookup keywords: a few, but bounded
            _names[value] = text
        return text
    except TypeError:
        return _encode_json(str(value))


_pairs = {}  # (key, value, key, value) -> their JSON text: aliases, vendors, models, ops
_alias_vendor = {}  # (alias, vendor) -> _pair("alias", alias, "vendor", vendor)
_model_op = {}  # (model, op) -> _pair("model", model, "op", op)


def _pair(key1, value1, key2, value2):
    """``"key1":value1,"key2":value2`` for values that repeat on every query, made once."""
    try:
        return _pairs[key1, value1, key2, value2]
    except KeyError:
        pass
    except TypeError:  # not hashable
        return f'"{key1}":{_name(value1)},"{key2}":{_name(value2)}'
    if len(_pairs) >= MAX_DEFS:
        _pairs.clear()
    text = _pairs[key1, value1, key2, value2] = f'"{key1}":{_name(value1)},"{key2}":{_name(value2)}'
    return text


def _remember_pair(table, key1, value1, key2, value2):
    text = _pair(key1, value1, key2, value2)
    if len(table) >= MAX_DEFS:
        table.clear()
    table[value1, value2] = text
    return text


def _sql_text(sql):
    if isinstance(sql, str):
        return sql
    if isinstance(sql, bytes):
        return sql.decode("utf-8", "replace")
    try:
        return str(sql)
    except Exception:
        return repr(sql)


# The relation attribution arrives as the tuple relations.attribution() returns; its def
# line, the protocol's dict, is made here on the sender thread (the orm tuple is written out
# in Transport.emit_query).


def rel_key(rel):
    info, op, lookups = rel
    # the origin dict is shared by every instance of one evaluation: identity is its key
    return (info[0], info[1], info[2], info[3], info[4], id(info[5]), op,
            None if not lookups else _encode_json(lookups))  # fmt: skip


def rel_json(rel):
    info, op, lookups = rel
    out = {"model": info[0], "field": info[1], "kind": info[2], "target": info[3], "op": op}
    if lookups:
        out["lookups"] = lookups
    if info[4]:
        out["prefetched"] = True
    out["origin"] = origin_json(info[5])
    return out


def origin_json(origin):
    """An origin as sent: a copy whose ``site``s (walks, see relations) are resolved to
    [file, line, function], at every level."""
    site = origin.get("site")
    parent = origin.get("origin")
    if site is None and parent is None:
        return origin
    out = dict(origin)
    if type(site) is list:
        out["site"] = site_of(site)
        if out["site"] is None:  # only frames that hand the request on
            del out["site"]
        owner = owner_of(site)
        if owner is not None:
            out["owner"] = owner
    if parent is not None:
        out["origin"] = origin_json(parent)
    return out


def _say(message):
    try:
        sys.stderr.write(message + "\n")
    except Exception:
        pass


def parse_address(address):
    """``unix:/path`` -> (AF_UNIX, path); ``host:port`` / ``[v6]:port`` -> (family, (h, p))."""
    if address.startswith("unix:"):
        return socket.AF_UNIX, address[len("unix:") :]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"djtop address must be HOST:PORT or unix:/path, not {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


class SocketSink:
    """A connection to the collector.

    The collector sends lines back (EXPLAIN requests). With ``on_line``, a reader thread
    receives them as they come, splits them into lines and hands each to ``on_line``;
    without it, incoming bytes are read and discarded whenever we are about to write. Either
    way they never fill the buffers, and an orderly close by the collector is noticed before
    a batch is written into the void.
    """

    def __init__(self, address, on_line=None):
        family, target = parse_address(address)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(2.0)
            sock.connect(target)
            sock.settimeout(None)
            if family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.on_line = on_line
        self._inbox = b""
        self._eof = False  # the collector closed its side (seen by the reader thread)
        self._reader = None
        if on_line is not None:
            self._reader = threading.Thread(target=self._read, name="djtop-reader", daemon=True)
            self._reader.start()

    def write(self, data):
        if self._reader is None:
            self._poll()
        elif self._eof:
            raise ConnectionResetError("the collector closed the connection")
        self.sock.sendall(data)

    def _read(self):
        sock = self.sock
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._eof = True
                return
            self._received(data)

    def _poll(self):
        sock = self.sock
        sock.setblocking(False)
        try:
            while True:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    return
                if not data:
                    raise ConnectionResetError("the collector closed the connection")
                self._received(data)
        finally:
            sock.setblocking(True)

    def _received(self, data):
        self._inbox += data
        *complete, self._inbox = self._inbox.split(b"\n")
        if len(self._inbox) > MAX_LINE:
            self._inbox = b""
        for line in complete:
            if line and self.on_line is not None:
                try:
                    self.on_line(line)
                except Exception:
                    pass

    def close(self):
        if self._reader is not None:
            try:  # wakes the reader thread blocked in recv()
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.abandon()

    def abandon(self):
        """Close our descriptor only (a forked child's copy: the parent's stays connected)."""
        try:
            self.sock.close()
        except OSError:
            pass


class FileSink:
    """A recording: whole batches appended with one write(2) each, so processes sharing
    the file never interleave inside a line."""

    def __init__(self, path):
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            message = f"cannot append to DJTOP_RECORD={path}: {exc.strerror}"
            raise OSError(exc.errno, message) from None

    def write(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass

    abandon = close


# -- the process-wide transport ---------------------------------------------------------------

_transport = None
_fork_hook = False


def start(address, record, queue_size, hello):
    """Create the process's transport (its thread starts with the first event)."""
    global _transport, _fork_hook
    if _transport is None:
        _transport = Transport(address, record, queue_size, hello)
    if not _fork_hook and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook = True
    return _transport


def get():
    return _transport


def flush(timeout=0.5):
    transport = _transport
    return transport.flush(timeout) if transport is not None else True


def _after_fork_in_child():
    global _transport
    try:
        old = _transport
        if old is not None:
            _transport = Transport(old.address, old.record, old.queue_size, old.hello)
            _transport.on_request = old.on_request
            _transport.on_active = old.on_active
            # the child has the parent's hooks (in or out) and, until it connects, its state
            _transport.hooked = old.hooked
            _transport.active = old.active
            old.abandon()
    except Exception:
        pass
