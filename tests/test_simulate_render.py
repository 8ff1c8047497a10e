"""How `idds simulate` shows a run: the text tables (report instants, rounded volumes), the picture (PNG and SVG for
every example, readable for a year of remote use) and the spans and markers derived from the twin's log.

Expected values are worked by hand from the programmed rates (see tests/test_twin_examples.py for the timelines).
Times are UTC; the example files are in America/Chicago, CST = UTC − 6 h in these runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from openidds.cli.timeline import (
    Marker,
    Span,
    catheter_spans,
    daily_doses,
    duration,
    markers,
    num,
    programs_in_force,
    stop_spans,
)
from openidds.data import load_catalog, load_library
from openidds.twin.events import ProgramChange
from openidds.twin.scenario import parse_scenario
from openidds.twin.simulate import SimulationResult, simulate
from tests.cli_helpers import assert_no_crash, run

SCENARIOS = Path(__file__).resolve().parent.parent / "examples" / "scenarios"
ALL = sorted(p.name for p in SCENARIOS.glob("*.toml"))
F = Fraction
H = 3_600_000_000  # an hour in µs
DAY = 24 * H


def z(*args: int) -> int:
    """UTC instant in microseconds, worked out here rather than by the package's clock."""
    return (datetime(*args, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def result_of(text: str | bytes) -> SimulationResult:
    return simulate(parse_scenario(text, load_library(), load_catalog()))


def result(name: str) -> SimulationResult:
    return result_of((SCENARIOS / name).read_bytes())


def section(text: str, title: str) -> list[str]:
    """The body rows of the rich table titled `title` in the CLI's text output."""
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.strip() == title))
    rows: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            rows.append(line)
    return rows


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip("│").split("│")]


# --- text -----------------------------------------------------------------------------------------------------------
def test_text_has_the_reservoir_at_each_report_instant():
    # mri-programmable (see test_twin_examples): 0.4 mL/day from 20 mL, stopped 3 h at scan 1 and 6 h at scan 2.
    #   12-01 10:00 CST, 10 d 1 h after the fill:          20 − 0.4 × (10 + 1/24)      = 15.98333 → 15.983
    #   12-01 13:00, stopped through the scan:               unchanged                  = 15.983
    #   12-02 10:00, 11 d 1 h less the 3 h stop:            20 − 0.4 × (11 + 1/24 − 3/24) = 15.63333 → 15.633
    #   01-04 10:00, 44 d 1 h less 3 h:                     20 − 0.4 × (44 − 2/24)   = 2.43333 → 2.433
    #   01-04 16:00, latched since the scan:                 unchanged                  = 2.433
    #   01-05 09:00, 45 d less 9 h (just before the refill): 20 − 0.4 × (45 − 9/24)   = 2.15
    out = run("simulate", SCENARIOS / "mri-programmable.toml")
    assert_no_crash(out)
    assert out.exit_code == 0, out.stderr
    rows = [cells(r) for r in section(out.stdout, "Reservoir at the report instants")]
    # Shown to 0.1 mL, half up (15.983 → 16, 15.633 → 15.6, 2.433 → 2.4, 2.15 → 2.2), on the scenario's wall clock
    # alone (no UTC beside it).
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1 Dec 2026 10:00 CST", "16 mL", ""),
        ("1 Dec 2026 13:00 CST", "16 mL", ""),
        ("2 Dec 2026 10:00 CST", "15.6 mL", ""),
        ("4 Jan 2027 10:00 CST", "2.4 mL", ""),
        ("4 Jan 2027 16:00 CST", "2.4 mL", ""),
        ("5 Jan 2027 09:00 CST", "2.2 mL", "before the refill"),
    ]


def test_text_shows_where_the_pump_did_not_deliver():
    out = run("simulate", SCENARIOS / "mri-valve-gated.toml")
    (row,) = [cells(r) for r in section(out.stdout, "Not delivering to the patient")]
    assert row[0] == "1 Dec 2026 10:00 CST" and row[1] == "2 Dec 2026 09:00 CST"
    assert row[2:] == ["23 h", "MRI: valve closed until reset"]


LONG_DECIMAL = re.compile(r"\d\.\d{4,}")


