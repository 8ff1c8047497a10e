"""Helpers for the CLI tests (tests/test_cli.py, tests/test_bad_input.py).

Nothing here computes an expected value: these only run the CLI, write modified copies of the example files into a
test's tmp_path, and check the shape of what came back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from openidds.cli.app import app

EXAMPLES = Path(str(resources.files("openidds.examples")))
DATA = Path(str(resources.files("openidds.data")))
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# The environment every in-process run gets: a wide terminal so tables never truncate a name ("pain-noncanc…"),
# and no $IDDS_DRUG_LIBRARY / $IDDS_DEVICE_CATALOG leaking in from the shell running the tests.
WIDE = {"COLUMNS": "250", "LINES": "50", "IDDS_DRUG_LIBRARY": None, "IDDS_DEVICE_CATALOG": None}
# Bad input runs get a *narrow* terminal: the error must stay one line whatever the width.
NARROW = {**WIDE, "COLUMNS": "40"}


def example(name: str) -> Path:
    path = EXAMPLES / name
    assert path.is_file(), f"missing example {path}"
    return path


def run(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    """Invoke `idds ARGS...` in-process. click ≥ 8.2 (vendored by typer) keeps result.stderr separate."""
    runner = CliRunner(env=env or WIDE)
    return runner.invoke(app, [str(a) for a in args])


def crashed(result: Result) -> BaseException | None:
    """The uncaught exception, if the command crashed. CliRunner turns a crash into exit code 1, so
    checking the exit code alone cannot tell a hard finding from a traceback."""
    exc = result.exception
    if exc is None or isinstance(exc, SystemExit):
        return None
    return exc


def assert_no_crash(result: Result) -> None:
    exc = crashed(result)
    assert exc is None, f"crashed with {exc!r}\nstderr: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def run_json(*args: str | Path, code: int = 0, env: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Run with --json appended; assert the exit code, nothing on stderr, and a JSON document on stdout."""
    result = run(*args, "--json", env=env)
    assert_no_crash(result)
    assert result.exit_code == code, f"exit {result.exit_code}, stderr: {result.stderr!r}"
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def error_line(result: Result) -> str:
    """The single stderr line of a bad-input run (asserts everything the contract says about it)."""
    assert_no_crash(result)
    assert result.exit_code == 2, f"exit {result.exit_code}; stdout {result.stdout!r}; stderr {result.stderr!r}"
    assert result.stdout == "", f"stdout should stay empty, got {result.stdout!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {result.stderr!r}"
    assert result.stderr.endswith("\n")
    line = lines[0]
    assert line.startswith("error: "), line
    return line


def assert_bad_input(result: Result, field: str, *also: str) -> str:
    """Exit 2, one stderr line that names `field` (and mentions each of `also`), empty stdout, no traceback."""
    line = error_line(result)
    assert field in line, f"field {field!r} not named in {line!r}"
    for text in also:
        assert text in line, f"{text!r} not in {line!r}"
    return line


def write_variant(
    tmp_path: Path,
    replacements: list[tuple[str, str]],
    base: str = "morphine-clonidine-flex.toml",
    name: str = "prog.toml",
) -> Path:
    """A copy of an example with each `old` text replaced by `new`; each `old` must occur exactly once, so a
    test never silently runs the unmodified file after the example changes."""
    text = example(base).read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {base}"
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def q(value: float, unit: str) -> dict[str, Any]:
    """A quantity as the JSON shows it."""
    return {"value": value, "unit": unit}


def idds_script() -> str | None:
    """The installed console script (`.venv/bin/idds`), next to the interpreter running the tests."""
    return shutil.which("idds", path=str(Path(sys.executable).parent)) or shutil.which("idds")


def run_script(*args: str | Path, columns: str = "80", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real console script in a child process (no CliRunner in between)."""
    script = idds_script()
    assert script is not None, "the idds console script is not installed"
    env = {k: v for k, v in os.environ.items() if k not in ("IDDS_DRUG_LIBRARY", "IDDS_DEVICE_CATALOG")}
    env["COLUMNS"] = columns
    return subprocess.run(
        [script, *(str(a) for a in args)], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


# `idds calc bridge` for a morphine 10 → 20 mg/mL change on a programmable-40 pump with a 60 cm catheter.
BRIDGE_SWAP = [
    "bridge",
    "--pump",
    "programmable-40",
    "--catheter",
    "intrathecal-one-piece",
    "--length",
    "60 cm",
    "--old",
    "morphine=10 mg/mL",
    "--new",
    "morphine=20 mg/mL",
]
