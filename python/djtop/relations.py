"""Which ORM call and which lazy relation access ran a query (``orm`` / ``rel``).

See docs/protocol.md, "Relation and ORM attribution". Django's own functions are wrapped,
once per process and only while the shim is enabled:

- the public QuerySet / Model API (``get``, ``count``, ``save``, ... and ``_fetch_all`` /
  ``_iterator`` / ``aiterator`` for evaluations) put the outermost call in a ContextVar for
  its duration; the execute wrapper reads it (``attribution()``). The async variants run
  the sync ones in a sync_to_async thread, which sees the same state (asgiref copies the
  context), or set it themselves before crossing over;
- ``QuerySet._filter_or_exclude`` keeps the simple filter keywords on the clone, in one
  ``_djtop`` attribute of its ``Query`` (a tuple, see ``_mark``; ``Query._djtop = None`` is
  the class default). Every queryset clone clones its Query, and ``Query.clone()`` copies the
  instance ``__dict__``, so the mark follows the chain with no hook on ``_clone``;
- lazy relation accesses: a forward FK / OneToOne cache miss (``get_object``), a reverse
  OneToOne cache miss (the queryset its ``__get__`` builds), the reverse-FK, ManyToMany and
  generic related managers (their ``get_queryset`` marks the queryset it returns, the
  terminal call names the op), deferred fields (``refresh_from_db`` called by
  ``DeferredAttribute.__get__``) and GenericForeignKey loads;
- where instances come from (``origin``): each queryset evaluation tags the instances it
  makes with one shared dict (``ModelIterable.__iter__``), select_related joins
  (``get_related_populators``), prefetches (``prefetch_one_level``) and lazy loads tag theirs
  with a dict pointing at the parents' origin. The tag lives on ``instance._state``.

Cache hits cost nothing (the hooked functions only run on a miss) or one dict lookup
(related managers served from the prefetch cache); each row costs one attribute store. No
hook raises into the app: bookkeeping failures are swallowed and the original always runs.
"""

import functools
import sys
import threading
import weakref
from contextvars import ContextVar
from threading import get_ident as _get_ident

from . import capture, guard

MAX_DEPTH = 5  # origins nested at most this deep
ORIGIN_ATTR = "_djtop_origin"  # on instance._state

# The attribution state of the running API call (see below) lives in the thread (_tls.state):
# a sync call runs to its end in one thread. Only QuerySet.aiterator, whose steps await, sets
# it in the task's context instead, which its sync_to_async worker threads inherit. Readers
# take the thread's, else the context's. (A ContextVar for everything would work too, but
# setting and resetting one costs several times a thread-local store, on every ORM call.)
_current = ContextVar("djtop_orm", default=None)
_NO_STATE = object()  # a token: the thread had no state before


class _Local(threading.local):
    """Per-thread bookkeeping. The class defaults matter: reading an attribute a thread has
    not set would otherwise raise (and swallow) an AttributeError inside getattr(), which
    costs more than the rest of a query's bookkeeping together."""

    override = None  # the origin for the instances loaded now (a prefetch, a lazy load)
    eval = None  # the running evaluation's origin (select_related's populators read it)
    state = None  # the attribution state of the running API call (see _current)
    gfk = None  # (GenericForeignKey, instance) while its __get__ runs


_tls = _Local()
_EMPTY = {}  # shared, never mutated
_PLAIN = capture._PLAIN  # the types JSON takes as they are
_END = object()

_ORM_LOOKUP_OPS = frozenset(("get", "first", "count", "exists", "iterate"))
_GET_OPS = frozenset(("get", "first", "last", "get_or_create", "update_or_create"))
_REL_OPS = {
    "get": "get",
    "first": "first",
    "last": "last",
    "count": "count",
    "exists": "exists",
    "aggregate": "aggregate",
}
_QUERYSET_OPS = (
    ("get", "get"),
    ("first", "first"),
    ("last", "last"),
    ("count", "count"),
    ("exists", "exists"),
    ("aggregate", "aggregate"),
    ("in_bulk", "in_bulk"),
    ("create", "create"),
    ("get_or_create", "get_or_create"),
    ("update_or_create", "update_or_create"),
    ("delete", "delete"),
    ("update", "update"),
    ("bulk_create", "bulk_create"),
    ("bulk_update", "bulk_update"),
)


class _Origin(dict):
    """An origin: a JSON-ready dict shared by every instance of one evaluation.

    Copies share it; pickling turns it into an empty dict, read back as unknown."""

    __slots__ = ()

    def __reduce__(self):
        return (dict, ())

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


UNKNOWN = _Origin(how="unknown")


class _Mark(tuple):
    """``QuerySet._query._djtop`` when a relation access built the queryset (else a plain
    tuple of the same shape, see ``_mark``): (rel, lookups, rel_lookups, filtered).

    rel: the relation access that built the queryset (see _relinfo) or None; lookups: the
    simple filter keywords so far, None when not simple; rel_lookups: those added after the
    relation's own filter; filtered: filtered after the relation's own filter. Immutable;
    pickling drops it."""

    __slots__ = ()

    def __reduce__(self):
        return (tuple, ())

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def _mark(info, lookups, rel_lookups, filtered):
    """A queryset's mark: a plain tuple when it holds filter keywords only (they stay true of
    a pickled queryset), a _Mark when it holds a relation access (which pickling drops)."""
    if info is None:
        return (None, lookups, rel_lookups, filtered)
    return _Mark((info, lookups, rel_lookups, filtered))


# A relation access, as a tuple: (model, field, kind, target, prefetched, origin, load);
# load: a single object read through a descriptor (op "load", no public API call).


