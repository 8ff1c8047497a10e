"""The MRI example scenarios (one per pump family), each timeline worked by hand; every scenario runs from the CLI.

Expected values are written out from the programmed rates with exact Fractions: days delivering × mL/day. Times
are UTC; the files are in America/Chicago, CST = UTC − 6 h throughout (no clock change in these runs).
"""

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from openidds.data import load_catalog, load_library
from openidds.twin.scenario import parse_scenario
from openidds.twin.simulate import SimulationResult, simulate
from tests.cli_helpers import assert_no_crash, run

SCENARIOS = Path(__file__).resolve().parent.parent / "examples" / "scenarios"
F = Fraction
H = F(1, 24)  # an hour, in days


def z(*args: int) -> int:
    """UTC instant in microseconds, worked out here rather than by the package's clock."""
    return (datetime(*args, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def result(name: str) -> SimulationResult:
    return simulate(parse_scenario((SCENARIOS / name).read_bytes(), load_library(), load_catalog()))


def entries(res: SimulationResult, event: str) -> list[dict[str, Any]]:
    return [e for e in res.twin.log if e["event"] == event]


def alarm_times(res: SimulationResult) -> list[tuple[str, int, int | None]]:
    return [(a.name, a.raised_at, a.cleared_at) for a in res.twin.alarms]


# --- programmable (peristaltic): baclofen 200 mcg/day at 500 mcg/mL = 0.4 mL/day, 20 mL, alarm at 4 mL ------------
# Filled 2026-11-21 15:00Z. Scan 1: 12-01 16:00Z, 1 h + 2 h recovery: stopped until 19:00Z (3 h). The 4 mL alarm
# needs 16 mL = 40 days of delivery: 40 d + 3 h after the fill = 12-31 18:00Z. Scan 2: 2027-01-04 16:00Z with the
# alarm on: stopped until the interrogation at 22:00Z (6 h). Refill 01-05 15:00Z (45 days after the fill).
BACLOFEN_ML_DAY = F("0.4")
FILL_20 = z(2026, 11, 21, 15)


def baclofen_left(days_delivering: Fraction) -> Fraction:
    return 20 - BACLOFEN_ML_DAY * days_delivering


def test_mri_programmable_timeline():
    res = result("mri-programmable.toml")
    assert [(e["at"], e["effect"]) for e in entries(res, "mri")] == [
        (z(2026, 12, 1, 16), "stopped during exposure"),
        (z(2027, 1, 4, 16), "stopped during exposure, latched until interrogated"),
    ]
    # Scan 1 restarts by itself after exposure + recovery.
    assert (z(2026, 12, 1, 19), "MRI exposure over") in [(e["at"], e["reason"]) for e in entries(res, "resumed")]
    # 44 d 1 h after the fill, less the 3 h of scan 1; nothing more until the interrogation.
    at_scan_2 = baclofen_left(44 + H - 3 * H)
    assert [(e["at"], e["resumed"], e["alarms"], e["reservoir_ml"]) for e in entries(res, "interrogation")] == [
        (z(2027, 1, 4, 22), True, ["low-reservoir"], at_scan_2)
    ]
    assert alarm_times(res) == [("low-reservoir", z(2026, 12, 31, 18), z(2027, 1, 5, 15))]
    assert res.report == (
        (z(2026, 12, 1, 16), baclofen_left(10 + H)),  # scan 1 starts
        (z(2026, 12, 1, 19), baclofen_left(10 + H)),  # 3 h stopped: unchanged
        (z(2026, 12, 2, 16), baclofen_left(11 + H - 3 * H)),
        (z(2027, 1, 4, 16), at_scan_2),
        (z(2027, 1, 4, 22), at_scan_2),  # 6 h latched: unchanged
        (z(2027, 1, 5, 15), baclofen_left(45 - 3 * H - 6 * H)),  # 2.15 mL
    )
    # The clinic expects 20 − 45 × 0.4 = 2 mL back; 2.15 mL come back: the 9 h of missed delivery.
    (refill,) = entries(res, "refill")
    assert (refill["at"], refill["withdrawn_ml"], refill["discrepancy_ml"], refill["reconciliation"]) == (
        z(2027, 1, 5, 15),
        F("2.15"),
        F("0.15"),
        "within-band",
    )
    # Refilled to 20 mL, then 5 days at 0.4 mL/day; over the 50 days 9 h were missed: 75 mcg of baclofen.
    assert res.twin.reservoir == 20 - BACLOFEN_ML_DAY * 5
    assert res.twin.patient["baclofen"] == 500 * BACLOFEN_ML_DAY * (50 - 9 * H) == 10_000 - 75


def test_mri_programmable_latched_pump_is_not_logged_as_resumed():
    res = result("mri-programmable.toml")
    assert [e["at"] for e in entries(res, "resumed")] == [z(2026, 12, 1, 19)]
    assert [(e["at"], e["reason"]) for e in entries(res, "still-stopped")] == [
        (z(2027, 1, 4, 19), "MRI exposure over, but it stays stopped until interrogated")
    ]


# --- valve-gated: morphine 0.5 mL/day, 40 mL -----------------------------------------------------------------------
# Scan 2026-12-01 16:00Z (10 d 1 h after the fill): the valve shuts until the interrogation 12-02 15:00Z (23 h).
MORPHINE_ML_DAY = F("0.5")


def test_mri_valve_gated_timeline():
    res = result("mri-valve-gated.toml")
    assert [(e["at"], e["effect"]) for e in entries(res, "mri")] == [
        (z(2026, 12, 1, 16), "valve closed until the pump is interrogated and reset")
    ]
    assert entries(res, "resumed") == []  # nothing restarts by itself
    at_scan = 40 - MORPHINE_ML_DAY * (10 + H)
    assert [(e["at"], e["resumed"], e["alarms"], e["reservoir_ml"]) for e in entries(res, "interrogation")] == [
        (z(2026, 12, 2, 15), True, [], at_scan)
    ]
    assert alarm_times(res) == []
    assert res.report == (
        (z(2026, 12, 1, 16), at_scan),
        (z(2026, 12, 1, 19), at_scan),  # the scan is over, the valve still shut
        (z(2026, 12, 2, 15), at_scan),  # 23 h shut
        (z(2026, 12, 3, 15), 40 - MORPHINE_ML_DAY * (12 - 23 * H)),
    )
    # 20 days, 23 h of them shut: 10 mg/mL × 0.5 × 23/24 = 4.79 mg of morphine missed.
    assert res.twin.reservoir == 40 - MORPHINE_ML_DAY * (20 - 23 * H)
    assert res.twin.patient["morphine"] == 10 * MORPHINE_ML_DAY * (20 - 23 * H)


# --- constant-flow: fixed 0.5 mL/day, 30 mL; the scan changes nothing -----------------------------------------------
def test_mri_constant_flow_timeline():
    res = result("mri-constant-flow.toml")
    assert [(e["at"], e["effect"]) for e in entries(res, "mri")] == [(z(2026, 12, 1, 16), "none")]
    assert entries(res, "resumed") == [] and entries(res, "interrogation") == []
    assert alarm_times(res) == []  # the pump has no alarms
    assert res.report == (
        (z(2026, 12, 1, 16), 30 - MORPHINE_ML_DAY * (10 + H)),
        (z(2026, 12, 1, 19), 30 - MORPHINE_ML_DAY * (10 + 4 * H)),  # kept flowing through the scan
        (z(2026, 12, 2, 16), 30 - MORPHINE_ML_DAY * (11 + H)),
    )
    assert res.twin.reservoir == 30 - MORPHINE_ML_DAY * 20 == 20
    assert res.twin.patient["morphine"] == 100


# --- concentration change with a bridge bolus: baclofen 500 → 1000 mcg/mL, 200 → 240 mcg/day at the day-35 refill ----
# Pathway 0.2 mL pump + 60 cm × 0.0022 mL/cm = 0.332 mL of the old solution. The bridge gives the new 240 mcg/day
# with 500 mcg/mL: 0.48 mL/day, for 0.332 / 0.48 = 0.6916 day = 16.6 h = 16 h 36 min after the refill at
# 2026-12-26 15:00Z.
BRIDGE_ENDS = z(2026, 12, 27, 7, 36)


def test_bridge_bolus_timeline():
    res = result("concentration-change-bridge.toml")
    refill = entries(res, "refill")[0]
    # 35 days × 0.4 mL/day = 14 mL gone of 20: 6 mL withdrawn, as the clinic expected.
    assert (refill["at"], refill["withdrawn_ml"], refill["reconciliation"]) == (z(2026, 12, 26, 15), 6, "within-band")
    change = entries(res, "program-changed")[0]
    assert change["bridge_ml"] == F("0.332") and change["bridge_ends_at"] == "2026-12-27T07:36:00+00:00"
    assert change["bridge_rates_ml_per_day"] == [F("0.48")]
    assert [e["at"] for e in entries(res, "program-started")] == [BRIDGE_ENDS]
    assert res.report == (
        (z(2026, 12, 26, 15), 6),  # just before the refill at the same instant
        # 0.332 mL by 07:36Z, then 0.24 mL/day for 3 h 24 min (0.034 mL) to 11:00Z
        (z(2026, 12, 27, 11), 20 - F("0.332") - F("0.034")),
        # two days after the refill: the bridge, then 0.24 mL/day for 2 - 0.6916 days (0.314 mL)
        (z(2026, 12, 28, 15), 20 - F("0.332") - F("0.314")),
    )
    # 200 mcg/day for 35 days, then the new 240 mcg/day for the last 10 days, the bridge included.
    assert res.twin.patient["baclofen"] == 200 * 35 + 240 * 10
    day = {s.at: s.patient.get("baclofen", 0) for s in res.samples}
    assert day[z(2026, 12, 27, 15)] - day[z(2026, 12, 26, 15)] == 240  # the day of the change


def test_without_the_bridge_the_new_baclofen_dose_halves_for_a_day_and_a_half():
    text = (SCENARIOS / "concentration-change-bridge.toml").read_text().replace("bridge = true", "bridge = false")
    res = simulate(parse_scenario(text, load_library(), load_catalog()))
    day = {s.at: s.patient.get("baclofen", 0) for s in res.samples}
    # 0.24 mL/day of the old 500 mcg/mL for the first day: 120 mcg instead of 240.
    assert day[z(2026, 12, 27, 15)] - day[z(2026, 12, 26, 15)] == 120
    # Second day: 0.092 mL old (0.3833 d) then 0.148 mL new: 46 + 148 = 194 mcg.
    assert day[z(2026, 12, 28, 15)] - day[z(2026, 12, 27, 15)] == 194


# --- catheter faults: an occlusion, then a disconnection -------------------------------------------------------------
def test_an_occlusion_shows_at_the_refill_and_a_disconnection_does_not():
    res = result("catheter-faults.toml")
    first, second = entries(res, "refill")
    # Day 20: 10 days at 0.4 mL/day, then 10 days occluded: 16 mL back, 12 expected (± 15 % of 8 mL = ± 1.2).
    assert (first["withdrawn_ml"], first["reconciliation"]) == (16, "more-than-expected")
    assert "a catheter occlusion: nothing left the pump while it ran" in first["likely_causes"]
    # Day 40: disconnected since day 30, the pump kept emptying: 12 mL back, as expected.
    assert (second["withdrawn_ml"], second["reconciliation"]) == (12, "within-band")
    assert res.report == ((z(2026, 12, 11, 15), 16), (z(2026, 12, 31, 15), 12))
    # To the patient: days 0-10, 20-30 and 40-45 at 200 mcg/day; nothing while occluded or disconnected.
    assert res.twin.patient["baclofen"] == 200 * (10 + 10 + 5)
    # Out of the catheter tip: everything but the occluded days (disconnected, it leaves into the tissue).
    assert res.twin.outlet["baclofen"] == 200 * (10 + 10 + 10 + 5)


# --- every scenario from the command line, text and picture ---------------------------------------------------------
ALL = sorted(p.name for p in SCENARIOS.glob("*.toml"))


def test_the_mri_scenarios_are_shipped():
    assert {"mri-programmable.toml", "mri-valve-gated.toml", "mri-constant-flow.toml"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_every_scenario_simulates_and_plots(tmp_path, name):
    text = run("simulate", SCENARIOS / name)
    assert_no_crash(text)
    assert text.exit_code == 0, text.stderr
    png = tmp_path / "out.png"
    pic = run("simulate", SCENARIOS / name, "--plot", png)
    assert_no_crash(pic)
    assert pic.exit_code == 0, pic.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
