"""Cheap capture of the application frames that led to a query.

Frames are walked with ``f_back`` from sys._getframe(); each code file is classified once
(kept or hidden, and its display path) and remembered, so a query costs one dict lookup per
frame, and each frame kept is kept as (path, code, instruction offset): the sender thread
turns those into line numbers (``resolve``). No traceback or inspect calls.

In an async view the ORM runs in a sync_to_async worker thread whose stack holds no view
frames. The awaiting chain (view line, helpers) is captured where it is still a plain call
stack: on the event loop's thread, inside ``SyncToAsync.__call__``, before the work is handed
to the thread; a ContextVar carries it into the worker (asgiref copies the context). No race
with the loop and no waiting. Walking the request's asyncio task is the fallback for work that
reaches a thread some other way.
"""

import contextvars
import gc
import os
import site
import sys
import sysconfig
import threading
import time
from time import perf_counter

from . import guard, owners

_HIDDEN_MODULES = ("django", "asgiref", "djtop")
SETTLE_SECONDS = 0.01  # longest wait for the request's task to reach its await

# co_filename -> what its frames are, decided once per file: a str (an app file: its display
# path), a 1-tuple (a library file: its short path, for the library frames), None (hidden
# plumbing: the backends, djtop, the standard library), _ENTRY or _STOPS (below).
_cache = {}
# App frames of the coroutine chain that awaited the current sync_to_async call.
_awaiting = contextvars.ContextVar("djtop_awaiting", default=None)
_root = os.getcwd()
_depth = 20
_library = 8  # library frames kept per query (0: none)
_hidden_modules = _HIDDEN_MODULES
_hidden_dirs = ()
# Frames of djtop's middleware are where a request entered the app (its __call__/__acall__,
# or a streaming body's generator): everything outside them is the server's, so walks stop
# there instead of following f_back to the top of the thread (each f_back materialises a
# frame object).
_ENTRY = object()
_ENTRY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "middleware.py")
# The file of asgiref's thread handler (a walk's ``stop``): its frames are hidden, and the
# walk compares their code with ``stop``.
_STOPS = object()
_GENERATOR_FLAGS = 0x20 | 0x80 | 0x100 | 0x200  # generator, coroutine, iterable/async gen


class _Framework(tuple):
    """The kind of a library file whose frames can say more than a library frame: Django's
    template engine (the template line that ran a query). Its own type, so that a walk tests
    for it only after every other kind: plain views never reach that test."""

    __slots__ = ()


class TemplateCode:
    """Stands for a code object in a walk, for a template's tag or variable: ``co_name`` is
    its text (``{% for book in books %}``), and the walk's offset slot holds its line."""

    __slots__ = ("co_name",)

    def __init__(self, name):
        self.co_name = name


_template_codes = {}  # text -> TemplateCode (shared: walks with the same frames are equal)
_template_paths = {}  # origin name -> the path shown
_RENDER_ANNOTATED = None  # django.template.base.Node.render_annotated's code, once configured
_MEMO_SIZE = 32  # frames remembered per request (see _walk)


# Every statement's walk begins with the same hidden frames (the backend's cursor wrappers:
# three under DEBUG). ``skip`` is (how many, the code of the frame after them) as the last
# walk found them: the execute wrapper asks sys._getframe for that frame directly, which does
# not make frame objects for the frames in between, and walks from there when it runs that
# code (else it walks from the start and calls ``learn_skip``).
skip = (0, None)


def learn_skip(frame):
    """Count the hidden frames a walk from ``frame`` begins with (see ``skip``)."""
    global skip
    n = 0
    while frame is not None:
        if _kind(frame) is not None:
            skip = (n, frame.f_code)
            return
        n += 1
        frame = frame.f_back
    skip = (0, None)


def _reset_cache():
    global skip
    _cache.clear()
    _cache[_ENTRY_FILE] = _ENTRY
    skip = (0, None)


def configure(root, depth=20, hide_modules=(), library=8):
    global _root, _depth, _hidden_modules, _hidden_dirs, _library
    _root = os.path.abspath(root)
    _depth = depth
    _library = library
    _hidden_modules = _HIDDEN_MODULES + tuple(hide_modules)
    _hidden_dirs = _library_dirs()
    _reset_cache()
    _hook_sync_to_async()
    _find_template_engine()
    owners.configure(_root)


