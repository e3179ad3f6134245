"""Serve every view of a project once through Django's test client, and say what happened.

    python serve_every_view.py MODE ROUTES OUT.json

MODE: ``bare`` (the shim off), ``shim`` (on, recording to DJTOP_RECORD), or ``changed`` (on,
with every function djtop hooks replaced, before djtop installs, by one of another signature
that still does the same: what a Django release changing them all would do). ROUTES:
``module:NAME`` of a list of ``(path, view)`` or of views (served at ``/<view name>/``).

Writes ``{"changed": [hook names], "views": {name: {status, body, statements}}}``;
``statements`` counts what Django's own CaptureQueriesContext saw, transaction control left
out. Every request carries ``?t=<name>``, so a recording can be matched to it. Run by
tests/python/test_guard.py, in a process of its own.
"""

import hashlib
import importlib
import json
import sys

TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def changed_targets():
    """(owner, name) of every function djtop hooks, in the order it hooks them."""
    from asgiref.sync import SyncToAsync
    from django.db.backends import utils
    from djtop import relations

    targets = [(owner, name) for owner, name, *_ in relations._targets()]
    return targets + [(utils, "debug_transaction"), (SyncToAsync, "__call__")]


def change(owner, name):
    original = getattr(owner, name)

    # Another signature, the same behaviour: (*args, _changed_in_a_new_django, **kwargs).
    def changed(*args, _changed_in_a_new_django=None, **kwargs):
        return original(*args, **kwargs)

    setattr(owner, name, changed)
    return relations_name(owner, name)


def relations_name(owner, name):
    from djtop import relations

    return relations._hook_name(owner, name)


def routes(spec):
    module, attr = spec.split(":")
    out = []
    for entry in getattr(importlib.import_module(module), attr):
        if isinstance(entry, tuple):
            path, view = entry
            out.append((view.__name__, "/" + path))
        else:
            out.append((entry.__name__, f"/{entry.__name__}/"))
    return out


def main(mode, spec, out_path):
    import django

    changed = []
    if mode == "changed":
        from djtop import capture

        install = capture.install
        capture.install = lambda: None  # djtop's AppConfig.ready: held until the change
        django.setup()
        for owner, name in changed_targets():
            changed.append(change(owner, name))
        capture.install = install
        install()
    else:
        django.setup()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(raise_request_exception=False)
    views = {}
    for name, path in routes(spec):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, {"t": name})
            # a streaming body runs its queries as it is read
            body = b"".join(response) if response.streaming else response.content
        views[name] = {
            "status": response.status_code,
            "body": hashlib.sha256(body).hexdigest(),
            "statements": sum(
                1 for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION)
            ),
        }
    with open(out_path, "w") as f:
        json.dump({"changed": changed, "views": views}, f, indent=1)
    if mode != "bare":
        from djtop import transport

        transport.flush(5)


if __name__ == "__main__":
    main(*sys.argv[1:])
