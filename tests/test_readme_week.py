"""The README's clinic week works as written: its curl block replayed against a freshly seeded demo clinic (the
same shell reader as tests/test_readme_service.py), and its command-line block run against a demo clinic seeded
at the real clock (as `make run` seeds it), each command's output holding what its comment says."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from openidds.cli.app import app
from openidds.db import make_engine, migrate, sessions
from openidds.service.demo import seed_demo
from tests.test_readme_service import README, Shell, commands, demo_client, split_comment

__all__ = ["demo_client"]  # the fixture, shared
API_BLOCK = re.search(r"```bash\n(# OpenIDDS clinic week \(replayed.*?)```", README, flags=re.S)
CLI_BLOCK = re.search(r"```bash\n(# OpenIDDS clinic week, command line.*?)```", README, flags=re.S)


def test_the_week_is_in_the_readme() -> None:
    assert API_BLOCK is not None and CLI_BLOCK is not None
    for words in ("latest safe day", "earliest useful day", "CP-SAT", "idds worker", "calendar-feeds", "card.pdf"):
        assert words in README


def test_the_weeks_curl_session_replays(demo_client) -> None:  # type: ignore[no-untyped-def]
    assert API_BLOCK is not None
    shell = Shell(demo_client)
    requests = 0
    for command in commands(API_BLOCK.group(1)):
        line, comment = split_comment(command)
        before = len(shell.statuses)
        printed = shell.run(line)
        if len(shell.statuses) == before:
            assert not comment, command
            continue
        requests += 1
        m = re.fullmatch(r"(\d{3})(?:\s*→\s*(.*))?", comment)
        assert m, f"each request states its status: {command!r}"
        assert shell.statuses[-1] == int(m.group(1)), (command, shell.statuses[-1], printed)
        if " -o " in line and line.split(" -o ")[1].split()[0].endswith(".pdf"):
            body = shell.last.content
            assert body.startswith(b"%PDF") and shell.last.headers["content-type"] == "application/pdf"
        if re.match(r"[A-Za-z_]\w*=\$\(", line):
            continue
        assert m.group(2) is not None, command
        wanted = re.escape(m.group(2).strip()).replace("…", ".*")
        assert re.fullmatch(wanted, printed.strip(), flags=re.S), (command, printed)
    assert requests >= 10


@pytest.fixture
def live_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "clinic.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    seed_demo(sessions(engine), datetime.now(UTC))
    engine.dispose()
    monkeypatch.setenv("IDDS_DATABASE_URL", f"sqlite:///{database}")
    for name in ("IDDS_SMTP_URL", "IDDS_SMS_WEBHOOK_URL", "IDDS_SMS_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_weeks_commands_run(live_demo: Path) -> None:
    assert CLI_BLOCK is not None
    ran = 0
    for command in commands(CLI_BLOCK.group(1)):
        line, comment = split_comment(command)
        argv = shlex.split(line)
        assert argv[0] == "idds", line
        result = CliRunner().invoke(app, argv[1:])
        assert result.exit_code == 0, (line, result.output)
        wanted = comment.removeprefix("→").strip()
        assert wanted and wanted in result.output, (line, result.output)
        ran += 1
    assert ran == 5
    card = PdfReader(live_demo / "card.pdf")
    assert "DEMO-0035" in card.pages[0].extract_text()