# The attribution of the statements run now (the ContextVar's value) is a tuple, made once
# per API call: (model, op, lookups, rel, rel_op, rel_lookups). model None: no orm field (a
# descriptor's own query); lookups None: omitted; rel: the relation access (see _relinfo).
_MODEL, _OP, _LOOKUPS, _REL, _REL_OP, _REL_LOOKUPS = range(6)

# A related manager's own bookkeeping (add/remove/clear/set read and write the through
# table or the foreign keys): attributed to nothing, so it is never taken for a lazy load.
_MUTE = (None, None, None, None, None, None)


# -- reading it (from the execute wrapper, with capture's busy flag set) ------------------------


def attribution():
    """(orm, rel) for a statement executed now, or None each: ``orm`` is (model, op,
    lookups or None), ``rel`` is (info, op, lookups or None). The lookups are made JSON-safe
    here (a value's repr() could query); transport.Transport.emit_query writes ``orm`` into
    the query's line, and a relation's def (transport.rel_json) is built on the sender."""
    state = _tls.state or _current.get()
    if state is None or state is _MUTE:
        return None, None
    model, op, lookups, info, rel_op, rel_lookups = state
    orm = rel = None
    if model is not None:
        if lookups:  # _safe_lookups' test, inline: nearly always plain values ({"pk": 5})
            plain = _PLAIN
            for value in lookups.values():
                if type(value) not in plain:
                    lookups = _safe_lookups(lookups)
                    break
        orm = (model, op, lookups)
    if info is not None:
        rel = (info, rel_op, _safe_lookups(rel_lookups) if rel_lookups else None)
    return orm, rel


class _Complex(Exception):
    pass


def _safe_lookups(lookups):
    """JSON-safe filter keywords, or None when one is not a plain value (an expression,
    a queryset: not pasteable, and repr() of a queryset would query)."""
    plain = _PLAIN
    for value in lookups.values():
        if type(value) not in plain:
            break
    else:  # the common case; lookups dicts are never changed once made (_merge copies)
        return lookups
    token = capture.busy.set(True)  # a value's pk or repr() may query: djtop's, not the app's
    try:
        return {str(key): _safe_value(value, 0) for key, value in lookups.items()}
    except _Complex:
        return None
    except Exception:
        return None
    finally:
        capture.busy.reset(token)


