"""A busy database is a 503 with Retry-After that saves nothing, never a 500: the SQLite write lock held past its
timeout, or no pooled connection free in time."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from openidds.api.app import create_app
from openidds.api.slots import MAX_SLOTS
from openidds.db import make_engine
from openidds.db.models import Patient
from tests.api_support import count, fast_argon2, patient_body
from tests.clinic_db import PASSWORD, START, Clinic
from tests.web_support import hidden


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def clinic_on(engine: Engine) -> Clinic:
    """A clinic on `engine` (a small pool or a short lock timeout) with one nurse, logged in."""
    clinic = Clinic(engine)
    clinic.user("nora", "nurse")
    clinic.as_("nora")
    return clinic


def test_the_sqlite_write_lock_held_too_long_is_a_503(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    clinic = clinic_on(make_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2}))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        r = clinic.call("POST", "/patients", "nora", json=patient_body("B-1"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "5"
    assert r.json()["detail"] == "the service is busy: nothing was saved, try again in a few seconds"
    assert count(clinic, Patient) == 0
    assert clinic.call("POST", "/patients", "nora", json=patient_body("B-1")).status_code == 201


def test_no_free_connection_in_time_is_a_503(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.sqlite3'}", pool_size=1, max_overflow=0, pool_timeout=0.2)
    clinic = clinic_on(engine)
    held = engine.connect()  # every connection the pool has, in use
    try:
        r = clinic.call("POST", "/patients", "nora", json=patient_body("B-2"))
    finally:
        held.close()
    assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
    assert count(clinic, Patient) == 0


@pytest.mark.parametrize("url", ["postgresql+psycopg://u@h/d", "sqlite:///pool.sqlite3"])
def test_the_pool_has_a_connection_for_every_worker_thread(url: str) -> None:
    # A burst waits on the patient's lock, not on the pool: as many connections as AnyIO runs worker threads, and
    # fewer request slots than threads (so the request holding the lock always has one to go on with).
    async def worker_threads() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    threads = anyio.run(worker_threads)
    pool = make_engine(url).pool
    assert isinstance(pool, QueuePool)
    assert pool.size() + pool._max_overflow == threads == 40
    assert threads > MAX_SLOTS


def test_a_busy_database_is_a_page_in_the_web_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    client = TestClient(create_app(engine, clock=lambda: START))
    held = engine.connect()
    try:
        r = client.get("/login")
        token = hidden(r.text, "csrf_token")
        page = client.post("/login", data={"username": "nora", "password": PASSWORD, "csrf_token": token})
    finally:
        held.close()
    assert r.status_code == 200  # the login form reads nothing
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "Busy: nothing was saved" in page.text and page.headers["content-type"].startswith("text/html")


def test_requests_at_once_are_bounded_by_the_pool_and_the_worker_threads(tmp_path: Path) -> None:
    from openidds.api.slots import slots_for

    url = f"sqlite:///{tmp_path / 'slots.sqlite3'}"
    assert slots_for(make_engine(url)) == 30  # 40 connections, but fewer slots than AnyIO's 40 threads
    assert slots_for(make_engine(url, pool_size=2, max_overflow=1)) == 3
    assert slots_for(make_engine(url, pool_size=2, max_overflow=-1)) == 30  # no limit on the pool: the threads'


def test_a_body_above_one_mebibyte_is_a_413_and_saves_nothing(tmp_path: Path) -> None:
    clinic = clinic_on(make_engine(f"sqlite:///{tmp_path / 'large.sqlite3'}"))
    big = {**patient_body("L-1"), "given_name": "x" * 1_100_000}
    r = clinic.call("POST", "/patients", "nora", json=big)
    assert r.status_code == 413, r.text
    assert r.json()["detail"] == "the request is larger than 1 MiB: nothing was read or saved"
    assert count(clinic, Patient) == 0
    # Just under the limit the body reaches the route, which names the field that is too long.
    r = clinic.call("POST", "/patients", "nora", json={**patient_body("L-1"), "given_name": "x" * 1_000_000})
    assert r.status_code == 422 and r.json()["field"] == "given_name", r.text


def test_a_slow_body_holds_no_slot() -> None:
    import asyncio

    from openidds.api.slots import DatabaseSlots

    # One slot. The first request's body never finishes arriving; the second still runs.
    ran: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append(scope["path"])

    slots = DatabaseSlots(app, size=1)

    async def main() -> None:
        stalled = asyncio.Event()

        async def slow_receive() -> Any:
            await stalled.wait()
            return {"type": "http.disconnect"}

        async def quick_receive() -> Any:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(_: object) -> None:
            pass

        slow = asyncio.create_task(slots({"type": "http", "path": "/api/v1/a", "headers": []}, slow_receive, send))
        await asyncio.sleep(0)
        await asyncio.wait_for(slots({"type": "http", "path": "/api/v1/b", "headers": []}, quick_receive, send), 1)
        stalled.set()
        await slow

    asyncio.run(main())
    assert ran == ["/api/v1/b"]  # the first never reached the app: its client went away
