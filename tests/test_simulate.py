"""Scenarios through the twin: hand-worked timelines, determinism, bad input and the plot."""

import json
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openidds.cli.app import app
from openidds.data import load_catalog, load_library
from openidds.errors import InputError
from openidds.programs.clock import DAY_US, to_us
from openidds.twin.scenario import parse_scenario
from openidds.twin.simulate import simulate

SCENARIOS = Path(__file__).resolve().parent.parent / "examples" / "scenarios"
F = Fraction


def run(name: str):
    return simulate(parse_scenario((SCENARIOS / name).read_bytes(), load_library(), load_catalog()))


def z(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


def test_missed_baclofen_refill():
    # 0.4 mL/day from 2026-11-21 15:00Z, 20 mL, alarm 4 mL: alarm on day 40, empty on day 50, then nothing.
    result = run("baclofen-missed-refill.toml")
    start = z(2026, 11, 21, 15)
    assert {a.name: a.raised_at for a in result.twin.alarms} == {
        "low-reservoir": start + 40 * DAY_US,
        "empty-reservoir": start + 50 * DAY_US,
    }
    assert [v for _, v in result.report] == [4, 0, 0]
    assert result.twin.patient["baclofen"] == 20 * 500


def test_over_infusion_caught():
    result = run("over-infusion-caught.toml")
    refill = next(e for e in result.twin.log if e["event"] == "refill")
    # Expected 40 − 50 × 0.5 = 15 mL; the pump ran at 0.6 mL/day: 40 − 30 = 10 mL came back.
    assert (refill["withdrawn_ml"], refill["discrepancy_ml"], refill["reconciliation"]) == (
        10,
        -5,
        "less-than-expected",
    )


def test_morphine_flex_with_remote_use():
    a, b = run("morphine-flex-remote.toml"), run("morphine-flex-remote.toml")
    assert a.as_json() == b.as_json()  # seeded remote use: identical runs
    accepted = [d.at for d in a.twin.decisions if d.accepted]
    denied = [d for d in a.twin.decisions if not d.accepted]
    assert accepted and denied  # ~2.5 requests a day against a 4 h lockout: some are refused, with a reason
    assert all(d.reason.startswith(("lockout", "daily maximum")) for d in denied)
    # Reservoir just before the first refill (60 days of 0.525 mL/day, no DST change) less the boluses given.
    first_refill = z(2027, 1, 20, 15)
    given = sum(1 for t in accepted if t < first_refill)
    assert a.report[0] == (first_refill, 40 - 60 * F("0.525") - given * F("0.02"))


def write(tmp_path: Path, extra: str, base: str = "over-infusion-caught.toml") -> Path:
    text = (SCENARIOS / base).read_text().split("[[events]]")[0] + extra
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('[[events]]\ntype = "teleport"\nat = "2026-12-01T09:00"\n', "events[0].type"),
        ('[[events]]\ntype = "refill"\nat = "2026-12-01T09:00"\nvolume = "45 mL"\n', "events[0].volume"),
        ('[[events]]\ntype = "refill"\nat = "2026-12-01T09:00"\nvolume = "5 mg"\n', "events[0].volume"),
        ('[[events]]\ntype = "remote"\nat = "2026-12-01T09:00"\n', "events[0]"),
        ('[[events]]\ntype = "mri"\nat = "2026-12-01T09:00"\n', "events[0].duration"),
        (
            '[[events]]\ntype = "interrogation"\nat = "2026-12-02T09:00"\n'
            '[[events]]\ntype = "interrogation"\nat = "2026-12-01T09:00"\n',
            "events[1].at",
        ),
        ('[[events]]\ntype = "accuracy"\nat = "2026-12-01T09:00"\nfactor = -1\n', "events[0].factor"),
        ('[[events]]\ntype = "refill"\nat = "2028-12-01T09:00"\nvolume = "5 mL"\n', "events[0].at"),
        ("[remote_use]\nrequests_per_day = 3\n", "remote_use"),
        (
            '[[events]]\ntype = "bolus"\nat = "2026-12-01T09:00"\nvolume = "50 mL"\nduration = "1 h"\n',
            "events[0].volume",
        ),
        ('[[events]]\ntype = "bolus"\nat = "2026-12-01T09:00"\nvolume = "0.1 mL"\n', "events[0].duration"),
        (
            '[[events]]\ntype = "bolus"\nat = "2026-12-01T09:00"\nvolume = "1 mg"\nduration = "1 h"\n',
            "events[0].volume",
        ),
        (
            '[[events]]\ntype = "program"\nat = "2026-12-01T09:00"\nbridge = "yes"\n'
            'program = { mode = "continuous", rate = "0.5 mL/day" }\n',
            "events[0].bridge",
        ),
    ],
)
def test_bad_scenarios_name_the_event_and_field(tmp_path, extra, field):
    result = CliRunner().invoke(app, ["simulate", str(write(tmp_path, extra))])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{field}" in lines[0] and "Traceback" not in result.output, result.stderr


def test_json_and_plot(tmp_path):
    png = tmp_path / "run.png"
    result = CliRunner().invoke(
        app, ["simulate", str(SCENARIOS / "baclofen-missed-refill.toml"), "--json", "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {a["alarm"] for a in doc["alarms"]} == {"low-reservoir", "empty-reservoir"}
    assert doc["totals"]["patient"]["baclofen"] == {"value": 10000.0, "unit": "mcg"}
    assert doc["drug_library"]["sha256"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(app, ["simulate", str(SCENARIOS / "baclofen-missed-refill.toml"), "--plot", "x.gif"])
    assert bad.exit_code == 2 and "--plot" in bad.stderr


def test_parse_refuses_a_scenario_that_starts_elsewhere(tmp_path):
    text = (
        (SCENARIOS / "baclofen-missed-refill.toml")
        .read_text()
        .replace("[simulation]\n", '[simulation]\nstart = "2026-11-22T09:00"\n')
    )
    with pytest.raises(InputError, match=r"simulation\.start"):
        parse_scenario(text, load_library(), load_catalog())