def _find_template_engine():
    """Node.render_annotated runs every tag and variable of a Django template: its frames
    say which template line ran a query. Without it (another Django), templates stay
    library frames."""
    global _RENDER_ANNOTATED
    try:
        from django.template.base import Node

        code = Node.__dict__["render_annotated"].__code__
        name = "django.template.base.Node.render_annotated"
        if guard.accepts(name, code, ("(self, context)",)):
            _RENDER_ANNOTATED = code
    except Exception:
        _RENDER_ANNOTATED = None


def _hook_sync_to_async():
    """Wrap asgiref's SyncToAsync.__call__ (once) to remember who awaited it."""
    try:
        from asgiref.sync import SyncToAsync
    except Exception:
        return
    original = SyncToAsync.__call__
    if getattr(original, "_djtop", False):
        return
    if not guard.accepts(
        "asgiref.sync.SyncToAsync.__call__", original, ("(self, *args, **kwargs)",)
    ):
        return  # async stacks stop at the worker thread

    async def __call__(self, *args, **kwargs):
        token = None
        try:
            # Frame 0 is this wrapper; its caller is the awaiting coroutine, running now.
            token = _awaiting.set(_walk(sys._getframe(1), _depth)[0])
        except Exception:
            pass
        try:
            return await original(self, *args, **kwargs)
        finally:
            if token is not None:
                _awaiting.reset(token)

    __call__._djtop = True
    __call__.__wrapped__ = original
    SyncToAsync.__call__ = __call__


def hook_sync_to_async(on):
    """Put the SyncToAsync hook in (``on``) or take it out (while nobody listens)."""
    try:
        from asgiref.sync import SyncToAsync
    except Exception:
        return
    current = SyncToAsync.__call__
    if on:
        _hook_sync_to_async()
    elif getattr(current, "_djtop", False):
        SyncToAsync.__call__ = current.__wrapped__


def _walk(frame, limit, stop=None, lib=None, memo=None):
    """App frames from ``frame`` outwards, as a flat list ``[shown, code, lasti, ...]``
    (see ``resolve``); stops before a frame running ``stop`` (a code object) and then says
    so. With a ``lib`` list, the library frames met before the first app frame go there, in
    the same form (how Django got from your line to the SQL).

    ``memo`` (one dict per request) remembers, for an app frame, what lies outward of it:
    that part cannot change while the frame runs (its callers are suspended in the call), and
    in a loop of queries the view's frames are the same frame objects every time, so the
    walk stops at the first one it has seen before. Generator and coroutine frames are left
    out: each resumption gives them a new caller.
    """
    out = []
    cache = _cache
    kept = 0
    room = _library if lib is not None else 0  # library frames still wanted
    seen = None  # app frames walked, (frame, position in out), for the memo
    owned = False  # an owner (owners.OwnerCode) is in ``out``
    while frame is not None:
        code = frame.f_code
        try:
            kind = cache[code.co_filename]
        except KeyError:
            kind = _classify_into(code.co_filename, frame)
        if kind is None:
            pass
        elif type(kind) is str:  # an app frame
            if memo is not None:
                known = memo.get(frame)
                if known is not None:
                    rest, crossed = known
                    out += (kind, code, frame.f_lasti)
                    out += rest[: 3 * (limit - kept - 1)]
                    return out, crossed
                if not code.co_flags & _GENERATOR_FLAGS:
                    if seen is None:
                        seen = []
                    seen.append((frame, len(out) + 3))
            out += (kind, code, frame.f_lasti)
            kept += 1
            if kept >= limit:
                return out, False  # not remembered: a walk with more room would go further
            room = 0
        elif type(kind) is tuple:  # a library frame
            if room:
                lib += (kind[0], code, frame.f_lasti)
                room -= 1
            elif not kept and lib:
                # Full before any app frame: the last slot keeps the outermost library frame,
                # the one the app called (whose package ran the loop, see docs/protocol.md).
                lib[-3:] = (kind[0], code, frame.f_lasti)
        elif kind is _ENTRY:
            break
        elif code is stop:
            _remember(memo, seen, out, True)
            return out, True
        elif type(kind) is _Framework:  # a library frame that may say more (see owners)
            if room:
                lib += (kind[0], code, frame.f_lasti)
                room -= 1
            elif not kept and lib:
                lib[-3:] = (kind[0], code, frame.f_lasti)
            if code is _RENDER_ANNOTATED:
                shown = _template_frame(frame)
                if not owned:
                    found = owners.from_context(frame.f_locals.get("context"))
                    if found is not None:
                        out += found
                        owned = True
            else:
                shown = owners.read(frame, code, owned)
                if shown and type(shown[1]) is owners.OwnerCode:
                    out += shown
                    owned = True
                    shown = None
            if shown:  # a template line or a serializer field: a frame of the stack
                out += shown
                kept += 1
                if kept >= limit:
                    return out, False
                room = 0
        frame = frame.f_back
    _remember(memo, seen, out, False)
    return out, False


