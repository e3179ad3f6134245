"""Fetch a demo URL through Django's test clients and consume the whole body.

Used by the tests and by ``manage.py demo_counts``: streaming bodies are consumed inside the
call, so the queries a streaming generator runs are counted with the request.
"""

import re

from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

# Statements Django issues for transaction management, not by the view's ORM calls.
TRANSACTION_SQL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


async def _collect(chunks):
    return [chunk async for chunk in chunks]


def read_body(response):
    """The whole body of a response from ``Client``, streaming (sync or async) or not."""
    if not response.streaming:
        return response.content
    content = response.streaming_content
    if hasattr(content, "__aiter__"):  # an async generator, e.g. an async view's stream
        return b"".join(async_to_sync(_collect)(content))
    return b"".join(content)


def fetch(path, use_async=False, client=None):
    """GET ``path`` (through ``AsyncClient`` if ``use_async``); return ``(response, body)``."""
    if use_async:
        return async_to_sync(afetch)(path)
    response = (client or Client()).get(path)
    return response, read_body(response)


async def afetch(path, client=None):
    """GET ``path`` through ``AsyncClient``; return ``(response, body)``."""
    response = await (client or AsyncClient()).get(path)
    if not response.streaming:
        return response, response.content
    content = response.streaming_content
    if hasattr(content, "__aiter__"):
        return response, b"".join(await _collect(content))
    return response, b"".join(content)


def orm_statements(captured):
    """The captured queries minus transaction management statements."""
    return [q for q in captured if not TRANSACTION_SQL.match(q["sql"])]
