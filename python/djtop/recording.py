"""Reading a recording (``djtop record --out FILE`` or ``DJTOP_RECORD=FILE``) from Python.

Since protocol v2 a query names its SQL text, stack, library frames and relation by the id of
an earlier ``def`` line of the same process (docs/protocol.md). ``events()`` gives every event
in the self-contained v1 form instead, as scripts and tests want them: ``sql``, ``stack``,
``lib``, ``rel`` and ``orm`` written out, ``ts`` in seconds and ``ms`` in milliseconds, and the
``def`` lines themselves left out.
"""

import copy
import json

_REFS = (("sql_id", "sql"), ("stack_id", "stack"), ("lib_id", "lib"), ("rel_id", "rel"),
         ("orm_id", "orm"))  # fmt: skip
_DEF_KINDS = ("sql", "frames", "rel", "orm")


class UndefinedReference(ValueError):
    pass


def read(path):
    """The raw events of a recording file, one dict per line (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def events(path):
    """The events of a recording with every reference resolved (see the module doc)."""
    return inline(read(path))


def inline(raw):
    """v1-form events from raw ones: defs resolved (per ``sid``) and dropped."""
    return Resolver().inline(raw)


class Resolver:
    """``inline`` for a stream read piece by piece: remembers the defs seen so far."""

    def __init__(self):
        self.defs = {}  # (sid, id) -> value

    def inline(self, raw):
        defs = self.defs
        out = []
        for event in raw:
            kind = event.get("type")
            if kind == "def":
                for name in _DEF_KINDS:
                    if name in event:
                        defs[(event["sid"], event["id"])] = event[name]
                        break
                continue
            if kind == "query":
                event = dict(event)
                sid = event.get("sid")
                for ref, field in _REFS:
                    if ref in event:
                        key = (sid, event.pop(ref))
                        if key not in defs:
                            raise UndefinedReference(f"{ref} {key[1]} of sid {sid}: no def")
                        event[field] = copy.deepcopy(defs[key])  # each event its own copy
                if "ts_ns" in event:
                    event["ts"] = event.pop("ts_ns") / 1e9
                if "dur_ns" in event:
                    event["ms"] = event.pop("dur_ns") / 1e6
            out.append(event)
        return out