@pytest.mark.parametrize("name", ALL)
def test_text_rounds_volumes_and_json_keeps_full_floats(name):
    out = run("simulate", SCENARIOS / name)
    assert_no_crash(out)
    assert out.exit_code == 0, out.stderr
    assert " mL" in out.stdout  # volumes are shown, so the check below has something to check
    assert not LONG_DECIMAL.search(out.stdout), LONG_DECIMAL.findall(out.stdout)[:5]


def test_rounded_volumes_in_the_timeline():
    text = run("simulate", SCENARIOS / "mri-programmable.toml").stdout
    timeline = [cells(r) for r in section(text, "Timeline")]
    interrogation = next(r for r in timeline if r[1] == "interrogation")
    assert "reservoir: 2.4 mL" in interrogation[2] and "resumed: yes" in interrogation[2]  # 2.433 to 0.1 mL
    refill = next(r for r in timeline if r[1] == "refill")
    assert "withdrawn: 2.2 mL" in refill[2] and "discrepancy: 0.2 mL" in refill[2]  # 2.15 and 0.15, half up
    assert "reservoir: 20 mL" in timeline[0][2]  # 20.0 prints as 20
    doc = json.loads(run("simulate", SCENARIOS / "mri-programmable.toml", "--json").stdout)
    (entry,) = [e for e in doc["timeline"] if e["event"] == "interrogation"]
    assert entry["reservoir_ml"] == float(20 - F(2, 5) * (44 - F(2, 24)))  # 2.433333333333333


def test_num_and_duration():
    assert [num(v) for v in (F(73, 30), 20.0, F(3, 20), F(-1, 10_000), F(-5), 0.0005, 19573.7125)] == [
        "2.433",
        "20",
        "0.15",
        "0",
        "-5",
        "0.001",
        "19573.713",
    ]
    assert [duration(us) for us in (30 * 60_000_000, 3 * H, 23 * H, 47 * H, 10 * DAY + 4 * H)] == [
        "30 min",
        "3 h",
        "23 h",
        "47 h",
        "10.2 days",
    ]


# --- spans and markers from hand-written logs ------------------------------------------------------------------------
def log(*entries: tuple[int, str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"at": at, "event": event, **fields} for at, event, fields in entries]


END = 100 * H


def test_mri_stop_that_restarts_by_itself():
    entries = log(
        (10 * H, "mri", {"effect": "stopped during exposure"}), (13 * H, "resumed", {"reason": "MRI exposure over"})
    )
    assert stop_spans(entries, END) == [Span(10 * H, 13 * H, "MRI: motor stopped")]


@pytest.mark.parametrize("restart", ["resumed", "still-stopped"])
def test_mri_while_alarming_stays_stopped_until_the_interrogation(restart):
    # Either log wording for the end of the scan: the latch holds the pump until it is interrogated.
    entries = log(
        (5 * H, "alarm", {"alarm": "low-reservoir", "priority": "non-critical"}),
        (10 * H, "mri", {"effect": "stopped during exposure, latched until interrogated"}),
        (13 * H, restart, {"reason": "MRI exposure over"}),
        (16 * H, "interrogation", {"reservoir_ml": F(2), "resumed": True, "mode": "running", "alarms": []}),
    )
    assert stop_spans(entries, END) == [Span(10 * H, 16 * H, "MRI: stopped, latched until interrogation")]


def test_valve_closed_until_reset_and_constant_flow_unaffected():
    valve = log(
        (10 * H, "mri", {"effect": "valve closed until the pump is interrogated and reset"}),
        (33 * H, "interrogation", {"resumed": True}),
    )
    assert stop_spans(valve, END) == [Span(10 * H, 33 * H, "MRI: valve closed until reset")]
    assert stop_spans(log((10 * H, "mri", {"effect": "none"})), END) == []
    assert stop_spans(log((10 * H, "interrogation", {"resumed": False})), END) == []


def test_motor_stall_and_empty_reservoir():
    entries = log(
        (2 * H, "alarm", {"alarm": "motor-stall", "priority": "critical"}),
        (12 * H, "alarm-cleared", {"alarm": "motor-stall"}),
        (12 * H, "resumed", {"reason": "motor stall recovered"}),
        (20 * H, "alarm", {"alarm": "low-reservoir", "priority": "non-critical"}),
        (40 * H, "alarm", {"alarm": "empty-reservoir", "priority": "critical"}),
        (50 * H, "refill", {"filled_ml": F(20)}),
        (50 * H, "alarm-cleared", {"alarm": "empty-reservoir"}),
        (70 * H, "alarm", {"alarm": "motor-stall", "priority": "critical"}),  # never recovers
    )
    assert stop_spans(entries, END) == [
        Span(2 * H, 12 * H, "motor stall"),
        Span(40 * H, 50 * H, "reservoir empty"),
        Span(70 * H, END, "motor stall"),
    ]