def _remember(memo, seen, out, crossed):
    if memo is None or seen is None:
        return
    if len(memo) + len(seen) > _MEMO_SIZE:
        memo.clear()  # bounded: a frame kept here keeps its locals alive until the request ends
        if len(seen) > _MEMO_SIZE:
            return
    for frame, start in seen:
        memo[frame] = (out[start:], crossed)


def _kind(frame):
    """What a frame's file is (see ``_cache``). _walk, the per-frame loop of every query,
    writes this lookup out instead of calling it."""
    filename = frame.f_code.co_filename
    try:
        return _cache[filename]
    except KeyError:
        return _classify_into(filename, frame)


def _classify_into(filename, frame):
    """Classify a file (see ``_cache``) the first time one of its frames is walked."""
    kind = _classify(filename, frame)
    if kind is None:
        if _THREAD_HANDLER is not None and filename == _THREAD_HANDLER.co_filename:
            kind = _STOPS
        else:
            short = _library_path(filename, frame)
            if _RENDER_ANNOTATED is not None and filename == _RENDER_ANNOTATED.co_filename:
                kind = _Framework((short or "django/template/base.py",))
            elif short is not None and short.startswith(owners.FRAMEWORK_PREFIXES):
                kind = _Framework((short,))
            else:
                kind = (short,) if short is not None else None
    _cache[filename] = kind
    return kind


def _template_frame(frame):
    """The walk triple of the template tag or variable a Node.render_annotated frame renders:
    (its template's path, a TemplateCode of its text, its line); None when it has no
    source position (a template built from a string without debug information)."""
    try:
        node = frame.f_locals.get("self")
        token = node.token
        origin = node.origin
        line = token.lineno
        if not line:
            return None
        name = origin.name
        path = _template_paths.get(name, False)
        if path is False:
            path = _template_path(origin)
            if len(_template_paths) < 10_000:
                _template_paths[name] = path
        if path is None:  # a library's template: not the app's line
            return None
        text = token.contents
        code = _template_codes.get((token.token_type, text))
        if code is None:
            kind = getattr(token.token_type, "name", "")
            shown = " ".join(text.split())
            if len(shown) > 60:
                shown = shown[:59] + "…"
            shown = f"{{{{ {shown} }}}}" if kind == "VAR" else f"{{% {shown} %}}"
            code = TemplateCode(shown)
            if len(_template_codes) < 10_000:
                _template_codes[(token.token_type, text)] = code
        return (path, code, line)
    except Exception:
        return None


def _template_path(origin):
    """A template's file relative to the project root; None for a library's template (the
    admin's ``change_list.html``) or one built from a string."""
    name = str(origin.name)
    if not os.path.isabs(name):
        return None
    path = os.path.abspath(name)
    if not _under(path, _root) or path.startswith(_hidden_dirs):
        return None
    return os.path.relpath(path, _root).replace(os.sep, "/")


# -- line numbers, resolved off the app's thread ---------------------------------------------
#
# A walk keeps each frame's code object and the offset of its current instruction
# (``f_lasti``), not its line: ``f_lineno`` scans the code's line table on every read, and a
# query's stack has a dozen frames. The sender thread turns the pairs into lines, once per
# distinct (code, offset), with the same table (``co_lines``) that ``f_lineno`` reads.

_lines = {}  # id(code) -> (code, {lasti: line}, line table); the code keeps its id its own
_MAX_CODES = 50_000


def _line_table(code):
    try:
        return tuple(code.co_lines())
    except AttributeError:  # Python < 3.10: line starts only (co_lnotab)
        import dis

        starts = list(dis.findlinestarts(code))
        ends = [start for start, _ in starts[1:]] + [1 << 30]
        return tuple((start, end, line) for (start, line), end in zip(starts, ends))


