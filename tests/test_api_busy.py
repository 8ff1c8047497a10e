"""A busy database is a 503 with Retry-After that saves nothing, never a 500: the SQLite write lock held past its
timeout, or no pooled connection free in time."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openidds.api.app import create_app
from openidds.db import make_engine
from tests.api_support import patient_body
from tests.clinic_db import PASSWORD, START
from tests.web_support import hidden


def _login(client: TestClient, engine_url: str) -> dict[str, str]:
    from openidds.db import sessions
    from openidds.db.models import User
    from openidds.service.auth import hash_password

    engine = make_engine(engine_url)
    with sessions(engine)() as s, s.begin():
        s.add(
            User(
                username="nora", full_name="Nora", role="nurse", password_hash=hash_password(PASSWORD), created_at=START
            )
        )
    engine.dispose()
    r = client.post("/api/v1/auth/login", json={"username": "nora", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _patients(engine_url: str) -> int:
    with sqlite3.connect(engine_url.removeprefix("sqlite:///")) as c:
        return int(c.execute("select count(*) from patients").fetchone()[0])


def test_the_sqlite_write_lock_held_too_long_is_a_503(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.sqlite3'}"
    client = TestClient(create_app(make_engine(url, connect_args={"timeout": 0.2}), clock=lambda: START))
    headers = _login(client, url)
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        r = client.post("/api/v1/patients", json=patient_body("B-1"), headers=headers)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "5"
    assert r.json()["detail"] == "the service is busy: nothing was saved, try again in a few seconds"
    assert _patients(url) == 0
    assert client.post("/api/v1/patients", json=patient_body("B-1"), headers=headers).status_code == 201


def test_no_free_connection_in_time_is_a_503(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pool.sqlite3'}"
    engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    client = TestClient(create_app(engine, clock=lambda: START))
    headers = _login(client, url)
    held = engine.connect()  # every connection the pool has, in use
    try:
        r = client.post("/api/v1/patients", json=patient_body("B-2"), headers=headers)
    finally:
        held.close()
    assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
    assert _patients(url) == 0


@pytest.mark.parametrize("url", ["postgresql+psycopg://u@h/d"])
def test_postgresql_pools_as_many_connections_as_request_threads(url: str) -> None:
    # 10 kept + 30 on demand = AnyIO's 40 worker threads, so a burst waits on the patient's lock, not on the pool.
    engine = make_engine(url)
    assert (engine.pool.size(), engine.pool._max_overflow) == (10, 30)  # type: ignore[attr-defined]


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
    url = f"sqlite:///{tmp_path / 'large.sqlite3'}"
    client = TestClient(create_app(make_engine(url), clock=lambda: START))
    headers = _login(client, url)
    big = {**patient_body("L-1"), "given_name": "x" * 1_100_000}
    r = client.post("/api/v1/patients", json=big, headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["detail"] == "the request is larger than 1 MiB: nothing was read or saved"
    assert _patients(url) == 0
    # Just under the limit the body reaches the route, which names the field that is too long.
    r = client.post("/api/v1/patients", json={**patient_body("L-1"), "given_name": "x" * 1_000_000}, headers=headers)
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
