"""Who owns the loop a framework runs: the user's class whose queryset it evaluates, and the
user's line that made it touch a relation.

Most N+1s in Django projects are fired by a loop the framework runs, not by a ``for`` in a view:
an admin changelist, a Django REST framework serializer, a generic ListView's template. Their
fix goes where the user can change it: ``list_select_related`` on the ModelAdmin, the
viewset's ``queryset``, the ListView's ``queryset`` / ``get_queryset``. A stack walk (stacks)
that meets a frame of one of these frameworks asks this module what the frame says:

- an **owner** (``OwnerCode`` in the walk, not a frame of the stack): the ModelAdmin, DRF view
  or generic view instance found in the frame's ``self`` / ``cl`` / ``view`` (or a template
  context's ``view`` / ``cl``); sent as the ``owner`` of a queryset's origin;
- a **serializer field** (``FieldCode``, a frame of the stack): DRF's
  ``Serializer.to_representation`` reading one field, shown at the line that declares it.

Plain views never meet these frames, and pay nothing. Frames are classified once per code
object; what the owner's class declares (its lines, its ``list_select_related``, the source of
its ``queryset``) is read when the origin is sent, on the sender thread.
"""

import inspect
import os
import re
import sys

# Library files whose frames may say who owns the loop (short paths, as stacks names them).
FRAMEWORK_PREFIXES = ("django/contrib/admin/", "django/views/generic/", "rest_framework/")

_UNKNOWN = object()


class OwnerCode:
    """Stands for a code object in a walk: the owner met there (never a frame of the stack)."""

    __slots__ = ("kind", "cls", "model", "co_name")

    def __init__(self, kind, cls, model):
        self.kind = kind
        self.cls = cls
        self.model = model  # the label of the model it lists, or None
        self.co_name = f"<{kind} {cls.__qualname__}>"


class FieldCode:
    """Stands for a code object in a walk: a serializer field, at its declaration's line."""

    __slots__ = ("co_name",)

    def __init__(self, name):
        self.co_name = name


_owner_codes = {}  # (kind, class) -> OwnerCode
_field_frames = {}  # (serializer class, field name) -> walk triple or None
_readers = {}  # code -> what its frames say (a function of the frame), or None
_kinds = {}  # class -> "admin" / "drf" / "view" / "changelist" / None
_types = None  # (BaseModelAdmin, GenericAPIView, generic view mixins), once looked up
_root = os.getcwd()


def configure(root):
    global _root, _types
    _root = root
    _types = None
    _owner_codes.clear()
    _field_frames.clear()
    _readers.clear()
    _kinds.clear()


def read(frame, code, owner_found):
    """What a framework frame says, as walk triples: () when nothing."""
    reader = _readers.get(code, _UNKNOWN)
    if reader is _UNKNOWN:
        reader = _readers[code] = _reader_for(code)
    if reader is None:
        return ()
    try:
        return reader(frame, owner_found)
    except Exception:
        return ()


def from_context(context):
    """The owner of a template's context (a generic view's ``view``, the admin's ``cl``), as
    a walk triple, or None."""
    try:
        for name in ("view", "cl"):
            obj = context.get(name)
            if obj is not None:
                owner = _owner_of(obj)
                if owner is not None:
                    return owner
    except Exception:
        pass
    return None


def _reader_for(code):
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount + 16]
    if code.co_name == "to_representation" and "field" in names and "self" in names:
        return _read_serializer
    if "self" in names or "cl" in names or "view" in names:
        return _read_owner
    return None


def _read_owner(frame, owner_found):
    if owner_found:
        return ()
    local = frame.f_locals
    for name in ("self", "cl", "view"):
        obj = local.get(name)
        if obj is not None:
            owner = _owner_of(obj)
            if owner is not None:
                return owner
    return ()


def _read_serializer(frame, owner_found):
    local = frame.f_locals
    serializer = local.get("self")
    field = local.get("field")
    if serializer is None or field is None:
        return ()
    name = getattr(field, "field_name", None)
    key = (type(serializer), name)
    shown = _field_frames.get(key, _UNKNOWN)
    if shown is _UNKNOWN:
        shown = _field_frames[key] = _field_frame(type(serializer), name)
    return shown or ()


def _field_frame(cls, name):
    """(file, FieldCode, line) of a serializer field's declaration: ``author = ...`` in the
    class body, or the ``fields`` of its Meta for a ModelSerializer's own field; None when the
    class is not the app's."""
    for klass in cls.__mro__:
        path = _app_path(klass)
        if path is None:
            continue
        lines, start = _source(klass)
        if lines is None:
            continue
        line = _assignment(lines, start, name) or _assignment(lines, start, "fields")
        if line is not None:
            return (path, _field_code(f"{klass.__name__}.{name}"), line)
    return None


_field_codes = {}


def _field_code(name):
    code = _field_codes.get(name)
    if code is None:
        code = _field_codes[name] = FieldCode(name)
    return code


