"""The README's curl session against the clinic service works as written.

The block marked "OpenIDDS clinic service session" is replayed line by line against a freshly seeded demo clinic
(FastAPI's TestClient, a fixed clock), reading it as bash reads it: quotes, line continuations, `$VAR`
expansion outside single quotes, `VAR=$(…)` captures, pipes into `python3 -c` and into shell functions defined in
the block. Every request states its HTTP status (`# 201`) and, after `→`, what it prints (`…` matches anything);
both are checked.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openidds.api.app import create_app
from openidds.clinic.roles import matrix_markdown
from openidds.service.demo import LOGINS, README_REFILL_MRN
from tests.demo_db import NOW, demo_copy

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKER = "# OpenIDDS clinic service session"
BLOCK = re.search(r"```bash\n(" + re.escape(MARKER) + r".*?)```", README, flags=re.S)
BASE = "http://127.0.0.1:8000"


def _quotes_open(text: str) -> bool:
    """Whether `text` ends inside a quoted string (bash rules: no escapes inside single quotes)."""
    quote = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote is None and c == "\\":
            i += 2
            continue
        if c in "'\"" and quote in (None, c):
            quote = None if quote == c else c
        elif quote == '"' and c == "\\":
            i += 2
            continue
        i += 1
    return quote is not None


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines and multi-line quoted strings joined, full-line comments dropped."""
    out: list[str] = []
    pending = ""
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not _quotes_open(pending + line) and line.endswith("\\"):
            pending += line[:-1]
            continue
        pending += line
        if _quotes_open(pending):
            pending += "\n"
            continue
        out.append(pending)
        pending = ""
    assert not pending, f"unterminated command: {pending!r}"
    return out


def split_comment(command: str) -> tuple[str, str]:
    """(the command, its trailing comment), the comment starting at a `#` outside quotes after a space."""
    quote = None
    for i, c in enumerate(command):
        if c in "'\"" and quote in (None, c):
            quote = None if quote == c else c
        elif c == "#" and quote is None and (i == 0 or command[i - 1].isspace()):
            return command[:i].rstrip(), command[i + 1 :].strip()
    return command, ""