def test_overlapping_causes_make_one_span_naming_each():
    entries = log(
        (10 * H, "alarm", {"alarm": "motor-stall", "priority": "critical"}),
        (12 * H, "mri", {"effect": "stopped during exposure"}),
        (14 * H, "still-stopped", {"reason": "motor stall recovered, but an MRI stop is still on"}),
        (14 * H, "alarm-cleared", {"alarm": "motor-stall"}),
        (15 * H, "resumed", {"reason": "MRI exposure over"}),
    )
    assert stop_spans(entries, END) == [Span(10 * H, 15 * H, "motor stall; MRI: motor stopped")]


def test_empty_to_the_end_and_end_of_service():
    assert stop_spans(log((40 * H, "alarm", {"alarm": "empty-reservoir"})), END) == [
        Span(40 * H, END, "reservoir empty")
    ]
    assert stop_spans(log((90 * H, "alarm", {"alarm": "end-of-service"})), END) == [Span(90 * H, END, "end of service")]
    assert stop_spans(log((90 * H, "alarm", {"alarm": "eri"})), END) == []  # a warning: still delivering


def test_catheter_spans():
    entries = log(
        (10 * H, "catheter-fault", {"kind": "occlusion"}),
        (30 * H, "catheter-repaired", {}),
        (60 * H, "catheter-fault", {"kind": "disconnection"}),
    )
    assert catheter_spans(entries, END) == [
        Span(10 * H, 30 * H, "catheter occlusion: drug not reaching the patient"),
        Span(60 * H, END, "catheter disconnection: drug not reaching the patient"),
    ]
    assert stop_spans(entries, END) == []  # the pump itself still delivers


def test_markers():
    entries = log(
        (1 * H, "start", {"reservoir_ml": F(40)}),
        (2 * H, "accuracy", {"factor": F(6, 5)}),
        (3 * H, "remote", {"accepted": True, "reason": "dose given"}),
        (4 * H, "mri", {"effect": "none"}),
        (5 * H, "interrogation", {"resumed": False}),
        (6 * H, "bolus", {"volume_ml": F(1, 10)}),
        (
            7 * H,
            "refill",
            {"filled_ml": 40, "withdrawn_ml": 10, "reconciliation": "less-than-expected", "discrepancy_ml": -5},
        ),
        (8 * H, "program-changed", {"bridge_ml": F(332, 1000)}),
        (9 * H, "program-started", {}),
        (10 * H, "program-refused", {"reasons": ["…"]}),
    )
    assert markers(entries) == [
        Marker(2 * H, "accuracy", "pump delivers ×1.2 of programmed"),
        Marker(4 * H, "mri", "MRI, no effect"),
        Marker(5 * H, "interrogation", "interrogated"),
        Marker(6 * H, "bolus", "bolus 0.1 mL"),
        Marker(7 * H, "refill", "refill 40 mL: 10 mL back, 5 mL less than expected"),
        Marker(8 * H, "program", "program changed (bridge bolus first)"),
        Marker(9 * H, "program", "bridge bolus done: new program runs"),
        Marker(10 * H, "refused", "program refused"),
    ]


def test_programs_in_force_skip_refused_and_start_bridged_ones_late():
    first = result("mri-valve-gated.toml").scenario.program
    a, b, c = (ProgramChange(t, first) for t in (10 * H, 20 * H, 30 * H))
    entries = log(
        (10 * H, "program-refused", {}),
        (20 * H, "program-changed", {"bridge_ml": F(1, 3)}),
        (25 * H, "program-started", {}),
        (30 * H, "program-changed", {}),
    )
    assert [t for t, _ in programs_in_force(0, first, [a, b, c], entries)] == [0, 25 * H, 30 * H]
    assert [t for t, _ in programs_in_force(0, first, [a, b], entries)] == [0]  # no pairing: the first program only


