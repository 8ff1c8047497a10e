"""At most so many requests use the database at once; the rest wait on the event loop.

Why: FastAPI runs a sync dependency and its endpoint on different worker threads (AnyIO's 40). A request that
has taken a pooled connection in its dependency needs a thread again for its endpoint; if every thread is then
held by requests waiting for a connection (or for SQLite's write lock), nobody can go on until the pool's timeout,
and a burst of remote presses becomes a burst of 503s. Waiting here costs no thread, and fewer slots than threads
(and than connections) keeps one free for the request that holds the patient's lock.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from openidds.api.errors import error_response

MAX_SLOTS = 30  # below AnyIO's 40 worker threads
WAIT_SECONDS = 30.0
MAX_BODY = 1_048_576  # bytes: the largest input, a 100,000-character program file, JSON-escaped, fits
BUSY = "the service is busy: nothing was saved, try again in a few seconds"
TOO_LARGE = f"the request is larger than {MAX_BODY // 1_048_576} MiB: nothing was read or saved"


def slots_for(engine: Engine) -> int:
    """As many as the pool has connections, at most MAX_SLOTS."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        overflow: int = pool._max_overflow  # -1: no limit
        return max(1, min(MAX_SLOTS, pool.size() + overflow)) if overflow >= 0 else MAX_SLOTS
    return MAX_SLOTS


class DatabaseSlots:
    """ASGI middleware: every HTTP request but the static files holds a slot while it runs. The body is read first,
    outside the slot, so a client sending it slowly holds no slot (and a body above MAX_BODY is a 413)."""

    def __init__(self, app: ASGIApp, size: int, wait_seconds: float | None = None) -> None:
        self.app, self.size, self.wait_seconds = app, size, wait_seconds
        # One semaphore per event loop: a test client may run the app on a new loop for each request.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(("/static/", "/api/v1/docs/static/")):
            await self.app(scope, receive, send)
            return
        body = await _read_body(scope, receive)
        if body is None:  # the client went away
            return
        if len(body) > MAX_BODY:
            await _answer(scope, 413, TOO_LARGE, {})(scope, receive, send)
            return
        receive = _replay(body, receive)
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.size)
        try:
            async with asyncio.timeout(WAIT_SECONDS if self.wait_seconds is None else self.wait_seconds):
                await slots.acquire()
        except TimeoutError:
            await _answer(scope, 503, BUSY, {"Retry-After": "5"})(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()


async def _read_body(scope: Scope, receive: Receive) -> bytes | None:
    """The whole body (stopping once it passes MAX_BODY), or None if the client disconnected."""
    declared = dict(scope.get("headers") or []).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return b"x" * (MAX_BODY + 1)  # refused before a byte is read
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            break
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, as one message; then whatever the client sends next (a disconnect)."""
    sent = False

    async def replayed() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _answer(scope: Scope, status: int, message: str, headers: dict[str, str]) -> Any:
    if str(scope["path"]).startswith("/api/"):
        return error_response(status, message, headers=headers)
    title = {413: "Too large", 503: "Busy: nothing was saved"}[status]
    page = f"<!doctype html><title>{title}</title><h1>{title}</h1><p role='alert'>{message}</p>"
    return HTMLResponse(page, status_code=status, headers=headers)