def expand(text: str, env: dict[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced outside single quotes (the values hold no spaces or quotes)."""
    out, quote, i = [], None, 0
    while i < len(text):
        c = text[i]
        if c == "$" and quote != "'":
            m = re.match(r"\$(?:([A-Za-z_]\w*)|\{([A-Za-z_]\w*)\})", text[i:])
            if m:
                name = m.group(1) or m.group(2)
                assert name in env, f"${name} is used before it is set"
                out.append(env[name])
                i += m.end()
                continue
        if c in "'\"" and quote in (None, c):
            quote = None if quote == c else c
        out.append(c)
        i += 1
    return "".join(out)


@dataclass
class Shell:
    client: TestClient
    env: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # name → the python3 -c code its body runs
    statuses: list[int] = field(default_factory=list)
    last: Any = None  # the last response

    def run(self, command: str) -> str:
        """Run one command line; returns what it prints."""
        if m := re.fullmatch(r"([A-Za-z_]\w*)\(\) \{ python3 -c '([^']*)' \"\$@\"; \}", command):
            self.functions[m.group(1)] = m.group(2)
            return ""
        if m := re.fullmatch(r"([A-Za-z_]\w*)=\$\((.*)\)", command, flags=re.S):
            self.env[m.group(1)] = self.pipeline(m.group(2)).strip()
            return ""
        if m := re.fullmatch(r"([A-Za-z_]\w*)=(\S+)", command):
            self.env[m.group(1)] = shlex.split(expand(m.group(2), self.env))[0]
            return ""
        return self.pipeline(command)

    def pipeline(self, text: str) -> str:
        words = shlex.split(expand(text, self.env))
        stages: list[list[str]] = [[]]
        for word in words:
            if word == "|":
                stages.append([])
            else:
                stages[-1].append(word)
        data: str | None = None
        for stage in stages:
            data = self.stage(stage, data)
        assert data is not None
        return data

    def stage(self, argv: list[str], stdin: str | None) -> str:
        name, *args = argv
        if name == "curl":
            return self.curl(args, stdin)
        if name == "python3" and args[:1] == ["-c"]:
            return python(args[1], args[2:], stdin)
        assert name in self.functions, f"unknown command {name!r}"
        return python(self.functions[name], args, stdin)

    def curl(self, args: list[str], stdin: str | None) -> str:
        method, headers, data, write_out, discard, url = None, {}, None, None, False, None
        it = iter(args)
        for arg in it:
            if arg == "-s":
                continue
            if arg == "-X":
                method = next(it)
            elif arg == "-H":
                key, _, value = next(it).partition(":")
                headers[key.strip()] = value.strip()
            elif arg == "-d":
                data = next(it)
                if data == "@-":
                    assert stdin is not None, "-d @- without a pipe into curl"
                    data = stdin
            elif arg == "-o":
                target = next(it)
                assert target == "/dev/null" or re.fullmatch(r"[\w.-]+\.pdf", target), target
                discard = True  # a PDF saved to a file: the bytes are checked by the caller, not printed
            elif arg == "-w":
                write_out = next(it)
            else:
                assert url is None and arg.startswith(BASE), f"unexpected curl argument {arg!r}"
                url = arg[len(BASE) :]
        assert url is not None
        response = self.client.request(
            method or ("POST" if data is not None else "GET"), url, headers=headers, content=data
        )
        self.statuses.append(response.status_code)
        self.last = response
        shown = "" if discard else response.text
        if write_out is not None:
            assert write_out == "%{http_code}\\n", write_out
            shown += f"{response.status_code}\n"
        return shown


def python(code: str, args: list[str], stdin: str | None) -> str:
    """`python3 -c CODE ARGS` with `stdin`, run in this process (from the repository root, as the README says)."""
    out = io.StringIO()
    argv, old_stdin = sys.argv, sys.stdin
    sys.argv, sys.stdin = ["-c", *args], io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.chdir(ROOT):
            exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    finally:
        sys.argv, sys.stdin = argv, old_stdin
    return out.getvalue()


@pytest.fixture
def demo_client(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[TestClient]:
    engine, _ = demo_copy(tmp_path_factory, tmp_path / "demo.sqlite3")
    yield TestClient(create_app(engine, clock=lambda: NOW, migrate_db=False))
    engine.dispose()


def test_the_session_is_in_the_readme() -> None:
    assert BLOCK is not None, f"no ```bash block starting with {MARKER!r} in the README"
    text = BLOCK.group(1)
    for login in (LOGINS.by_role("nurse"), LOGINS.by_role("physician"), LOGINS.by_role("pharmacist")):
        assert f'"username": "{login.username}", "password": "{login.password}"' in text
    assert f'p["mrn"] == "{README_REFILL_MRN}"' in text
    assert "make run" in README and "idds serve --demo" in README and "idds audit verify" in README


def test_the_role_matrix_in_the_readme_is_the_one_enforced() -> None:
    assert matrix_markdown() in README


def test_the_curl_session_replays(demo_client: TestClient) -> None:
    assert BLOCK is not None
    shell = Shell(demo_client)
    requests = 0
    for command in commands(BLOCK.group(1)):
        line, comment = split_comment(command)
        before = len(shell.statuses)
        printed = shell.run(line)
        if len(shell.statuses) == before:
            assert not comment, f"a comment on a line without a request: {command!r}"
            continue
        requests += 1
        assert len(shell.statuses) == before + 1, command
        m = re.fullmatch(r"(\d{3})(?:\s*→\s*(.*))?", comment)
        assert m, f"each request states its status (`# 200 → what it prints`): {command!r}"
        assert shell.statuses[-1] == int(m.group(1)), (command, shell.statuses[-1], printed)
        if re.match(r"[A-Za-z_]\w*=\$\(", line):
            continue  # a capture: what it prints goes into the variable
        assert m.group(2) is not None, f"say what the request prints (`# {m.group(1)} → …`): {command!r}"
        wanted = re.escape(m.group(2).strip()).replace("…", ".*")
        assert re.fullmatch(wanted, printed.strip(), flags=re.S), (command, printed)
    assert requests >= 12
    # what the session did is in the records: a new patient implanted, a refill checked, then filled and reconciled
    token = shell.env["NURSE"]
    headers = {"Authorization": f"Bearer {token}"}
    patient: dict[str, Any] = demo_client.get(f"/api/v1/patients/{shell.env['P']}", headers=headers).json()
    assert patient["mrn"] == "A-1001" and patient["stage"] == "implanted"
    refills = demo_client.get(f"/api/v1/patients/{shell.env['P2']}/refills", headers=headers).json()
    last = refills[-1]
    assert last["id"] == int(shell.env["R"]) and last["reconciliation"] == "within-band"
    assert last["status"] == "completed" and last["checked_by"] not in (None, last["prepared_by"])
    assert last["checked_at"] <= last["at"]  # the check came before the fill (the replay's clock stands still)
