"""``manage.py querycounts``: Django's own count of every view's queries, by line of views.py.

The facts behind test_findings.py's expected numbers, measured without djtop: each view of
``shop.views.VIEWS`` is called once (async views through ``async_to_sync``) inside
``CaptureQueriesContext``, and an execute wrapper notes which line of ``shop/views.py`` ran each
statement (the innermost such frame of the thread; for an ORM call awaited in an async view,
the line where the view's coroutine waits). Prints JSON::

    {"<view>": {"status": 200, "total": 13, "sql": [...], "lines": {"<file:line>": 12, ...}}, ...}

``total`` and ``sql`` are everything CaptureQueriesContext saw; ``lines`` leaves transaction
control out (``BEGIN``, ``COMMIT``, savepoints).

Run with ``DJTOP_ENABLED=0`` on a seeded database; the views write only to ``shop_visit``.
"""

import asyncio
import inspect
import json
import os
import sys
import time

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand
from django.db import connection
from django.template.base import Node
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from shop import views

VIEWS_FILE = inspect.getsourcefile(views)
PROJECT = os.path.dirname(os.path.dirname(VIEWS_FILE))  # tests/python/diagproj
VIEWS_REL = os.path.relpath(VIEWS_FILE, PROJECT)
RENDER_ANNOTATED = Node.render_annotated.__code__
SETTLE_SECONDS = 0.5
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _thread_line():
    """The innermost line of shop's code that ran the statement: a template tag or variable of
    shop's templates (read from Django's Node.render_annotated frames), or a line of views.py;
    as "file:line" relative to the project root."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code is RENDER_ANNOTATED:
            node = frame.f_locals["self"]
            if node.origin.name.startswith(str(PROJECT)):
                rel = os.path.relpath(node.origin.name, PROJECT)
                return f"{rel}:{node.token.lineno}"
        if code.co_filename == VIEWS_FILE:
            return f"{VIEWS_REL}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _task_line(task):
    """The innermost views.py line of a task's await chain, once the task is suspended."""
    outer = task.get_coro()
    deadline = time.monotonic() + SETTLE_SECONDS
    while getattr(outer, "cr_running", False) and time.monotonic() < deadline:
        time.sleep(0.0005)
    line = None
    obj = outer
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None)
        if frame is not None and frame.f_code.co_filename == VIEWS_FILE:
            line = f"{VIEWS_REL}:{frame.f_lineno}"
        obj = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None)
    return line


class Command(BaseCommand):
    help = "Print each diagproj view's query count, in total and by line of shop/views.py."

    def handle(self, *args, **options):
        factory = RequestFactory()
        out = {}
        for view in views.VIEWS:
            name = view.__name__
            lines = {}
            current = {}

            def note(execute, sql, params, many, context, lines=lines, current=current):
                if not sql.startswith(TRANSACTION):
                    line = _thread_line()
                    if line is None and "task" in current:
                        line = _task_line(current["task"])
                    lines[line] = lines.get(line, 0) + 1
                return execute(sql, params, many, context)

            async def run_async(request, view=view, current=current):
                current["task"] = asyncio.current_task()
                return await view(request)

            request = factory.get(f"/{name}/")
            with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(note):
                if asyncio.iscoroutinefunction(view):
                    response = async_to_sync(run_async)(request)
                else:
                    response = view(request)
            out[name] = {
                "status": response.status_code,
                "total": len(captured.captured_queries),
                "lines": lines,
                "sql": [q["sql"] for q in captured.captured_queries],
            }
        self.stdout.write(json.dumps(out, indent=1))
