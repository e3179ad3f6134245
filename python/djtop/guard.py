"""What the shim may wrap: every Django (or asgiref) function it replaces is checked when the
hook goes in, against the signatures that hook was written for.

A Django release that changes one of them (as 6.1 did to ``get_related_populators``) then
costs that hook only: it is not installed, one warning names the Django version and the hook,
and capture, counts and every other hook go on as before. Nothing here imports the rest of the
shim, and nothing here raises.
"""

import inspect
import logging
import threading
import types

log = logging.getLogger("djtop")

_VAR_POSITIONAL = 0x04
_VAR_KEYWORDS = 0x08

_warned = set()
_lock = threading.Lock()
skipped = {}  # hook name -> the signature met, for tests and `hello`


def shape(func):
    """A function's parameters as one string, defaults left out: ``(self, *args, **kwargs)``,
    ``(self, *, instance)``. ``None`` for what has no code object (a C function, a
    callable instance). A wrapper that says what it wraps (``__wrapped__``) is read through;
    a code object is read as its function's."""
    try:
        func = inspect.unwrap(func)
    except Exception:
        pass
    func = getattr(func, "__func__", func)  # a classmethod / staticmethod
    code = func if isinstance(func, types.CodeType) else getattr(func, "__code__", None)
    if code is None:
        return None
    names = code.co_varnames
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    parts = list(names[:positional])
    posonly = getattr(code, "co_posonlyargcount", 0)
    if posonly:
        parts.insert(posonly, "/")
    at = positional + keyword_only
    if code.co_flags & _VAR_POSITIONAL:
        parts.append("*" + names[at])
        at += 1
    elif keyword_only:
        parts.append("*")
    parts.extend(names[positional : positional + keyword_only])
    if code.co_flags & _VAR_KEYWORDS:
        parts.append("**" + names[at])
    return "(" + ", ".join(parts) + ")"


def accepts(hook, original, shapes):
    """True when ``original`` has one of ``shapes``; else warn once for ``hook`` (a dotted
    name such as ``django.db.models.query.get_related_populators``) and say False."""
    try:
        got = shape(original)
    except Exception:
        got = None
    if got is not None and got in shapes:
        return True
    step_aside(hook, f"its signature is {got or 'unreadable'}, djtop knows {' or '.join(shapes)}")
    return False


def step_aside(hook, why):
    """One warning per hook and process: the hook stays out, the rest of djtop works."""
    with _lock:
        if hook in _warned:
            return
        _warned.add(hook)
        skipped[hook] = why
    try:
        import django

        version = django.get_version()
    except Exception:
        version = "unknown"
    try:
        log.warning(
            "djtop: not hooking %s on Django %s: %s. Queries are still captured and counted; "
            "the findings that need this hook may be missing. Please report it with your "
            "Django version.",
            hook,
            version,
            why,
        )
    except Exception:
        pass
