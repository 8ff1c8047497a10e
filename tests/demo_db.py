"""The demo clinic for the tests: seeded once per test session (a few seconds) into a SQLite file, and copied
for each test that needs its own, so tests can change it freely."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from openidds.db import make_engine, migrate, sessions
from openidds.service.demo import DemoLogins, seed_demo

NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # the clock the demo is seeded at (noon in Chicago)
_seeded: dict[str, tuple[Path, DemoLogins]] = {}


def seed_into(engine: Engine) -> DemoLogins:
    migrate(engine)
    return seed_demo(sessions(engine), NOW)


def demo_copy(tmp_path_factory: pytest.TempPathFactory, dest: Path) -> tuple[Engine, DemoLogins]:
    """An engine on a fresh copy of the demo clinic seeded at NOW."""
    if "sqlite" not in _seeded:
        base = tmp_path_factory.mktemp("demo-clinic") / "demo.sqlite3"
        engine = make_engine(f"sqlite:///{base}")
        logins = seed_into(engine)
        with engine.connect() as c:
            c.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))  # everything into the main file, to copy it
        engine.dispose()
        _seeded["sqlite"] = (base, logins)
    base, logins = _seeded["sqlite"]
    shutil.copyfile(base, dest)
    return make_engine(f"sqlite:///{dest}"), logins
