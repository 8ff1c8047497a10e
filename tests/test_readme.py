"""The README's CLI tour works as written: every `$ idds …` line runs with the exit status it states."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openidds.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOUR = [line[2:] for line in README.splitlines() if line.startswith("$ idds ")]


def test_the_tour_is_there():
    assert len(TOUR) >= 15
    assert "make run" in README and "make test" in README
    assert "Not a certified medical device" in README


@pytest.mark.parametrize("line", TOUR)
def test_tour_command(line, monkeypatch):
    monkeypatch.chdir(ROOT)
    expected = int(m.group(1)) if (m := re.search(r"#\s*exits (\d)", line)) else 0
    args = shlex.split(line, comments=True)[1:]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == expected, (line, result.output)
    if expected != 2:
        assert result.output.strip()


PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_python_examples_run(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert PYTHON_BLOCKS
    for block in PYTHON_BLOCKS:
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "dose given" in printed and "running" in printed