# --- daily doses ----------------------------------------------------------------------------------------------------
def test_daily_doses_on_a_24_h_grid_from_the_fill():
    # mri-valve-gated: 0.5 mL/day of 10 mg/mL = 5 mg/day; day 10 (12-01 15:00Z to 12-02 15:00Z) delivers 1 h only.
    res = result("mri-valve-gated.toml")
    edges, doses = daily_doses(res.samples, res.scenario.start, ["morphine"])
    assert edges == [z(2026, 11, 21, 15) + d * DAY for d in range(21)]  # the first day starts at the fill
    assert doses["morphine"] == [5] * 10 + [F(5, 24)] + [5] * 9


def test_report_instants_do_not_change_the_daily_doses():
    text = (SCENARIOS / "mri-programmable.toml").read_text()
    without = re.sub(r"report_at = \[.*?\]\n", "", text, flags=re.S)
    assert "report_at" not in without
    a, b = result_of(text), result_of(without)
    assert len(a.samples) > len(b.samples)
    assert daily_doses(a.samples, a.scenario.start, ["baclofen"]) == daily_doses(
        b.samples, b.scenario.start, ["baclofen"]
    )
    # 200 mcg/day, less 3 h on day 10 (25 mcg) and 6 h on day 44 (50 mcg).
    _, doses = daily_doses(a.samples, a.scenario.start, ["baclofen"])
    assert doses["baclofen"][10] == 175 and doses["baclofen"][44] == 150 and doses["baclofen"].count(200) == 48


# --- the picture ----------------------------------------------------------------------------------------------------
def texts(fig: Any) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


@pytest.mark.parametrize("name", ALL)
def test_every_example_plots_to_png_and_svg(tmp_path, name):
    from openidds.cli.plot import plot

    res = result(name)
    plot(res, tmp_path / "run.png")
    plot(res, tmp_path / "run.svg")
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "run.svg").read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg


def test_the_picture_names_the_pump_drug_period_spans_alarms_and_events():
    import matplotlib.pyplot as plt

    from openidds.cli.plot import figure

    fig = figure(result("mri-programmable.toml"))
    try:
        shown = texts(fig)
    finally:
        plt.close(fig)
    assert "Programmable pump, 20 mL (programmable-20): baclofen 500 mcg/mL" in shown
    assert any(t.startswith("2026-11-21 09:00 → 2027-01-10 09:00 America/Chicago (50 days)") for t in shown)
    for label in (
        "MRI: motor stopped, 3 h",
        "MRI: stopped, latched until interrogation, 6 h",
        "low-reservoir, 4.9 days",  # raised 12-31 18:00Z, cleared by the refill 01-05 15:00Z
        "interrogated, restarted",
        "refill 20 mL",
        "MRI",
        "baclofen\n(mcg/day)",
    ):
        assert label in shown, label
    assert any(t.startswith("Dose to the patient per day") for t in shown)


YEAR = """
[simulation]
end = "2027-11-21T09:00"

[remote_use]
requests_per_day = 4
seed = 11
""" + "".join(
    f'\n[[events]]\ntype = "refill"\nat = "{day}T09:00"\nvolume = "40 mL"\n'
    for day in ("2027-01-15", "2027-03-12", "2027-05-07", "2027-07-01", "2027-08-20", "2027-10-10")
)


def test_a_year_of_remote_use_stays_readable_and_quick(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from openidds.cli.plot import figure

    base = (SCENARIOS / "morphine-flex-remote.toml").read_text().split("[simulation]")[0]
    res = result_of(base + YEAR)
    assert len(res.twin.decisions) > 1_400
    began = time.perf_counter()
    fig = figure(res)
    try:
        fig.savefig(tmp_path / "year.png")
        artists = len(fig.findobj())
        rugs = [c for c in fig.findobj(LineCollection) if len(c.get_segments()) > 100]
    finally:
        plt.close(fig)
    assert time.perf_counter() - began < 10
    # One rug per outcome, not a line per request: the figure's artists do not grow with the requests.
    assert len(rugs) == 2 and sum(len(r.get_segments()) for r in rugs) == len(res.twin.decisions)
    assert artists < 600


def test_matplotlib_stays_lazy_and_on_agg():
    code = (
        "import sys, openidds.cli.app, openidds.cli.render, openidds.cli.timeline\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib loaded without a picture asked for'\n"
        "import matplotlib, openidds.cli.plot\n"
        "assert matplotlib.get_backend().lower() == 'agg'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