def line_of(code, lasti):
    """The line ``f_lineno`` gives for a frame of ``code`` at offset ``lasti`` (0 if none)."""
    entry = _lines.get(id(code))
    if entry is None or entry[0] is not code:
        if len(_lines) >= _MAX_CODES:
            _lines.clear()
        entry = _lines[id(code)] = (code, {}, _line_table(code))
    known = entry[1]
    line = known.get(lasti)
    if line is None:
        if lasti < 0:  # not started: f_lineno says the first line
            line = code.co_firstlineno
        else:
            for start, end, number in entry[2]:
                if start <= lasti < end:
                    line = number
                    break
        known[lasti] = line = line or 0
    return line


def site_of(walk):
    """Where a queryset was evaluated, from its statement's walk (``[shown, code, lasti,
    ...]``) as [file, line, function]: an origin's ``site``, kept as the walk until it is sent.
    The first frame of Python code: a template's ``{% for %}`` evaluates a queryset the view
    built, and the view's ``render`` line is the one to change. None when the walk has no
    frame left (see ``resolve``)."""
    first = None
    for frame, template in _resolved(walk):  # lazily: resolved only up to the site
        if not template:
            return list(frame)
        if first is None:
            first = frame
    return list(first) if first is not None else None


def owner_of(walk):
    """The owner a walk met (owners.OwnerCode) as sent in an origin, or None."""
    for i in range(1, len(walk), 3):
        if type(walk[i]) is owners.OwnerCode:
            try:
                return owners.owner_json(walk[i])
            except Exception:
                return None
    return None


def resolve(flat):
    """A walk's ``[shown, code, lasti, ...]`` as ((file, line, function), ...), without the
    frames that only hand the request on (see ``_passing_lines``)."""
    return tuple(frame for frame, _ in _resolved(flat))


def _resolved(flat):
    """((file, line, function), is a template frame) for each frame of a walk, in order, frames
    that only hand the request on left out (a generator: a site needs only the first)."""
    for i in range(0, len(flat), 3):
        code = flat[i + 1]
        kind = type(code)
        if kind is TemplateCode:
            yield (flat[i], flat[i + 2], code.co_name), True
        elif kind is owners.FieldCode:
            yield (flat[i], flat[i + 2], code.co_name), False
        elif kind is not owners.OwnerCode:
            line = line_of(code, flat[i + 2])
            if line not in _passing_lines(code):
                yield (flat[i], line, code.co_name), False


# A middleware's ``__call__`` at its ``self.get_response(request)`` line, or a decorator's
# wrapper at ``view_func(request, ...)``: frames that only pass the request on. They are
# never a callsite (the view, the template or a library below ran the query); the same frame
# running a query of its own, on another line, is.
_PASSING_NAMES = frozenset(("get_response", "view_func"))
_passing = {}  # code -> the lines where it calls one of them


def _passing_lines(code):
    lines = _passing.get(code)
    if lines is None:
        lines = frozenset()
        if _PASSING_NAMES.intersection(code.co_names) or _PASSING_NAMES.intersection(
            code.co_varnames
        ):
            try:
                import dis

                found = set()
                line = code.co_firstlineno
                for ins in dis.get_instructions(code):
                    start = getattr(ins, "starts_line", None)
                    if type(start) is int and start is not True:
                        line = start
                    positions = getattr(ins, "positions", None)
                    if positions is not None and positions.lineno:
                        line = positions.lineno
                    if ins.argval in _PASSING_NAMES:
                        found.add(line)
                lines = frozenset(found)
            except Exception:
                lines = frozenset()
        if len(_passing) > 50_000:
            _passing.clear()
        _passing[code] = lines
    return lines


_PLUMBING = ("djtop", "django.db.backends", "asgiref", "threading", "asyncio", "concurrent")


