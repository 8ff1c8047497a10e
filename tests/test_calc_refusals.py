"""Issue 13: the programmer calculations refuse what the pump or the program file would refuse, and say what to do
when no bridge bolus can keep the new dose. Expected values are worked by hand in the comments."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from tests.cli_helpers import assert_bad_input, assert_no_crash, example, q, run, run_json

BRIDGE = ["calc", "bridge", "--catheter", "intrathecal-one-piece", "--length", "50 cm"]


# --- 1. the same drug twice ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["calc", "rate", "--dose", "1 mg/day", "--drug", "morphine=10 mg/mL", "--drug", "morphine=20 mg/mL"],
        ["calc", "dose", "--rate", "0.1 mL/day", "--drug", "morphine=10 mg/mL", "--drug", "morphine=20 mg/mL"],
    ],
)
def test_a_drug_listed_twice_is_refused_by_rate_and_dose(args: list[str]) -> None:
    assert_bad_input(run(*args), "--drug[1]", "morphine is listed twice")


def test_a_drug_listed_twice_is_refused_by_the_bridge() -> None:
    args = [*BRIDGE, "--pump", "programmable-20", "--new-rate", "0.2 mL/day"]
    old_twice = ["--old", "baclofen=500 mcg/mL", "--old", "baclofen=2000 mcg/mL", "--new", "baclofen=1000 mcg/mL"]
    assert_bad_input(run(*args, *old_twice), "--old[1]", "baclofen is listed twice")
    new_twice = ["--old", "baclofen=500 mcg/mL", "--new", "baclofen=1000 mcg/mL", "--new", "baclofen=2000 mcg/mL"]
    assert_bad_input(run(*args, *new_twice), "--new[1]", "baclofen is listed twice")


# --- 2. a bridge rate the pump cannot run ----------------------------------------------------------------------------
ZICONOTIDE = [
    *BRIDGE,
    "--pump",
    "programmable-20",
    "--old",
    "ziconotide=100 mcg/mL",
    "--new",
    "ziconotide=25 mcg/mL",
    "--new-dose",
    "2.4 mcg/day",
]


def test_a_bridge_below_the_pumps_minimum_runs_at_the_minimum_and_says_what_to_do() -> None:
    # Pathway 0.2 mL + 50 cm × 0.0022 mL/cm = 0.31 mL. New rate 2.4 ÷ 25 = 0.096 mL/day; the bridge that keeps
    # 2.4 mcg/day with 100 mcg/mL would run 2.4 ÷ 100 = 0.024 mL/day, below the 0.048 mL/day minimum. At the
    # minimum: 0.048 × 100 = 4.8 mcg/day (2× the new dose) for 0.31 ÷ 0.048 = 6.4583 days = 155 h. Without a bridge
    # the new rate pushes 0.096 × 100 = 9.6 mcg/day (4× the new dose) for 0.31 ÷ 0.096 days = 77.5 h. Exit 1.
    doc = run_json(*ZICONOTIDE, code=1)
    assert doc["volume"] == q(0.31, "mL")
    assert doc["wanted_rate"] == q(0.024, "mL/day")
    assert doc["rate"] == q(0.048, "mL/day")
    assert doc["workable"] is False
    assert doc["duration"] == q(float(F("0.31") / F("0.048") * 24), "h")
    assert doc["old_daily_dose"] == {"ziconotide": q(4.8, "mcg/day")}
    advice = doc["advice"]
    assert "below the programmable-20 pump's minimum 0.048 mL/day" in advice
    assert "ziconotide 9.6 mcg/day (4× the new dose) for 77.5 h" in advice
    assert "aspirate the old solution from the catheter access port" in advice
    assert "run the bridge at 0.048 mL/day: ziconotide 4.8 mcg/day (2× the new dose) for 155 h" in advice
    text = run(*ZICONOTIDE)
    assert_no_crash(text)
    assert text.exit_code == 1 and "aspirate" in text.stdout and "0.024 mL/day" in text.stdout


def test_a_bridge_the_pump_can_run_is_unchanged() -> None:
    # Baclofen 500 → 1000 mcg/mL at 240 mcg/day: bridge 240 ÷ 500 = 0.48 mL/day for 0.31 ÷ 0.48 day = 15.5 h.
    doc = run_json(
        *BRIDGE,
        "--pump",
        "programmable-20",
        "--old",
        "baclofen=500 mcg/mL",
        "--new",
        "baclofen=1000 mcg/mL",
        "--new-dose",
        "240 mcg/day",
    )
    assert (doc["rate"], doc["wanted_rate"], doc["workable"], doc["advice"]) == (
        q(0.48, "mL/day"),
        q(0.48, "mL/day"),
        True,
        None,
    )
    assert doc["duration"] == q(15.5, "h")


# --- 3. a bridge on a constant-flow pump ------------------------------------------------------------------------------
def test_a_constant_flow_pump_flushes_at_its_fixed_rate_and_shows_the_dose() -> None:
    # Baclofen 500 → 1000 mcg/mL for 500 mcg/day in a pump fixed at 0.5 mL/day. Keeping the new dose with the old
    # solution would need 500 ÷ 500 = 1.0 mL/day; the pump runs only 0.5 mL/day, so the old solution gives
    # 0.5 × 500 = 250 mcg/day (0.5× the new dose) for 0.31 ÷ 0.5 = 0.62 day = 14.88 h, then 500 mcg/day. Not an
    # error: there is no other rate (exit 0), and it says so.
    doc = run_json(
        *BRIDGE,
        "--pump",
        "constant-flow-30-0.5",
        "--old",
        "baclofen=500 mcg/mL",
        "--new",
        "baclofen=1000 mcg/mL",
        "--new-dose",
        "500 mcg/day",
    )
    assert doc["rate"] == q(0.5, "mL/day") and doc["wanted_rate"] == q(1.0, "mL/day")
    assert doc["workable"] is False
    assert doc["old_daily_dose"] == {"baclofen": q(250.0, "mcg/day")}
    assert doc["duration"] == q(14.88, "h")
    assert doc["advice"] == (
        "the constant-flow-30-0.5 pump runs only at its fixed 0.5 mL/day: it cannot run the bridge rate 1 mL/day; "
        "the old solution runs out at that rate: baclofen 250 mcg/day (0.5× the new dose) for 14.88 h, then the new "
        "solution gives 500 mcg/day"
    )


# --- 4. an impossible withdrawn volume ------------------------------------------------------------------------------
def test_a_withdrawn_volume_above_the_reservoir_is_refused() -> None:
    # The baclofen example fills a 20 mL programmable pump: 21 mL cannot come out of it.
    program = example("baclofen-spinal-continuous.toml")
    args = ["calc", "residual", program, "--at", "2027-02-15T10:00"]
    line = assert_bad_input(run(*args, "--withdrawn", "21 mL"), "--withdrawn")
    assert "the withdrawn volume 21 mL is more than the programmable-20 reservoir can hold (20 mL)" in line
    # 20 mL is possible (though far more than expected): reconciled, not refused.
    doc = run_json(*args, "--withdrawn", "20 mL")
    assert doc["reconciliation"]["status"] == "more-than-expected"
