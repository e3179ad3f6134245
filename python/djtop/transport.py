"""Getting events out of the process without ever blocking it.

The app's threads only ``emit()`` a dict into a bounded queue (dropping and counting when it
is full). A daemon sender thread, started on first use, encodes batches as NDJSON and writes
them to the collector's socket, or appends them to a file with ``DJTOP_RECORD``. Every
connection (and a recording) starts with ``hello``; when the collector is down or restarts the
sender reconnects with backoff while events wait in the queue. After ``fork`` the child gets
a new session id, queue and thread.

The collector may send lines back on the same connection (EXPLAIN requests, docs/explain.md):
a reader thread per connection hands each JSON object to ``on_request`` (set by the explain
module), which only queues it; answers are emitted like any other event.
"""

import itertools
import json
import os
import queue
import socket
import sys
import threading
import time

MAX_LINE = 4 * 1024 * 1024  # the collector skips longer lines
BATCH = 512  # events per write
LINGER = 0.005  # after waking, let a burst of events gather into one batch
BACKOFF_MIN = 0.1
BACKOFF_MAX = 2.0
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=repr)


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
        self._rids = itertools.count(1)  # next() is atomic
        self._qids = itertools.count(1)
        self._queue = queue.SimpleQueue()
        self._drop_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread = None
        self._sink = None
        self.on_request = None  # called with each JSON object the collector sends

    # -- called from the app's threads: never blocks, never raises -------------------------

    def next_rid(self):
        return f"{self.sid}-{next(self._rids)}"

    def next_qid(self):
        return next(self._qids)

    def emit(self, event):
        """Queue one event; False when the queue is full and it was dropped."""
        try:
            if self._queue.qsize() >= self.queue_size:
                with self._drop_lock:
                    self.drops += 1
                return False
            self._queue.put(event)
            if self._thread is None:
                self._start()
            return True
        except Exception:
            return False

    def flush(self, timeout=0.5):
        """Wait up to ``timeout`` seconds for the queued events to be written.

        Returns at once (False) when the collector is unreachable: exiting must stay fast.
        """
        try:
            thread = self._thread
            if thread is None or not thread.is_alive() or self.down:
                return thread is None
            marker = _Marker()
            self._queue.put(marker)
            return marker.done.wait(timeout)
        except Exception:
            return False

    def pending(self):
        return self._queue.qsize()

    def _start(self):
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="djtop-sender", daemon=True)
                thread.start()
                self._thread = thread

    # -- the sender thread ------------------------------------------------------------------

    def _run(self):
        pending = []  # encoded events taken from the queue, not yet written
        markers = []  # flush() markers among them
        drops_sent = 0
        delay = BACKOFF_MIN
        while True:
            try:
                if not pending and not markers:
                    self._take(pending, markers)
                drops = self.drops
                out = list(pending)
                if drops != drops_sent:
                    out.append(self._encode({"type": "drops", "sid": self.sid, "count": drops}))
                if not out and not markers:
                    continue
                if self._sink is None:
                    try:
                        self._sink = self._connect()
                    except (OSError, ValueError) as exc:
                        # a collector is optional; a file or a malformed address is a mistake
                        if not self.down and (self.record or isinstance(exc, ValueError)):
                            _say(f"djtop: {exc}")
                        self.down = True
                        time.sleep(delay)
                        delay = min(delay * 2, BACKOFF_MAX)
                        continue
                    self.down = False
                    delay = BACKOFF_MIN
                    out.insert(0, self._encode(self._hello()))
                try:
                    self._sink.write(b"".join(out))
                except OSError:
                    self._close_sink()  # reconnect (with hello) and write them again
                    continue
                drops_sent = drops
                del pending[:]
                for marker in markers:
                    marker.done.set()
                del markers[:]
            except Exception:  # keep the sender alive whatever happens
                with self._drop_lock:
                    self.drops += len(pending)
                del pending[:]
                time.sleep(BACKOFF_MIN)

    def _take(self, pending, markers):
        """Block for the next events and encode up to a batch of them into ``pending``."""
        try:
            item = self._queue.get(timeout=1.0)
        except queue.Empty:
            return
        if not isinstance(item, _Marker):
            time.sleep(LINGER)
        taken = 0
        while True:
            if isinstance(item, _Marker):
                markers.append(item)
            else:
                line = self._encode(item)
                if line is not None:
                    pending.append(line)
                taken += 1
                if taken >= BATCH:
                    return
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def _encode(self, event):
        try:
            line = _ENCODER.encode(event)
            if len(line) >= MAX_LINE and event.get("type") == "query":
                event = dict(event, params=None, sql=event["sql"][: MAX_LINE // 4])
                line = _ENCODER.encode(event)
            if len(line) < MAX_LINE:
                return line.encode("utf-8") + b"\n"
        except Exception:
            pass
        with self._drop_lock:
            self.drops += 1
        return None

    def _hello(self):
        event = {"type": "hello", "v": 1, "sid": self.sid, "pid": os.getpid()}
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
            old.abandon()
    except Exception:
        pass