def _owner_of(obj):
    """An owner's walk triple for a framework object, or None."""
    cls = type(obj)
    kind = _kinds.get(cls, _UNKNOWN)
    if kind is _UNKNOWN:
        kind = _kinds[cls] = _kind_of(obj)
    if kind is None:
        return None
    if kind == "changelist":
        return _owner_of(obj.model_admin)
    model = getattr(obj, "model", None)  # an admin's, a view's (None: from its queryset)
    if model is None:
        model = getattr(getattr(obj, "queryset", None), "model", None)
    code = _owner_codes.get((kind, cls, model))
    if code is None:
        meta = getattr(model, "_meta", None)
        label = meta.label if meta is not None else None
        code = _owner_codes[(kind, cls, model)] = OwnerCode(kind, cls, label)
    return (None, code, 0)


def _kind_of(obj):
    admin, drf, views = _framework_types()
    if admin is not None:
        if isinstance(obj, admin):
            return "admin"
        if isinstance(getattr(obj, "model_admin", None), admin):
            return "changelist"
    if drf is not None and isinstance(obj, drf):
        return "drf"
    if views and isinstance(obj, views):
        return "view"
    return None


def _framework_types():
    global _types
    if _types is None:
        admin = drf = None
        views = ()
        if "django.contrib.admin" in sys.modules:
            try:
                from django.contrib.admin.options import BaseModelAdmin as admin
            except Exception:
                admin = None
        if "rest_framework" in sys.modules:
            try:
                from rest_framework.generics import GenericAPIView as drf
            except Exception:
                drf = None
        try:
            from django.views.generic.detail import SingleObjectMixin
            from django.views.generic.list import MultipleObjectMixin

            views = (MultipleObjectMixin, SingleObjectMixin)
        except Exception:
            pass
        _types = (admin, drf, views)
    return _types


# -- what the owner declares, read on the sender thread ---------------------------------------


def owner_json(code):
    """An owner as sent in an origin (docs/protocol.md): kind, class, where it is declared, and
    what it already declares that a fix extends."""
    cls = code.cls
    out = {"kind": code.kind, "class": f"{cls.__module__}.{cls.__qualname__}"}
    path = _app_path(cls)
    lines, start = _source(cls) if path is not None else (None, 0)
    out["library"] = path is None
    if path is not None and lines is not None:
        out["site"] = f"{path}:{_class_line(lines, start)}"
    if code.model is not None:
        out["model"] = code.model
    declares = {}
    if code.kind == "admin":
        _declared(declares, cls, "list_select_related", value=True)
    else:
        _declared(declares, cls, "queryset", value=True)
        _declared(declares, cls, "model")
    method = _method_site(cls, "get_queryset")
    if method is not None:
        declares["get_queryset"] = {"site": method}
    if declares:
        out["declares"] = declares
    return out


def _declared(out, cls, name, value=False):
    """``out[name] = {"site": file:line, "source": text}`` when an app class of ``cls``'s MRO
    assigns ``name`` in its body (``source``: the assigned expression, with ``value``)."""
    for klass in cls.__mro__:
        if name not in klass.__dict__:
            continue
        path = _app_path(klass)
        if path is None:
            return
        lines, start = _source(klass)
        if lines is None:
            return
        line = _assignment(lines, start, name)
        if line is None:
            return
        entry = {"site": f"{path}:{line}"}
        if value:
            entry["source"] = _statement_value(lines, line - start)
        out[name] = entry
        return


def _method_site(cls, name):
    for klass in cls.__mro__:
        func = klass.__dict__.get(name)
        if func is None:
            continue
        path = _app_path(klass)
        code = getattr(func, "__code__", None)
        if path is None or code is None:
            return None
        return f"{path}:{code.co_firstlineno}"
    return None


_sources = {}


def _source(cls):
    cached = _sources.get(cls)
    if cached is None:
        try:
            cached = inspect.getsourcelines(cls)
        except Exception:
            cached = (None, 0)
        _sources[cls] = cached
    return cached


def _class_line(lines, start):
    """The line of the ``class`` statement (its source starts at its decorators)."""
    for i, text in enumerate(lines):
        if text.lstrip().startswith("class "):
            return start + i
    return start


def _assignment(lines, start, name):
    pattern = re.compile(rf"^\s+{re.escape(name)}\s*(:[^=]*)?=(?!=)")
    for i, text in enumerate(lines):
        if pattern.match(text):
            return start + i
    return None


def _statement_value(lines, index):
    """The right-hand side of the assignment at ``lines[index]``, joined over the lines its
    brackets span, as one line of source."""
    text = lines[index].split("=", 1)[1]
    parts = [text.strip()]
    depth = _depth(text)
    i = index + 1
    while depth > 0 and i < len(lines):
        parts.append(lines[i].strip())
        depth += _depth(lines[i])
        i += 1
    value = "".join(parts)
    if "#" in value and not ('"' in value or "'" in value):
        value = value.split("#", 1)[0].strip()
    return value


def _depth(text):
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


def _app_path(cls):
    """The app file that defines ``cls``, relative to the project root; None for a library's."""
    module = sys.modules.get(getattr(cls, "__module__", ""), None)
    filename = getattr(module, "__file__", None)
    if not filename:
        return None
    path = os.path.abspath(filename)
    sep = os.sep
    if sep + "site-packages" + sep in path or sep + "dist-packages" + sep in path:
        return None
    root = _root.rstrip(sep) + sep
    if not path.startswith(root):
        return None
    return os.path.relpath(path, _root).replace(sep, "/")
