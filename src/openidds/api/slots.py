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
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_SLOTS = 30  # below AnyIO's 40 worker threads
WAIT_SECONDS = 30.0
BUSY = "the service is busy: nothing was saved, try again in a few seconds"


def slots_for(engine: Engine) -> int:
    """As many as the pool has connections, at most MAX_SLOTS."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        overflow: int = pool._max_overflow  # -1: no limit
        return max(1, min(MAX_SLOTS, pool.size() + overflow)) if overflow >= 0 else MAX_SLOTS
    return MAX_SLOTS


class DatabaseSlots:
    """ASGI middleware: every HTTP request but the static files holds a slot while it runs."""

    def __init__(self, app: ASGIApp, size: int, wait_seconds: float = WAIT_SECONDS) -> None:
        self.app, self.size, self.wait_seconds = app, size, wait_seconds
        # One semaphore per event loop: a test client may run the app on a new loop for each request.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith("/static/"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.size)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await slots.acquire()
        except TimeoutError:
            await _busy(scope)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()


def _busy(scope: Scope) -> Any:
    headers = {"Retry-After": "5"}
    if str(scope["path"]).startswith("/api/"):
        return JSONResponse({"detail": BUSY}, status_code=503, headers=headers)
    page = f"<!doctype html><title>Busy</title><h1>Busy: nothing was saved</h1><p role='alert'>{BUSY}</p>"
    return HTMLResponse(page, status_code=503, headers=headers)
