"""`idds feed add|list|revoke` on a SQLite clinic database: the URL printed once, the feed listed without it, revoked;
bad input one line naming the option."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openidds.api.app import create_app
from openidds.db import make_engine
from tests.api_support import cheap_hasher
from tests.cli_helpers import error_line, run, run_json
from tests.clinic_db import Clinic


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    cheap_hasher(monkeypatch)
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    engine = make_engine(url)
    clinic = Clinic(engine)  # migrates
    clinic.user("nora", "nurse")
    clinic.user("root", "admin")
    engine.dispose()
    return url


def test_add_list_revoke(database: str) -> None:
    made = run_json("feed", "add", "--as", "nora", "--base-url", "http://clinic.example:8000", "--database", database)
    assert made["scope"] == "clinic" and made["url"].startswith("http://clinic.example:8000/calendar/")
    listed = run_json("feed", "list", "--as", "nora", "--database", database)
    assert [f["id"] for f in listed["feeds"]] == [made["id"]] and "url" not in listed["feeds"][0]
    engine = make_engine(database)
    app = TestClient(create_app(engine))
    path = made["url"].removeprefix("http://clinic.example:8000")
    assert app.get(path).status_code == 200
    revoked = run("feed", "revoke", str(made["id"]), "--as", "nora", "--database", database)
    assert revoked.exit_code == 0, revoked.stderr
    assert app.get(path).status_code == 404
    engine.dispose()


def test_bad_input_is_one_line(database: str) -> None:
    assert "--scope" in error_line(run("feed", "add", "--as", "nora", "--scope", "all", "--database", database))
    assert "--as" in error_line(run("feed", "add", "--as", "nobody", "--database", database))
    assert "--as" in error_line(run("feed", "add", "--as", "root", "--database", database))  # the admin: 403
    assert "ID" in error_line(run("feed", "revoke", "x", "--as", "nora", "--database", database))