def _safe_value(value, depth):
    if value is None or isinstance(value, (bool, int, float, str)):
        return capture.json_safe(value)
    if depth > 3:
        raise _Complex
    if _Model is not None and isinstance(value, _Model):
        return _safe_value(value.pk, depth + 1)  # filter(author=a) == filter(author=a.pk)
    if getattr(type(value), "resolve_expression", None) is not None:
        raise _Complex  # F(), Q(), Subquery, a QuerySet, ...
    if isinstance(value, (list, tuple)):
        return [_safe_value(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_safe_value(v, depth + 1) for v in value]
        try:
            items.sort()
        except TypeError:
            pass
        return items
    if isinstance(value, dict):
        return {str(k): _safe_value(v, depth + 1) for k, v in value.items()}
    return capture.json_safe(value)


_Model = None  # django.db.models.Model, once installed


# -- entering and leaving a state ------------------------------------------------------------------

_labels = {}


def _label(model):
    try:
        return _labels[model]
    except KeyError:
        label = _labels[model] = model._meta.label
        return label


def _set_state(state):
    """Set the thread's state; the token for _reset."""
    tls = _tls
    previous = tls.state
    tls.state = state
    return _NO_STATE if previous is None else previous


def _reset(token):
    """Put back the thread's state from before _set_state (or an _enter_* call)."""
    _tls.state = None if token is _NO_STATE else token


def _merge(lookups, args, kwargs):
    """``lookups`` plus the keywords of one more filter(), None when not simple."""
    if lookups is None or args:
        return None
    if not kwargs:
        return lookups
    if not lookups:
        return dict(kwargs)
    for key in kwargs:
        if key in lookups:
            return None  # filter(a=1).filter(a=2): one dict cannot say it
    merged = dict(lookups)
    merged.update(kwargs)
    return merged


def _enter_queryset(qs, op, args=(), kwargs=None, context=False):
    """Set the state for a QuerySet call; the token to reset, or None (nothing set). With
    ``context``, set in the task's context (a ContextVar token, see _current)."""
    current = _tls.state or _current.get()
    mark = qs._query._djtop
    if current is not None and (
        not mark or mark[0] is None or current[_REL] is not None or current is _MUTE
    ):
        return None  # the outermost call wins
    info = mark[0] if mark else None
    if current is not None:
        model, state_op, lookups = current[0], current[1], current[2]
    elif info is not None and info[6]:
        model, state_op, lookups = None, op, None  # a descriptor's own get(): no public call
    else:
        lookups = None
        if op in _ORM_LOOKUP_OPS:
            lookups = mark[1] if mark else _EMPTY
            if args or kwargs:
                lookups = _merge(lookups, args, kwargs)
        model = qs.model
        model, state_op = _labels.get(model) or _label(model), op
    if info is None:
        state = (model, state_op, lookups, None, None, None)
    else:
        if info[6]:
            rel_op = "load"
        elif op == "iterate":
            rel_op = "filter" if mark[3] else "all"
        else:
            rel_op = _REL_OPS.get(op)
        if rel_op is None:
            if current is not None or model is None:
                return None
            state = (model, state_op, lookups, None, None, None)
        else:
            rel_lookups = None
            if not info[6] and rel_op != "all":
                rel_lookups = _merge(mark[2], args, kwargs)
            state = (model, state_op, lookups, info, rel_op, rel_lookups)
    if context:
        return _current.set(state)
    tls = _tls
    previous = tls.state
    tls.state = state
    return _NO_STATE if previous is None else previous


def _hook_mute(original):
    @functools.wraps(original)
    def hooked(*args, **kwargs):
        try:
            token = None if (_tls.state or _current.get()) is _MUTE else _set_state(_MUTE)
        except Exception:
            token = None
        if token is None:
            return original(*args, **kwargs)
        try:
            return original(*args, **kwargs)
        finally:
            _reset(token)

    return hooked


def _enter_model(obj, op):
    if (_tls.state or _current.get()) is not None:
        return None
    return _set_state((_label(type(obj)), op, None, None, None, None))


def _enter_relation(info, rel_op="load", model=None, op=None, lookups=None, innermost=True):
    """Set the state for a relation access: a descriptor's load (the innermost access wins:
    it is what ran the query) or a related manager's own call (the outermost wins)."""
    current = _tls.state or _current.get()
    if current is not None and current[_REL] is not None and not innermost:
        return None
    if current is not None:
        model, op, lookups = current[0], current[1], current[2]
    return _set_state((model, op, lookups, info, rel_op, None))


# -- origins ---------------------------------------------------------------------------------------


def origin_of(instance):
    """How a model instance was loaded: its origin dict (UNKNOWN when not known)."""
    try:
        return instance._state._djtop_origin or UNKNOWN  # ModelState's default: None
    except Exception:
        return UNKNOWN


def _depth(origin):
    depth = 1
    while depth <= MAX_DEPTH:
        origin = origin.get("origin")
        if origin is None:
            return depth
        depth += 1
    return depth


def _truncated(origin, levels):
    """``origin`` with at most ``levels`` levels; the last one unknown if cut."""
    parent = origin.get("origin")
    if parent is None:
        return origin
    if levels <= 1:
        return UNKNOWN
    copy = _Origin(origin)
    copy["origin"] = _truncated(parent, levels - 1)
    return copy


def _child(how, model, field, parent):
    origin = _Origin()
    origin["how"] = how
    origin["model"] = model
    origin["field"] = field
    if _depth(parent) >= MAX_DEPTH:
        parent = _truncated(parent, MAX_DEPTH - 1)
    origin["origin"] = parent
    return origin


def _tag(obj, origin):
    try:
        obj._state._djtop_origin = origin
    except Exception:
        pass


def _hook_model_iterable_iter(original):
    def __iter__(self):
        inner = original(self)
        # The origin of the instances this evaluation makes: a descriptor's or a prefetch's
        # load (set around it), a relation's queryset (lazy), else a get() or a queryset.
        # Inline, not a helper: it runs once per evaluation, i.e. for nearly every query.
        tls = _tls
        origin = tls.override
        fresh = counting = False  # counting: a queryset's origin, which counts its rows
        if origin is None:
            try:
                qs = self.queryset
                mark = qs._query._djtop
                if mark and mark[0] is not None:
                    info = mark[0]
                    origin = _child("lazy", info[0], info[1], info[5])
                else:
                    model = qs.model
                    label = _labels.get(model) or _label(model)
                    state = tls.state or _current.get()
                    origin = _Origin()
                    if state is not None and state[_OP] in _GET_OPS:
                        origin["how"] = "get"
                        origin["model"] = label
                    else:
                        origin["how"] = "queryset"
                        origin["model"] = label
                        origin["rows"] = 0
                        counting = True
                    fresh = True
            except Exception:
                yield from inner
                return
        last = capture.last
        ident = _get_ident()
        before = last.get(ident)
        if self.queryset._query.select_related:
            previous = tls.eval
            tls.eval = origin  # the query runs and select_related's populators are made here
            try:
                obj = next(inner, _END)
            finally:
                tls.eval = previous
        else:
            obj = next(inner, _END)
        if fresh:
            entry = last.get(ident)
            if entry is not None and entry is not before:  # the statement that loaded them
                qid, site = entry
                if site:
                    # the statement's stack as walked: its first frame is the site, resolved
                    # when it is sent (transport.origin_json)
                    origin["site"] = site
                if counting:
                    origin["qid"] = qid
        if obj is _END:
            return
        rows = 1
        try:
            if counting:
                origin["rows"] = 1
            try:
                obj._state._djtop_origin = origin
            except Exception:
                pass
            yield obj
            if counting:
                for obj in inner:
                    try:
                        obj._state._djtop_origin = origin
                    except Exception:
                        pass
                    rows += 1
                    if rows == 2:  # "more than one row" is known at once (iterator())
                        origin["rows"] = 2
                    yield obj
            else:
                for obj in inner:
                    try:
                        obj._state._djtop_origin = origin
                    except Exception:
                        pass
                    yield obj
        finally:
            if counting:
                origin["rows"] = rows
            inner.close()

    return __iter__


def _hook_get_related_populators(original):
    # (klass_info, select, db), and from Django 6.1 (..., fetch_mode): passed on as they come.
    def get_related_populators(klass_info, *args):
        populators = original(klass_info, *args)
        # The root call (from ModelIterable) tags the whole tree; nested ones come first.
        if populators and "local_setter" not in klass_info:
            parent = _tls.eval
            if parent is not None:
                try:
                    _tag_populators(populators, klass_info, parent)
                except Exception:
                    pass
        return populators

    return get_related_populators


def _tag_populators(populators, klass_info, parent):
    model = _label(klass_info["model"])
    for populator, info in zip(populators, klass_info.get("related_klass_infos", ())):
        field = info["field"]
        name = field.related_query_name() if info.get("reverse") else field.name
        origin = _child("select_related", model, name, parent)
        populator.local_setter = _tagging_setter(populator.local_setter, origin)
        if populator.related_populators:
            _tag_populators(populator.related_populators, info, origin)


def _tagging_setter(setter, origin):
    def set_and_tag(from_obj, obj):
        setter(from_obj, obj)
        if obj is not None:
            try:
                obj._state._djtop_origin = origin
            except Exception:
                pass

    return set_and_tag


def _hook_prefetch_one_level(original):
    def prefetch_one_level(instances, prefetcher, lookup, level):
        try:
            first = instances[0]
            through = lookup.prefetch_through.split("__")[level]
            origin = _child("prefetch", _label(type(first)), through, origin_of(first))
            to_attr, as_attr = lookup.get_current_to_attr(level)
            if as_attr:
                origin["to_attr"] = to_attr
        except Exception:
            return original(instances, prefetcher, lookup, level)
        previous = _tls.override
        _tls.override = origin
        try:
            return original(instances, prefetcher, lookup, level)
        finally:
            _tls.override = previous

    return prefetch_one_level


# -- the QuerySet and Model API --------------------------------------------------------------------


def _scoped(original, enter):
    """``original``, run inside the attribution state that ``enter(self, args, kwargs)`` sets
    (a ContextVar token). When entering fails or has nothing to set (``None``), ``original``
    runs as it is: bookkeeping never reaches the app."""

    @functools.wraps(original)
    def hooked(self, *args, **kwargs):
        try:
            token = enter(self, args, kwargs)
        except Exception:
            token = None
        if token is None:
            return original(self, *args, **kwargs)
        try:
            return original(self, *args, **kwargs)
        finally:
            _reset(token)

    return hooked


def _hook_queryset_method(original, op):
    # Written out per shape, not through _scoped: these run on every ORM call, and one
    # Python call less (the enter lambda) is a measurable share of what djtop costs.
    if op == "get":

        @functools.wraps(original)
        def get(self, *args, **kwargs):
            try:
                token = _enter_queryset(self, op, args, kwargs)
            except Exception:
                token = None
            if token is None:
                return original(self, *args, **kwargs)
            try:
                return original(self, *args, **kwargs)
            finally:
                _tls.state = None if token is _NO_STATE else token  # _reset, inline

        return get
    # count()/exists() are answered from the result cache once evaluated: no query.
    cached = op in ("count", "exists")
    code = getattr(original, "__code__", None)
    if (
        code is not None
        and code.co_argcount == 1
        and not code.co_kwonlyargcount
        and not code.co_flags & 0x0C  # *args, **kwargs
    ):
        # first(), last(), count(), exists(), delete(): self only, so no argument tuple and
        # keyword dict are packed and unpacked around every call.
        @functools.wraps(original)
        def hooked_self(self):
            token = None
            if not cached or self._result_cache is None:
                try:
                    token = _enter_queryset(self, op)
                except Exception:
                    pass
            if token is None:
                return original(self)
            try:
                return original(self)
            finally:
                _tls.state = None if token is _NO_STATE else token  # _reset, inline

        return hooked_self

    @functools.wraps(original)
    def hooked(self, *args, **kwargs):
        token = None
        if not cached or self._result_cache is None:
            try:
                token = _enter_queryset(self, op)
            except Exception:
                pass
        if token is None:
            return original(self, *args, **kwargs)
        try:
            return original(self, *args, **kwargs)
        finally:
            _tls.state = None if token is _NO_STATE else token  # _reset, inline

    return hooked


def _hook_fetch_all(original):
    @functools.wraps(original)
    def _fetch_all(self):
        token = None
        # Already evaluated (and prefetched): no query.
        if self._result_cache is None or not (
            self._prefetch_done or not self._prefetch_related_lookups
        ):
            try:
                # Inside first(), get(), ... (the outermost call wins) nothing is set, unless
                # a relation built this queryset: _enter_queryset's first test, made here.
                mark = self._query._djtop
                if (_tls.state or _current.get()) is None or (mark and mark[0] is not None):
                    token = _enter_queryset(self, "iterate")
            except Exception:
                pass
        if token is None:
            return original(self)
        try:
            return original(self)
        finally:
            _tls.state = None if token is _NO_STATE else token  # _reset, inline

    return _fetch_all


def _hook_iterator(original):
    """QuerySet._iterator (behind iterator()): the state is set while the query runs (the
    first next()), and on every step when prefetches run between chunks."""

    @functools.wraps(original)
    def _iterator(self, *args, **kwargs):
        inner = original(self, *args, **kwargs)
        every = bool(self._prefetch_related_lookups)
        first = True
        try:
            while True:
                token = None
                if first or every:
                    try:
                        token = _enter_queryset(self, "iterate")
                    except Exception:
                        pass
                try:
                    item = next(inner, _END)
                finally:
                    if token is not None:
                        _reset(token)
                first = False
                if item is _END:
                    return
                yield item
        finally:
            inner.close()

    return _iterator


def _hook_aiterator(original):
    """QuerySet.aiterator: the state is set in the task's context before each step that can
    query, so the sync_to_async thread doing the work sees it."""

    @functools.wraps(original)
    async def aiterator(self, *args, **kwargs):
        inner = original(self, *args, **kwargs)
        every = bool(self._prefetch_related_lookups)
        first = True
        try:
            while True:
                token = None
                if first or every:
                    try:
                        token = _enter_queryset(self, "iterate", context=True)
                    except Exception:
                        pass
                try:
                    item = await inner.__anext__()
                except StopAsyncIteration:
                    return
                finally:
                    if token is not None:
                        try:
                            _current.reset(token)
                        except Exception:
                            pass
                first = False
                yield item
        finally:
            await inner.aclose()

    return aiterator


def _hook_filter_or_exclude(original):
    @functools.wraps(original)
    def _filter_or_exclude(self, negate, args, kwargs):
        clone = original(self, negate, args, kwargs)
        if args or kwargs:
            try:
                mark = self._query._djtop
                if mark is None and not negate and not args:
                    # the common case, filter(a=1) on a queryset not filtered before
                    clone._query._djtop = (None, dict(kwargs), _EMPTY, False)
                    return clone
                if mark:
                    info, lookups, rel_lookups, filtered = mark
                else:
                    info, lookups, rel_lookups, filtered = None, _EMPTY, _EMPTY, False
                if negate:
                    lookups = rel_lookups = None
                else:
                    lookups = _merge(lookups, args, kwargs)
                    if info is not None:
                        rel_lookups = _merge(rel_lookups, args, kwargs)
                if info is not None:
                    filtered = True
                clone._query._djtop = _mark(info, lookups, rel_lookups, filtered)
            except Exception:
                pass
        return clone

    return _filter_or_exclude


def _not_simple(qs):
    query = qs._query
    mark = query._djtop
    info = mark[0] if mark else None
    query._djtop = _mark(info, None, None, info is not None)


def _hook_complex_filter(original):
    @functools.wraps(original)
    def complex_filter(self, filter_obj):
        result = original(self, filter_obj)
        if not isinstance(filter_obj, dict):
            try:
                _not_simple(result)
            except Exception:
                pass
        return result

    return complex_filter


def _hook_not_simple(original):
    """extra(), union() & co.: filters a dict of keywords cannot express."""

    @functools.wraps(original)
    def hooked(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        try:
            _not_simple(result)
        except Exception:
            pass
        return result

    return hooked


def _hook_model_method(original, op):
    return _scoped(original, lambda obj, _a, _k: _enter_model(obj, op))


# -- lazy relation accesses ------------------------------------------------------------------------


def _load(original_call, info, lazy):
    """Run a descriptor's fetch with the relation's state and its instances' origin."""
    try:
        token = _enter_relation(info)
    except Exception:
        token = None
    previous = _tls.override
    _tls.override = lazy
    try:
        return original_call()
    finally:
        _tls.override = previous
        if token is not None:
            _reset(token)


def _hook_forward_get_object(original):
    """ForwardManyToOneDescriptor.get_object: called by __get__ on a cache miss only."""

    # In a loop over one queryset every load has the same parent origin: the relation tuple,
    # the loaded instances' origin and the state are made once per (descriptor, parent
    # origin, instance class) and shared, and the sender defines the relation once.
    last = {}  # descriptor -> (origin, class, info, lazy origin, state with no outer call)

    @functools.wraps(original)
    def get_object(self, instance):
        try:
            origin = instance._state._djtop_origin or UNKNOWN
            cls = type(instance)
            entry = last.get(self)
            if entry is None or entry[0] is not origin or entry[1] is not cls:
                field = self.field
                model = _label(cls)
                kind = "o2o" if field.one_to_one else "fk"
                target = _label(field.remote_field.model)
                info = (model, field.name, kind, target, False, origin, True)
                lazy = _child("lazy", model, field.name, origin)
                entry = last[self] = (
                    origin,
                    cls,
                    info,
                    lazy,
                    (None, None, None, info, "load", None),
                )
            tls = _tls
            previous = tls.state
            current = previous or _current.get()
            if current is None:
                state = entry[4]
            else:  # inside a public call: _enter_relation, inline (the innermost access wins)
                state = (current[0], current[1], current[2], entry[2], "load", None)
            lazy = entry[3]
            override = tls.override
        except Exception:
            return original(self, instance)
        tls.state = state
        tls.override = lazy
        try:
            obj = original(self, instance)
        finally:
            tls.override = override
            tls.state = previous
        try:
            if obj is not None and obj._state._djtop_origin is None:
                _tag(obj, lazy)  # a multi-table parent built without a query
        except Exception:
            pass
        return obj

    return get_object


def _hook_reverse_one_to_one_get_queryset(original):
    """ReverseOneToOneDescriptor.get_queryset: its __get__ passes the instance (a cache
    miss); the prefetch path passes none."""

    @functools.wraps(original)
    def get_queryset(self, **hints):
        qs = original(self, **hints)
        instance = hints.get("instance")
        # Django 6.1's get_prefetch_querysets passes the first instance too: not a lazy load.
        if instance is not None and sys._getframe(1).f_code not in _PREFETCH_CALLERS:
            try:
                related = self.related
                info = (
                    _label(type(instance)),
                    related.get_accessor_name(),
                    "reverse_o2o",
                    _label(related.related_model),
                    False,
                    origin_of(instance),
                    True,
                )
                qs._query._djtop = _Mark((info, _EMPTY, _EMPTY, False))
            except Exception:
                pass
        return qs

    return get_queryset


# The code objects that call refresh_from_db for a deferred field: DeferredAttribute.__get__,
# and from Django 6.1 its fetch_one (which __get__ reaches through the instance's fetch mode).
_DEFERRED_CALLERS = frozenset()


def _hook_refresh_from_db(original):
    """Model.refresh_from_db called by DeferredAttribute.__get__: a deferred field read."""

    @functools.wraps(original)
    def refresh_from_db(self, *args, **kwargs):
        try:
            deferred = sys._getframe(1).f_code in _DEFERRED_CALLERS
        except Exception:
            deferred = False
        if not deferred:
            return original(self, *args, **kwargs)
        try:
            fields = kwargs.get("fields")
            if fields is None and len(args) > 1:
                fields = args[1]
            name = str(next(iter(fields)))
            model = _label(type(self))
            info = (model, name, "deferred", model, False, origin_of(self), True)
        except Exception:
            return original(self, *args, **kwargs)
        return _load(lambda: original(self, *args, **kwargs), info, UNKNOWN)

    return refresh_from_db


_PREFETCH_CALLERS = frozenset()  # ReverseOneToOneDescriptor.get_prefetch_querysets' code


def _hook_fetch_many(original, describe):
    """``fetch_many(self, instances)`` of a relation descriptor or DeferredAttribute (Django
    6.1's FETCH_PEERS): one load for every peer instance of a queryset, so not an N+1. Its
    statements are attributed to the relation with op ``peers``."""

    @functools.wraps(original)
    def fetch_many(self, instances):
        try:
            first = instances[0]
            model = _label(type(first))
            field, kind, target = describe(self, model)
            info = (model, field, kind, target, False, origin_of(first), True)
            token = _enter_relation(info, "peers")
        except Exception:
            return original(self, instances)
        try:
            return original(self, instances)
        finally:
            _reset(token)

    return fetch_many


def _describe_forward_peers(descriptor, model):
    field = descriptor.field
    return field.name, "o2o" if field.one_to_one else "fk", _label(field.remote_field.model)


def _describe_reverse_o2o_peers(descriptor, model):
    related = descriptor.related
    return related.get_accessor_name(), "reverse_o2o", _label(related.related_model)


def _describe_deferred_peers(descriptor, model):
    return descriptor.field.attname, "deferred", model


def _describe_gfk_peers(descriptor, model):
    return descriptor.field.name, "generic", None


def _hook_gfk_get(original, descriptor=False):
    """GenericForeignKey.__get__ (GenericForeignKeyDescriptor.__get__ from Django 6.1, whose
    ``field`` is the GenericForeignKey): remembers it for get_object_for_this_type."""

    @functools.wraps(original)
    def __get__(self, instance, cls=None):
        if instance is None:
            return original(self, instance, cls)
        previous = _tls.gfk
        try:
            _tls.gfk = (self.field if descriptor else self, instance)
        except Exception:
            return original(self, instance, cls)
        try:
            return original(self, instance, cls)
        finally:
            _tls.gfk = previous

    return __get__


def _hook_get_object_for_this_type(original):
    @functools.wraps(original)
    def get_object_for_this_type(self, *args, **kwargs):
        pending = _tls.gfk
        if pending is None:
            return original(self, *args, **kwargs)
        _tls.gfk = None  # the GenericForeignKey's own load: consumed
        try:
            gfk, instance = pending
            model = _label(type(instance))
            target_model = self.model_class()
            target = _label(target_model) if target_model is not None else None
            origin = origin_of(instance)
            info = (model, gfk.name, "generic", target, False, origin, True)
            lazy = _child("lazy", model, gfk.name, origin)
        except Exception:
            return original(self, *args, **kwargs)
        return _load(lambda: original(self, *args, **kwargs), info, lazy)

    return get_object_for_this_type


def _relinfo(manager, field, kind, prefetched):
    instance = manager.instance
    return (
        _label(type(instance)),
        field,
        kind,
        _label(manager.model),
        prefetched,
        origin_of(instance),
        False,
    )


def _hook_manager_get_queryset(original, field, kind):
    """A related manager's get_queryset: the prefetch cache, or a new filtered queryset."""

    @functools.wraps(original)
    def get_queryset(self):
        qs = original(self)
        try:
            query = qs._query
            mark = query._djtop
            if qs._result_cache is not None:  # served from the prefetch cache
                if not (mark and mark[0] is not None and mark[0][4]):
                    info = _relinfo(self, field, kind, True)
                    query._djtop = _Mark((info, mark[1] if mark else _EMPTY, _EMPTY, False))
            else:
                info = _relinfo(self, field, kind, False)
                query._djtop = _Mark((info, mark[1] if mark else _EMPTY, _EMPTY, False))
        except Exception:
            pass
        return qs

    return get_queryset


def _hook_manager_counter(original, op, field, kind):
    """ManyRelatedManager.count/exists (Django 5+): may query the through table directly."""

    @functools.wraps(original)
    def hooked(self):
        try:
            cache = getattr(self, "get_prefetch_cache", None)
            cached = cache is not None and cache() is not None
        except Exception:
            cached = False
        if cached:
            return original(self)  # answered from the prefetch cache: no query
        try:
            info = _relinfo(self, field, kind, False)
            lookups = dict(self.core_filters) if (_tls.state or _current.get()) is None else None
            token = _enter_relation(info, op, _label(self.model), op, lookups, innermost=False)
        except Exception:
            token = None
        if token is None:
            return original(self)
        try:
            return original(self)
        finally:
            _reset(token)

    return hooked


def _hook_manager_class(cls, field, kind):
    """Hook one related manager class (each relation has its own, made on first use; a
    ``manager(manager=...)`` call makes one each time, so they are only weakly kept)."""
    if "_djtop_hooked" in cls.__dict__:
        return cls
    get_queryset = cls.__dict__.get("get_queryset")
    if get_queryset is None or not _manager_accepts(cls, "get_queryset", get_queryset):
        return cls
    hooks = {"get_queryset": _hook_manager_get_queryset(get_queryset, field, kind)}
    for op in ("count", "exists"):
        counter = cls.__dict__.get(op)
        if counter is not None and _manager_accepts(cls, op, counter):
            hooks[op] = _hook_manager_counter(counter, op, field, kind)
    for name in ("add", "remove", "clear", "set"):
        method = cls.__dict__.get(name)
        if method is not None:
            hooks[name] = _hook_mute(method)
    originals = {name: cls.__dict__[name] for name in hooks}
    for name, hooked in hooks.items():
        setattr(cls, name, hooked)
    cls._djtop_hooked = originals
    _manager_classes.add(cls)
    return cls


def _manager_accepts(cls, name, method):
    """A related manager's get_queryset/count/exists take self only (the mute hooks around
    add/remove/clear/set pass any arguments on)."""
    return guard.accepts(f"{cls.__module__}.{cls.__name__}.{name}", method, _SELF)


def _hook_manager_factory(original, describe):
    """create_*_manager(superclass, rel, ...): hook the class it returns."""

    @functools.wraps(original)
    def factory(*args, **kwargs):
        cls = original(*args, **kwargs)
        try:
            field, kind = describe(*args, **kwargs)
            _hook_manager_class(cls, field, kind)
        except Exception:
            pass
        return cls

    return factory


def _describe_reverse_fk(superclass, rel):
    return rel.get_accessor_name(), "reverse_fk"


def _describe_m2m(superclass, rel, reverse):
    return (rel.get_accessor_name() if reverse else rel.field.name), "m2m"


def _describe_generic(superclass, rel):
    return rel.field.name, "generic"


# -- installing ------------------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()
_patches = []  # (owner, name, original or _Missing), to undo
_manager_classes = weakref.WeakSet()  # related manager classes hooked


class _Missing:
    pass


def _set(owner, name, value):
    _patches.append((owner, name, owner.__dict__.get(name, _Missing)))
    setattr(owner, name, value)


def _hook_name(owner, name):
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}.{name}"
    return f"{owner.__name__}.{name}"


def _patch(owner, name, shapes, make, *extra):
    """Replace ``owner.name`` with ``make(original, *extra)``, when ``original`` has one of
    ``shapes`` (see guard.shape): a Django that changed it loses this hook only, with one
    warning. Nothing is patched when ``owner`` has no ``name`` of its own."""
    original = owner.__dict__.get(name)
    if original is None or getattr(original, "_djtop_hook", False):
        return
    if not guard.accepts(_hook_name(owner, name), original, shapes):
        return
    hooked = make(original, *extra)
    hooked._djtop_hook = True
    _set(owner, name, hooked)


# The signatures each hook was written for, as guard.shape writes them; Django 4.2 to 6.1.
_SELF = ("(self)",)
_ARGS = ("(self, *args, **kwargs)",)
_QUERYSET_SHAPES = {
    "get": _ARGS,
    "first": _SELF,
    "last": _SELF,
    "count": _SELF,
    "exists": _SELF,
    "aggregate": _ARGS,
    "in_bulk": ("(self, id_list, *, field_name)",),
    "create": ("(self, **kwargs)",),
    "get_or_create": ("(self, defaults, **kwargs)",),
    "update_or_create": (
        "(self, defaults, **kwargs)",
        "(self, defaults, create_defaults, **kwargs)",
    ),
    "delete": _SELF,
    "update": ("(self, **kwargs)",),
    "bulk_create": (
        "(self, objs, batch_size, ignore_conflicts, update_conflicts, update_fields, "
        "unique_fields)",
    ),
    "bulk_update": ("(self, objs, fields, batch_size)",),
}


def _targets():
    """What install() hooks, in order: (owner, name, shapes, make, *extra). Django must be
    set up. Tests read this table to change each target's signature and see djtop step aside."""
    from django.apps import apps
    from django.db.models import Model, query
    from django.db.models.fields import related_descriptors as rd
    from django.db.models.query_utils import DeferredAttribute
    from django.db.models.sql import Query

    QuerySet = query.QuerySet
    out = [
        (QuerySet, name, _QUERYSET_SHAPES[name], _hook_queryset_method, op)
        for name, op in _QUERYSET_OPS
    ]
    out += [
        (QuerySet, "_fetch_all", _SELF, _hook_fetch_all),
        (QuerySet, "_iterator", ("(self, use_chunked_fetch, chunk_size)",), _hook_iterator),
        (QuerySet, "aiterator", ("(self, chunk_size)",), _hook_aiterator),
        (
            QuerySet,
            "_filter_or_exclude",
            ("(self, negate, args, kwargs)",),
            _hook_filter_or_exclude,
        ),
        (QuerySet, "complex_filter", ("(self, filter_obj)",), _hook_complex_filter),
        (
            QuerySet,
            "extra",
            ("(self, select, where, params, tables, order_by, select_params)",),
            _hook_not_simple,
        ),
        (QuerySet, "_combinator_query", ("(self, combinator, *other_qs, all)",), _hook_not_simple),
        # save_base, not save: a wrapper adds a frame, and save() warns with a stacklevel
        # that must reach the app's line, not djtop's.
        (
            Model,
            "save_base",
            ("(self, raw, force_insert, force_update, using, update_fields)",),
            _hook_model_method,
            "save",
        ),
        (Model, "delete", ("(self, using, keep_parents)",), _hook_model_method, "delete"),
        (
            Model,
            "refresh_from_db",
            ("(self, using, fields)", "(self, using, fields, from_queryset)"),
            _hook_refresh_from_db,
        ),
        (Query, "__getstate__", _SELF, _hook_query_getstate),
        (query.ModelIterable, "__iter__", _SELF, _hook_model_iterable_iter),
        (
            query,
            "get_related_populators",
            ("(klass_info, select, db)", "(klass_info, select, db, fetch_mode)"),
            _hook_get_related_populators,
        ),
        (
            query,
            "prefetch_one_level",
            ("(instances, prefetcher, lookup, level)",),
            _hook_prefetch_one_level,
        ),
        (
            rd.ForwardManyToOneDescriptor,
            "get_object",
            ("(self, instance)",),
            _hook_forward_get_object,
        ),
        (
            rd.ReverseOneToOneDescriptor,
            "get_queryset",
            ("(self, **hints)", "(self, *, instance)"),
            _hook_reverse_one_to_one_get_queryset,
        ),
        (
            rd,
            "create_reverse_many_to_one_manager",
            ("(superclass, rel)",),
            _hook_manager_factory,
            _describe_reverse_fk,
        ),
        (
            rd,
            "create_forward_many_to_many_manager",
            ("(superclass, rel, reverse)",),
            _hook_manager_factory,
            _describe_m2m,
        ),
    ]
    # Django 6.1's fetch modes: FETCH_PEERS loads a relation for every peer at once.
    peers = ("(self, instances)",)
    for owner, describe in (
        (rd.ForwardManyToOneDescriptor, _describe_forward_peers),
        (rd.ReverseOneToOneDescriptor, _describe_reverse_o2o_peers),
        (DeferredAttribute, _describe_deferred_peers),
    ):
        if "fetch_many" in owner.__dict__:
            out.append((owner, "fetch_many", peers, _hook_fetch_many, describe))
    if apps.is_installed("django.contrib.contenttypes"):
        from django.contrib.contenttypes import fields as generic
        from django.contrib.contenttypes.models import ContentType

        gfk_get = ("(self, instance, cls)",)
        descriptor = getattr(generic, "GenericForeignKeyDescriptor", None)  # Django 6.1
        if descriptor is not None:
            out.append((descriptor, "__get__", gfk_get, _hook_gfk_get, True))
            if "fetch_many" in descriptor.__dict__:
                out.append((descriptor, "fetch_many", peers, _hook_fetch_many, _describe_gfk_peers))
        else:
            out.append((generic.GenericForeignKey, "__get__", gfk_get, _hook_gfk_get))
        out += [
            (
                ContentType,
                "get_object_for_this_type",
                ("(self, **kwargs)", "(self, using, **kwargs)"),
                _hook_get_object_for_this_type,
            ),
            (
                generic,
                "create_generic_related_manager",
                ("(superclass, rel)",),
                _hook_manager_factory,
                _describe_generic,
            ),
        ]
    return out


def install():
    """Install the hooks, once per process (called by capture.install when enabled)."""
    global _installed, _DEFERRED_CALLERS, _PREFETCH_CALLERS, _Model
    with _install_lock:
        if _installed:
            return True
        from django.apps import apps
        from django.db.models import Model
        from django.db.models.base import ModelState
        from django.db.models.fields import related_descriptors as rd
        from django.db.models.query_utils import DeferredAttribute
        from django.db.models.sql import Query

        _Model = Model
        _DEFERRED_CALLERS = _codes(DeferredAttribute, "__get__", "fetch_one")
        _PREFETCH_CALLERS = _codes(rd.ReverseOneToOneDescriptor, "get_prefetch_querysets")
        if "_djtop" not in Query.__dict__:
            _set(Query, "_djtop", None)  # the default: a plain attribute read
        if ORIGIN_ATTR not in ModelState.__dict__:
            _set(ModelState, ORIGIN_ATTR, None)  # no origin: a plain read, no AttributeError
        for owner, name, shapes, make, *extra in _targets():
            if owner is Query and name == "__getstate__":
                # inherited from BaseExpression: ours goes on Query itself
                original = getattr(Query, name, None)
                if original is not None and "__getstate__" not in Query.__dict__:
                    if guard.accepts(_hook_name(Query, name), original, shapes):
                        hooked = make(original)
                        hooked._djtop_hook = True
                        _set(Query, name, hooked)
                    continue
            _patch(owner, name, shapes, make, *extra)
        generic = None
        if apps.is_installed("django.contrib.contenttypes"):
            from django.contrib.contenttypes import fields as generic
        _hook_existing_managers(apps, rd, generic)
        _installed = True
        return True


def _codes(owner, *names):
    codes = set()
    for name in names:
        code = getattr(owner.__dict__.get(name), "__code__", None)
        if code is not None:
            codes.add(code)
    return frozenset(codes)


def _hook_query_getstate(original):
    """Query.__getstate__: pickling a queryset (as the cache framework does) leaves djtop's
    mark out. It holds the raw filter values: a queryset among them would be run to be
    pickled, a generator cannot be pickled at all."""

    @functools.wraps(original)
    def __getstate__(self):
        state = original(self)
        if type(state) is dict and "_djtop" in state:
            state = dict(state)
            del state["_djtop"]
        return state

    return __getstate__


def _hook_existing_managers(apps, rd, generic):
    """Related manager classes made before install() (cached on their descriptors)."""
    for model in apps.get_models(include_auto_created=True):
        for name, attr in list(vars(model).items()):
            if not isinstance(attr, rd.ReverseManyToOneDescriptor):
                continue
            cls = attr.__dict__.get("related_manager_cls")
            if cls is None:
                continue
            if generic is not None and isinstance(attr, generic.ReverseGenericManyToOneDescriptor):
                kind = "generic"
            elif isinstance(attr, rd.ManyToManyDescriptor):
                kind = "m2m"
            else:
                kind = "reverse_fk"
            try:
                _hook_manager_class(cls, name, kind)
            except Exception:
                pass


def uninstall():
    """Undo install() (for tests and benchmarks)."""
    global _installed
    with _install_lock:
        for cls in list(_manager_classes):
            originals = cls.__dict__.get("_djtop_hooked") or {}
            for name, original in originals.items():
                setattr(cls, name, original)
            try:
                del cls._djtop_hooked
            except AttributeError:
                pass
        _manager_classes.clear()
        while _patches:
            owner, name, original = _patches.pop()
            if original is _Missing:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass
            else:
                setattr(owner, name, original)
        _installed = False


def installed():
    return _installed


def model_tables():
    """{db_table: "app_label.ModelName"} of every installed model (M2M through tables
    included, proxies left out: they share their concrete model's table)."""
    from django.apps import apps

    tables = {}
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.proxy or not opts.db_table:
            continue
        tables.setdefault(opts.db_table, opts.label)
    return tables
