"""Databases for the clinic service tests: the same tests run on SQLite and on PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, database test), or $IDDS_TEST_POSTGRES_URL. Each test
gets its own schema, dropped afterwards. Without a server the PostgreSQL tests skip with the reason, unless
IDDS_REQUIRE_POSTGRES=1 or CI=true, where they fail (CI never skips them silently).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from openidds.api.app import create_app
from openidds.db import make_engine, sessions
from openidds.db.models import User
from openidds.service.auth import hash_password

POSTGRES_URL = os.environ.get("IDDS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"
START = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # 09:00 in Chicago


def _postgres_or_skip() -> None:
    try:
        probe = make_engine(POSTGRES_URL)
        with probe.connect() as c:
            c.execute(text("select 1"))
        probe.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        if os.environ.get("IDDS_REQUIRE_POSTGRES") == "1" or os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"IDDS_REQUIRE_POSTGRES=1 or CI=true, but PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL} (set IDDS_TEST_POSTGRES_URL, or run where one is)")


def engine_for(kind: str, tmp_path: Path) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
        yield engine
        engine.dispose()
        return
    _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Clinic:
    """A running service on a test database, a movable clock, and logins by role."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.now = START
        self.app = create_app(engine, clock=lambda: self.now)
        self.client = TestClient(self.app)
        self.sessions = sessions(engine)
        self.tokens: dict[str, str] = {}

    def user(self, username: str, role: str, patient_id: int | None = None) -> int:
        with self.sessions() as s, s.begin():
            user = User(
                username=username,
                full_name=username.title(),
                role=role,
                password_hash=hash_password(PASSWORD),
                patient_id=patient_id,
                created_at=self.now,
            )
            s.add(user)
            s.flush()
            return user.id

    def as_(self, username: str) -> dict[str, str]:
        """Headers for `username`, logging in again when the clock has moved past the token's life."""
        token = self.tokens.get(username)
        if token is None or self.client.get("/api/v1/auth/me", headers=_bearer(token)).status_code != 200:
            r = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            token = self.tokens[username] = r.json()["token"]
        return _bearer(token)

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        return self.client.request(method, "/api/v1" + path, headers=self.as_(who), **kwargs)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def clinic_fixture(kind: str, tmp_path: Path) -> Iterator[Clinic]:
    for engine in engine_for(kind, tmp_path):
        clinic = Clinic(engine)
        for name, role in (("ada", "physician"), ("bo", "physician"), ("nora", "nurse"), ("phil", "pharmacist")):
            clinic.user(name, role)
        clinic.user("root", "admin")
        yield clinic


Factory = Callable[..., Any]
