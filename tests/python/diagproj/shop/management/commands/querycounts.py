"""``manage.py querycounts``: Django's own count of every view's queries, by line of views.py.

The facts behind test_findings.py's expected numbers, measured without djtop: each view of
``shop.views.VIEWS`` is called once (async views through ``async_to_sync``) inside
``CaptureQueriesContext``, and an execute wrapper notes which line of ``shop/views.py`` ran each
statement (the innermost such frame of the thread; for an ORM call awaited in an async view,
the line where the view's coroutine waits). Prints JSON::

    {"<view>": {"status": 200, "total": 13, "sql": [...], "lines": {"<line>": 12, ...}}, ...}

``total`` and ``sql`` are everything CaptureQueriesContext saw; ``lines`` leaves transaction
control out (``BEGIN``, ``COMMIT``, savepoints).

Run with ``DJTOP_ENABLED=0`` on a seeded database; the views write only to ``shop_visit``.
"""

import asyncio
import inspect
import json
import sys
import time

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from shop import views

VIEWS_FILE = inspect.getsourcefile(views)
SETTLE_SECONDS = 0.5
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _thread_line():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == VIEWS_FILE:
            return frame.f_lineno
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
            line = frame.f_lineno
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
                    lines[str(line)] = lines.get(str(line), 0) + 1
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
