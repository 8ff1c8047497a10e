"""Fleet studies: refill policies worked by hand, patients whose whole year is worked by hand, determinism, the
synthetic population's rules, and the `idds fleet` command.

Every expected number is worked out in the comments from the program's rate and volumes; none comes from the code
under test. Populations are small so the whole file stays fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction as F
from typing import Any

import numpy as np
import pytest

from openidds.data import load_catalog, load_library
from openidds.fleet import Patient, Planner, Scripted, Visit, parse_policy, run_fleet, simulate_patient
from openidds.fleet.population import (
    OVER_INFUSION_FACTOR,
    PUMP_IDS,
    REGIMENS,
    Population,
    all_template_keys,
    build_template,
    sample_population,
)
from openidds.programs.clock import DAY_US, HOUR_US, to_us
from openidds.programs.program import PumpProgram
from tests.cli_helpers import NARROW, assert_bad_input, run, run_json
from tests.programs import BACLOFEN, program

LIBRARY, CATALOG = load_library(), load_catalog()
BOLUS = {"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
FLEX = {
    "mode": "flex",
    "steps": [
        {"at": "00:00", "rate": "0.40 mL/day"},
        {"at": "07:00", "rate": "0.60 mL/day"},
        {"at": "22:00", "rate": "0.40 mL/day"},
    ],
}


def start_of(p: PumpProgram) -> int:
    return to_us(p.reservoir.filled_at)


def days(p: PumpProgram, policy: str) -> int:
    return parse_policy(policy).days_to_next_visit(Planner.for_program(p), start_of(p), p.reservoir.volume.to("mL"))


def constant_flow_baclofen() -> PumpProgram:
    # 500 mcg/mL at the pump's fixed 0.5 mL/day = 250 mcg/day; 30 mL, planned to a 4 mL level (the pump has no alarm).
    return program(
        BACLOFEN,
        pump={"model": "constant-flow-30-0.5"},
        reservoir__volume="30 mL",
        program={"mode": "continuous", "rate": "0.5 mL/day"},
    )


# --------------------------------------------------------------------------------------------------------------
# Policies: the visit each books after a fill
# --------------------------------------------------------------------------------------------------------------
def test_policies_book_by_the_worst_case():
    # 0.5 mL/day + 3 boluses of 0.02 mL = 0.56 mL/day worst case, 40 mL filled, 2 mL alarm.
    p = program(patient_bolus=BOLUS)
    assert days(p, "alarm-minus:7") == 67 - 7  # alarm after 38 / 0.56 = 67.86 days
    assert days(p, "alarm-minus:0") == 67
    assert days(p, "empty-minus:3") == 71 - 3  # empty after 40 / 0.56 = 71.43 days
    assert days(p, "fixed:30") == 30
    assert days(p, "fixed:90") == 71 - 1  # capped a whole day before the worst-case empty
    assert days(p, "alarm-minus:90") == 1  # never sooner than the next day


def test_policies_never_book_past_the_drug_stability():
    # 0.1 mL/day of morphine: the alarm is 380 days away, but morphine is stable 90 days in the pump.
    p = program(program__rate="0.1 mL/day")
    assert days(p, "alarm-minus:7") == 90
    assert days(p, "fixed:120") == 90


def test_alarm_minus_on_the_readme_flex_example():
    # README: filled 2026-11-21 09:00 CST, worst-case alarm 2027-01-25 08:05:27 CST: 64 whole days and 23 h later.
    assert days(program(program=FLEX, patient_bolus=BOLUS), "alarm-minus:7") == 64 - 7


def test_constant_flow_pump_plans_to_the_level_of_the_program():
    assert days(constant_flow_baclofen(), "alarm-minus:7") == 52 - 7  # (30 − 4) / 0.5 = 52 days


@pytest.mark.parametrize(
    "text,kind,n",
    [("alarm-minus:7", "alarm-minus", 7), (" fixed:90 ", "fixed", 90), ("empty-minus:0", "empty-minus", 0)],
)
def test_parse_policy(text: str, kind: str, n: int):
    policy = parse_policy(text)
    assert (policy.kind, policy.days, policy.name) == (kind, n, f"{kind}:{n}")


# --------------------------------------------------------------------------------------------------------------
# One patient, a whole year worked by hand
# --------------------------------------------------------------------------------------------------------------
def test_missed_refill_of_a_constant_flow_baclofen_patient():
    # Visits every 52 − 7 = 45 days. The first (day 45) is missed and rebooked 21 days later: day 66. The 30 mL run
    # out at 30 / 0.5 = day 60, so the patient has no baclofen for 6 days. Then every 45 days: 111, 156, 201, 246,
    # 291, 336 (381 is after the year): 7 refills.
    p = constant_flow_baclofen()
    start = start_of(p)
    patient = Patient(p, habits=Scripted([Visit(missed=True, rebook_days=21)]))
    outcome, twin = simulate_patient(patient, parse_policy("alarm-minus:7"), start + 365 * DAY_US)
    assert outcome.visits == tuple(start + d * DAY_US for d in (66, 111, 156, 201, 246, 291, 336))
    assert outcome.missed == 1 and outcome.late == 0
    assert outcome.alarms == {}  # the pump has no alarms: nobody is warned
    assert outcome.empty_episodes == 1 and outcome.empty_us == 6 * DAY_US
    assert outcome.reconciliation == {"within-band": 7}  # the pump ran exactly as programmed
    # 365 days less the 6 empty ones at 0.5 mL/day of 500 mcg/mL.
    assert twin.patient["baclofen"] == F(1, 2) * (365 - 6) * 500


def test_pump_over_infusing_at_every_fill_runs_empty_every_cycle_and_is_flagged():
    # Programmed 0.5 mL/day: visits every 38 / 0.5 − 7 = 69 days (69, 138, 207, 276, 345). The pump gives 0.6: the
    # alarm sounds at 38 / 0.6 = 63.33 days and it is empty at 40 / 0.6 = 66.67 days, 7/3 days before each refill.
    # Each refill finds 0 mL where 40 − 34.5 = 5.5 ± 5.175 mL were expected: less than expected.
    p = program()
    start = start_of(p)
    habits = Scripted([Visit(factor=F(6, 5))] * 5)
    patient = Patient(p, habits=habits, factor=F(6, 5))
    outcome, _ = simulate_patient(patient, parse_policy("alarm-minus:7"), start + 365 * DAY_US)
    assert outcome.visits == tuple(start + d * DAY_US for d in (69, 138, 207, 276, 345))
    assert outcome.alarms == {"low-reservoir": 5, "empty-reservoir": 5}  # the last cycle ends before day 408
    assert outcome.empty_episodes == 5 and outcome.empty_us == 5 * F(7, 3) * DAY_US
    assert outcome.reconciliation == {"less-than-expected": 5}


def test_pump_fault_starting_mid_cycle_is_seen_at_the_second_refill_after_it():
    # As above, but the pump is exact until it starts over-infusing by 20 % (6/5) on day 100. Cycle 69-138: by day
    # 100 it gave 15.5 mL, then 0.6 mL/day: the alarm at 100 + 22.5 / 0.6 = day 137.5, but 40 − 15.5 − 0.6 × 38 =
    # 1.7 mL remain at day 138, inside 5.5 ± 5.175: not flagged. The next three cycles empty 7/3 days early and are
    # flagged; the last (from day 345) ends before its alarm.
    p = program()
    start = start_of(p)
    patient = Patient(p, over_infusion_at=start + 100 * DAY_US)
    outcome, _ = simulate_patient(patient, parse_policy("alarm-minus:7"), start + 365 * DAY_US)
    assert F(6, 5) == OVER_INFUSION_FACTOR
    assert outcome.visits == tuple(start + d * DAY_US for d in (69, 138, 207, 276, 345))
    assert outcome.alarms == {"low-reservoir": 4, "empty-reservoir": 3}
    assert outcome.empty_us == 3 * F(7, 3) * DAY_US
    assert outcome.reconciliation == {"within-band": 2, "less-than-expected": 3}


def test_refilling_before_the_worst_case_alarm_never_alarms_however_much_the_remote_is_pressed():
    # The remote is pressed every 2 h from 1 h after the fill: 12 presses a day. With a 4 h lockout and 3 a day the
    # pump gives the presses at 1, 5 and 9 h of each day (at 25 h the 1 h dose is 24 h old): 3 × 365 doses. Visits
    # every 60 days (alarm-minus:7 on the 0.56 mL/day worst case): 60, 120, ..., 360. Each fill of 40 mL loses at
    # most 60 × 0.56 = 33.6 mL before the next visit, never reaching the 2 mL alarm.
    p = program(patient_bolus=BOLUS)
    start = start_of(p)
    presses = [start + HOUR_US + k * 2 * HOUR_US for k in range(12 * 365)]
    outcome, _ = simulate_patient(Patient(p, presses), parse_policy("alarm-minus:7"), start + 365 * DAY_US)
    assert outcome.visits == tuple(start + d * DAY_US for d in range(60, 361, 60))
    assert outcome.alarms == {} and outcome.empty_us == 0
    assert outcome.remote_requests == 12 * 365 and outcome.remote_doses_given == 3 * 365
    assert outcome.reconciliation == {"within-band": 6}  # the clinic counts the boluses given


def test_late_visits_and_a_pocket_fill():
    # Visits every 69 days (as above, exact pump), the first 5 days late: 74. Its 40 mL fill puts 4 mL in the
    # pocket; the next visit, booked 69 days on (143), finds 36 − 34.5 = 1.5 mL where 5.5 ± 5.175 were expected:
    # within the band, so that pocket fill goes unseen. The third visit (212) is back to normal.
    p = program()
    start = start_of(p)
    habits = Scripted([Visit(late_days=5, pocket_ml=F(4))])
    outcome, _ = simulate_patient(Patient(p, habits=habits), parse_policy("alarm-minus:7"), start + 300 * DAY_US)
    assert outcome.visits == tuple(start + d * DAY_US for d in (74, 143, 212, 281))
    assert outcome.late == 1 and outcome.pocket_fills == 1
    # Late by 5 days: 74 × 0.5 = 37 mL of 40, still above the 2 mL alarm. After the pocket fill the reservoir holds
    # 36 mL: the alarm comes at 34 / 0.5 = 68 days after day 74, before the visit on day 143.
    assert outcome.alarms == {"low-reservoir": 1}
    assert outcome.reconciliation == {"within-band": 4}


# --------------------------------------------------------------------------------------------------------------
# The study: determinism, sums, the population's rules
# --------------------------------------------------------------------------------------------------------------
def fleet(n: int, years: float, seed: int, workers: int = 1, policy: str = "alarm-minus:7") -> dict[str, Any]:
    return run_fleet(LIBRARY, CATALOG, n, years, seed, parse_policy(policy), workers).as_json()


def test_same_seed_same_report_whatever_the_workers():
    one = fleet(40, 0.5, 11)
    assert fleet(40, 0.5, 11) == one
    assert fleet(40, 0.5, 11, workers=2) == one
    assert fleet(40, 0.5, 12) != one


def test_groups_add_up_to_the_whole():
    doc = fleet(60, 0.5, 3)
    overall = doc["overall"]
    assert overall["patients"] == 60 and overall["patient_years"] == 30
    for groups in (doc["by_drug"], doc["by_pump_family"]):
        assert sum(g["patients"] for g in groups.values()) == 60
        for key in ("refill_visits", "reconciliation_flags", "remote_requests"):
            assert sum(g["totals"][key] for g in groups.values()) == overall["totals"][key]
        assert set(overall["totals"]["alarms"]) >= {"low-reservoir", "empty-reservoir"}
        for name, count in overall["totals"]["alarms"].items():
            assert sum(g["totals"]["alarms"][name] for g in groups.values()) == count
    t, r = overall["totals"], overall["per_patient_year"]
    assert (
        r["refill_visits"] == t["refill_visits"] / 30
        and r["alarms"]["low-reservoir"] == t["alarms"]["low-reservoir"] / 30
    )


def test_a_later_policy_gives_no_fewer_empty_days_on_the_same_population():
    early, late = fleet(60, 1, 5, policy="alarm-minus:30"), fleet(60, 1, 5, policy="empty-minus:0")
    assert early["overall"]["totals"]["refill_visits"] > late["overall"]["totals"]["refill_visits"]
    assert early["overall"]["totals"]["empty_reservoir_days"] <= late["overall"]["totals"]["empty_reservoir_days"]


def population(n: int = 3000) -> Population:
    return sample_population(n, 1, 2, CATALOG)


def test_population_respects_pumps_and_drugs():
    pop = population()
    family = np.array([CATALOG.pump(p).family for p in PUMP_IDS])[pop.pump]
    first_drug = np.array([r.drugs[0] for r in REGIMENS])[pop.regimen]
    remote = pop.remote_per_day > 0
    assert not remote[family == "constant-flow"].any()  # no remote on a constant-flow pump
    assert set(first_drug[family == "valve-gated"]) == {"morphine"}  # its remote gives morphine only
    assert not remote[first_drug == "ziconotide"].any()  # no patient-bolus limits for ziconotide
    assert not pop.flex[(family == "constant-flow") | (first_drug == "ziconotide")].any()
    assert (first_drug == "baclofen").sum() > 0.3 * len(pop)  # 22 % + 13 % of the mix
    assert remote[first_drug == "baclofen"].any() and remote[first_drug == "morphine"].any()


def test_every_synthetic_program_passes_the_safety_check():
    keys = all_template_keys(CATALOG)
    assert len(keys) > 100
    for key in keys:
        build_template(key, LIBRARY, CATALOG)  # raises on any hard or soft finding


# --------------------------------------------------------------------------------------------------------------
# idds fleet
# --------------------------------------------------------------------------------------------------------------
SMALL = ("fleet", "--patients", "6", "--years", "0.25", "--seed", "1", "--workers", "1")


def test_fleet_json_shape():
    doc = run_json(*SMALL)
    assert doc["drug_library"]["version"] and doc["device_catalog"]["version"]
    assert doc["fleet"] == {
        "patients": 6,
        "years": 0.25,
        "patient_years": 1.5,
        "seed": 1,
        "policy": {
            "name": "alarm-minus:7",
            "description": "refill 7 days before the projected low-reservoir alarm (worst case); never after the "
            "drug's stability runs out",
        },
    }
    per_year = doc["overall"]["per_patient_year"]
    assert set(per_year) == {
        "alarms",
        "empty_reservoir_episodes",
        "empty_reservoir_days",
        "reconciliation_flags",
        "refill_visits",
        "missed_visits",
        "late_visits",
        "remote_requests",
        "remote_doses_given",
    }
    assert set(per_year["alarms"]) >= {"low-reservoir", "empty-reservoir"}
    assert doc["by_drug"] and doc["by_pump_family"] and doc["assumptions"]
    assert any("synthetic" in a for a in doc["assumptions"])


def test_fleet_table_and_progress_bar_on_a_terminal_only_without_json():
    terminal = {**NARROW, "COLUMNS": "120", "TTY_COMPATIBLE": "1"}
    table = run(*SMALL, env=terminal)
    assert table.exit_code == 0, table.stderr
    assert "Per patient-year" in table.stdout and "empty-reservoir days" in table.stdout
    assert "simulating" in table.stderr  # the bar, on stderr
    as_json = run(*SMALL, "--json", env=terminal)
    assert as_json.exit_code == 0 and as_json.stderr == ""


def test_fleet_is_listed_in_help():
    assert "fleet" in run("--help").stdout


@pytest.mark.parametrize(
    "option,value",
    [
        ("--patients", "0"),
        ("--patients", "-3"),
        ("--patients", "many"),
        ("--years", "0"),
        ("--years", "-1"),
        ("--years", "six"),
        ("--years", "nan"),
        ("--years", "6"),
        ("--seed", "-1"),
        ("--seed", "1.5"),
        ("--workers", "0"),
        ("--policy", "sometimes"),
        ("--policy", "alarm-minus"),
        ("--policy", "alarm-minus:x"),
        ("--policy", "alarm-minus:-1"),
        ("--policy", "fixed:0"),
        ("--policy", "fixed:9999"),
    ],
)
def test_fleet_bad_input_names_the_option(option: str, value: str):
    args = {"--patients": "3", "--years": "0.1", "--seed": "0", "--workers": "1", option: value}
    result = run("fleet", *(x for kv in args.items() for x in kv), "--json", env=NARROW)
    assert_bad_input(result, option)


def test_study_start_is_a_fixed_clinic_morning():
    # The core reads no clock: every study starts 2027-01-04 09:00 CST (15:00Z).
    keys = all_template_keys(CATALOG)
    assert build_template(keys[0], LIBRARY, CATALOG).reservoir.filled_at == datetime(2027, 1, 4, 15, tzinfo=UTC)