def _library_path(filename, frame):
    """A library frame's path as people know it (``django/db/models/query.py``), or None for
    the plumbing every query shares (the backend's cursor wrappers, djtop, thread pools)."""
    module = frame.f_globals.get("__name__") or ""
    for prefix in _PLUMBING:
        if module == prefix or module.startswith(prefix + "."):
            return None
    path = filename.replace(os.sep, "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return None  # the standard library


def _library_dirs():
    dirs = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(paths[key])
    try:
        dirs.update(site.getsitepackages())
    except Exception:  # some embedded/virtualenv builds lack it
        pass
    try:
        dirs.add(site.getusersitepackages())
    except Exception:
        pass
    dirs.add(os.path.dirname(os.__file__))
    out = []
    for d in dirs:
        if d:
            d = os.path.abspath(d)
            if not _under(_root, d):  # never hide the project itself
                out.append(d.rstrip(os.sep) + os.sep)
    return tuple(out)


def _under(path, directory):
    directory = directory.rstrip(os.sep) + os.sep
    return path.startswith(directory)


def _classify(filename, frame):
    """The display path for frames of this file, or None when they are hidden."""
    if not filename or filename.startswith("<"):
        return None
    module = frame.f_globals.get("__name__") or ""
    for prefix in _hidden_modules:
        if module == prefix or module.startswith(prefix + "."):
            return None
    path = os.path.abspath(filename)
    sep = os.sep
    if sep + "site-packages" + sep in path or sep + "dist-packages" + sep in path:
        return None
    if path.startswith(_hidden_dirs):
        return None
    if _under(path, _root):
        return os.path.relpath(path, _root).replace(os.sep, "/")
    return path


def _thread_handler_code():
    try:
        from asgiref.sync import SyncToAsync

        return SyncToAsync.thread_handler.__code__
    except Exception:
        return None


_THREAD_HANDLER = _thread_handler_code()


def capture(frame, task=None, loop_thread=None, lib=None, memo=None):
    """Application frames from ``frame`` outwards, innermost first, as a walk's flat
    ``[shown, code, lasti, ...]`` list (``resolve`` makes (file, line, function) of it).

    With ``task`` (the request's asyncio task, run by thread ``loop_thread``), the walk stops
    where asgiref's worker thread began running the sync code, and continues in the task's
    coroutines instead. ``memo``: the request's dict for ``_walk``.
    """
    depth = _depth
    # Stop where asgiref's thread handler runs sync code for a coroutine: under ASGI that is a
    # worker thread, under WSGI (async_to_sync) the request's own thread; either way the
    # awaiting chain was captured on the loop's thread and came along in the context.
    out, crossed = _walk(frame, depth, _THREAD_HANDLER, lib if _library else None, memo)
    if crossed:
        awaiting = _awaiting.get()
        if awaiting is not None:
            out.extend(awaiting[: 3 * depth - len(out)])
            return out
    if task is not None and (crossed or not out) and len(out) < 3 * depth:
        settle = loop_thread is not None and threading.get_ident() != loop_thread
        for frame in task_frames(task, settle=settle):
            kind = _kind(frame)
            if type(kind) is str:
                out += (kind, frame.f_code, frame.f_lasti)
                if len(out) >= 3 * depth:
                    break
    return out


def task_frames(task, limit=256, settle=False):
    """The frames of a suspended task's await chain, innermost first.

    With ``settle`` (called from another thread than the task's), first wait a moment if the
    task is still running its step: the worker thread can start the sync code just before the
    coroutine reaches its ``await``, and a running coroutine hides what it awaits.
    """
    try:
        obj = task.get_coro()
    except Exception:
        return []
    if settle:
        deadline = perf_counter() + SETTLE_SECONDS
        while _running(obj) and perf_counter() < deadline:
            time.sleep(0.0001)  # lets the loop's thread finish the step
    frames = []
    for _ in range(limit):
        if obj is None:
            break
        frame = getattr(obj, "cr_frame", None)
        if frame is not None:
            nxt = obj.cr_await
        elif hasattr(obj, "gi_frame"):
            frame = obj.gi_frame
            nxt = obj.gi_yieldfrom
        elif hasattr(obj, "ag_frame"):
            frame = obj.ag_frame
            nxt = obj.ag_await
        else:
            nxt = _asend_generator(obj)
        if frame is not None:
            frames.append(frame)
        obj = nxt
    frames.reverse()
    return frames


def _running(coro):
    return bool(getattr(coro, "cr_running", False) or getattr(coro, "gi_running", False))


_ASEND_TYPES = ("async_generator_asend", "async_generator_athrow")


def _asend_generator(obj):
    """The async generator behind ``async for``'s pending ``__anext__()`` awaitable.

    CPython exposes no attribute for it, but the awaitable references the generator, so
    gc.get_referents (one C call on one small object) finds it.
    """
    if type(obj).__name__ not in _ASEND_TYPES:
        return None
    for ref in gc.get_referents(obj):
        if hasattr(ref, "ag_frame"):
            return ref
    return None


_reset_cache()
