"""The refill planner: hand-worked cases for the greedy and CP-SAT, skills, shortfalls, the plan checker, input checks,
and (Hypothesis) CP-SAT is valid and never worse than the greedy on small random clinics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openidds.errors import InputError
from openidds.planning import Booking, Need, NurseDay, Plan, check_plan, compare, plan_cpsat, plan_greedy
from openidds.planning.synthetic import reduce_capacity, synthetic_capacity, synthetic_needs

ZICO = frozenset({"ziconotide"})
Planner = Callable[[list[Need], list[NurseDay], int], Plan]


def cpsat(needs: list[Need], capacity: list[NurseDay], horizon: int) -> Plan:
    return plan_cpsat(needs, capacity, horizon, time_limit_s=5.0, workers=1, seed=0)


def nurse(name: str, visits: int, days: range, skills: frozenset[str] = frozenset()) -> list[NurseDay]:
    return [NurseDay(d, name, visits, skills) for d in days]


def days_of(plan: Plan) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for b in plan.bookings:
        out.setdefault(b.patient_id, []).append(b.day)
    return out


def valid(needs: list[Need], capacity: list[NurseDay], horizon: int, plan: Plan) -> Plan:
    assert check_plan(needs, capacity, horizon, plan) == []
    return plan


def test_greedy_earliest_deadline_first_by_hand() -> None:
    # One nurse, one visit a day, days 0–9; cycles of 15–20 days, so each patient needs one visit (the next one's
    # latest safe day is past day 9). Day 0: A (latest 2) and B (latest 1) are open: B first. Day 1: A (2) before
    # C (5). Day 2: C. Days into windows: 0 + 1 + (2 - 1) = 2.
    needs = [Need("A", 0, 2, 15, 20), Need("B", 0, 1, 15, 20), Need("C", 1, 5, 15, 20)]
    capacity = nurse("N1", 1, range(10))
    plan = valid(needs, capacity, 10, plan_greedy(needs, capacity, 10))
    assert [(b.patient_id, b.day, b.nurse) for b in plan.bookings] == [("B", 0, "N1"), ("A", 1, "N1"), ("C", 2, "N1")]
    assert (plan.visits, plan.late_in_window, plan.max_daily_load, plan.shortfalls) == (3, 2, 1, ())
    assert (plan.method, plan.status) == ("greedy", "greedy")


def test_cpsat_books_two_days_before_the_latest_safe_day_by_hand() -> None:
    # A (latest 6) and B (latest 8), one visit each: the best day is the latest safe day less the 2-day margin:
    # A on day 4, B on day 6. The greedy books both as soon as it can: A on day 0, B on day 1.
    needs = [Need("A", 0, 6, 15, 20), Need("B", 0, 8, 15, 20)]
    capacity = nurse("N1", 1, range(10))
    plan = valid(needs, capacity, 10, cpsat(needs, capacity, 10))
    assert days_of(plan) == {"A": [4], "B": [6]}
    assert (plan.method, plan.status, plan.late_in_window) == ("cp-sat", "optimal", 10)
    assert days_of(plan_greedy(needs, capacity, 10)) == {"A": [0], "B": [1]}


def test_cpsat_halves_the_visits_of_a_short_cycle_by_hand() -> None:
    # Cycle 4–8 days over 20 days (a visit is needed while its latest safe day is <= 19). Greedy: days 0, 4, 8, 12
    # (after 12 the latest is 20): 4 visits. Fewest: the second visit must be >= 12 (12 + 8 > 19) and <= first + 8,
    # so 2 visits; with the margin, the first on 8 - 2 = 6 and the second on 6 + 8 - 2 = 12.
    needs = [Need("A", 0, 8, 4, 8)]
    capacity = nurse("N1", 5, range(20))
    greedy = valid(needs, capacity, 20, plan_greedy(needs, capacity, 20))
    plan = valid(needs, capacity, 20, cpsat(needs, capacity, 20))
    assert days_of(greedy) == {"A": [0, 4, 8, 12]}
    assert days_of(plan) == {"A": [6, 12]}
    assert [(b.earliest, b.latest) for b in plan.bookings] == [(0, 8), (10, 14)]
    assert compare(plan, greedy)["visits"] == (2, 4)
    assert compare(plan, greedy)["ratio"] == 0.5


@pytest.mark.parametrize("planner", [plan_greedy, cpsat])
def test_a_ziconotide_patient_goes_only_to_the_skilled_nurse(planner: Planner) -> None:
    needs = [Need("Z", 0, 5, 15, 20, skills=ZICO), Need("P", 0, 5, 15, 20)]
    capacity = nurse("N1", 5, range(10)) + nurse("NZ", 1, range(10), ZICO)
    plan = valid(needs, capacity, 10, planner(needs, capacity, 10))
    assert {b.patient_id: b.nurse for b in plan.bookings} == {"Z": "NZ", "P": "N1"}


@pytest.mark.parametrize("planner", [plan_greedy, cpsat])
def test_no_skilled_nurse_in_time_is_a_named_shortfall(planner: Planner) -> None:
    # The only ziconotide nurse works on day 8; the latest safe day is 5: booked on day 8, 3 days late.
    needs = [Need("Z", 0, 5, 15, 20, skills=ZICO)]
    capacity = [*nurse("N1", 5, range(10)), NurseDay(8, "NZ", 2, ZICO)]
    plan = valid(needs, capacity, 10, planner(needs, capacity, 10))
    assert [(b.day, b.nurse) for b in plan.bookings] == [(8, "NZ")]
    (s,) = plan.shortfalls
    assert (s.patient_id, s.latest, s.day, s.days_late) == ("Z", 5, 8, 3)
    assert s.reason == (
        "no nurse with ziconotide skill has room between day 0 and day 5; first room on day 8 (3 days late)"
    )


@pytest.mark.parametrize("planner", [plan_greedy, cpsat])
def test_a_latest_safe_day_already_past_is_named_and_booked_first(planner: Planner) -> None:
    needs = [Need("U", -10, -3, 15, 20, withdrawal_risk=True), Need("P", 0, 9, 15, 20)]
    capacity = nurse("N1", 1, range(10))
    plan = valid(needs, capacity, 10, planner(needs, capacity, 10))
    assert days_of(plan)["U"] == [0]
    (s,) = plan.shortfalls
    assert (s.patient_id, s.day, s.days_late, s.withdrawal_risk) == ("U", 0, 3, True)
    assert "before the first planning day" in s.reason


def test_capacity_shortfall_names_the_patient_by_hand() -> None:
    # One visit a day; A, B and C all due by day 1. Greedy, day 0: C first (withdrawal risk), day 1: A (id), day 2:
    # B, 1 day late. CP-SAT also has one visit 1 day late, never C's (a withdrawal-risk day late weighs double).
    needs = [Need("A", 0, 1, 15, 20), Need("B", 0, 1, 15, 20), Need("C", 0, 1, 15, 20, withdrawal_risk=True)]
    capacity = nurse("N1", 1, range(10))
    greedy = valid(needs, capacity, 10, plan_greedy(needs, capacity, 10))
    assert days_of(greedy) == {"C": [0], "A": [1], "B": [2]}
    assert [(s.patient_id, s.latest, s.day, s.days_late) for s in greedy.shortfalls] == [("B", 1, 2, 1)]
    assert greedy.shortfalls[0].reason == "no nurse has room between day 0 and day 1; first room on day 2 (1 day late)"
    plan = valid(needs, capacity, 10, cpsat(needs, capacity, 10))
    (s,) = plan.shortfalls
    assert (s.latest, s.day, s.days_late) == (1, 2, 1) and s.patient_id != "C"


def test_no_room_before_the_horizon_ends_is_named_without_a_day() -> None:
    needs = [Need("Z", 0, 3, 15, 20, skills=ZICO)]
    capacity = nurse("N1", 5, range(10))
    for plan in (plan_greedy(needs, capacity, 10), cpsat(needs, capacity, 10)):
        assert check_plan(needs, capacity, 10, plan) == []
        assert plan.bookings == ()
        (s,) = plan.shortfalls
        assert (s.day, s.days_late) == (None, 7)
        assert "no room before the end of the horizon" in s.reason


def test_shortfalls_withdrawal_risk_first_then_most_days_late() -> None:
    needs = [Need("A", -9, -9, 15, 20), Need("B", -2, -2, 15, 20, withdrawal_risk=True), Need("C", -5, -5, 15, 20)]
    capacity = nurse("N1", 5, range(10))
    plan = valid(needs, capacity, 10, plan_greedy(needs, capacity, 10))
    assert [(s.patient_id, s.days_late) for s in plan.shortfalls] == [("B", 2), ("A", 9), ("C", 5)]


def test_a_booked_appointment_past_the_latest_safe_day_is_kept_and_named() -> None:
    needs = [Need("A", 0, 3, 10, 20, fixed=(5,))]
    capacity = nurse("N1", 1, range(10))
    for plan in (plan_greedy(needs, capacity, 10), cpsat(needs, capacity, 10)):
        assert check_plan(needs, capacity, 10, plan) == []
        assert [(b.day, b.fixed, b.nurse) for b in plan.bookings] == [(5, True, "N1")]
        (s,) = plan.shortfalls
        assert s.reason == "the booked appointment on day 5 is 2 days after the latest safe day (day 3)"


@pytest.mark.parametrize("planner", [plan_greedy, cpsat])
def test_fixed_days_are_kept_and_start_the_chain(planner: Planner) -> None:
    # A booked on day 3 (cycle 5–8): the next visit is due within 8–11; last_day 12 for B: its latest safe day 14
    # is after it, so B needs nothing.
    needs = [Need("A", 0, 6, 5, 8, fixed=(3,), fixed_nurses=("N1",)), Need("B", 0, 14, 5, 8, last_day=12)]
    capacity = nurse("N1", 1, range(14))
    plan = valid(needs, capacity, 14, planner(needs, capacity, 14))
    first, second = plan.bookings
    assert (first.day, first.fixed, first.nurse) == (3, True, "N1")
    assert not second.fixed and 8 <= second.day <= 11 and (second.earliest, second.latest) == (8, 11)


def test_the_checker_rejects_crafted_bad_plans() -> None:
    needs = [Need("Z", 0, 5, 15, 20, skills=ZICO), Need("P", 0, 5, 15, 20)]
    capacity = nurse("N1", 1, range(10)) + nurse("NZ", 1, range(10), ZICO)
    good = valid(needs, capacity, 10, plan_greedy(needs, capacity, 10))
    z, p = sorted(good.bookings, key=lambda b: b.patient_id, reverse=True)

    def bad(*bookings: Booking) -> list[str]:
        ordered = tuple(sorted(bookings, key=lambda b: (b.day, b.nurse, b.patient_id)))
        return check_plan(needs, capacity, 10, replace(good, bookings=ordered))

    assert any("past the latest safe day 5" in m for m in bad(z, replace(p, day=7)))
    assert any("over capacity" in m for m in bad(z, replace(p, nurse="NZ", day=z.day)))
    assert any("lacks ziconotide" in m for m in bad(replace(z, nurse="N1", day=3), p))
    assert any("no visit by the latest safe day" in m for m in bad(z))
    assert any("does not work" in m for m in bad(z, replace(p, nurse="N9")))


def test_input_errors_name_the_field() -> None:
    capacity = nurse("N1", 1, range(5))
    cases = [
        ([Need("A", 0, 3, 5, 4)], capacity, "needs[0].cycle_min", "longer than the longest"),
        ([Need("A", 0, 3, 2, 4)], [NurseDay(0, "N1", -1)], "capacity[0].visits", "negative capacity"),
        ([Need("A", 0, 3, 2, 4), Need("A", 0, 3, 2, 4)], capacity, "needs[1].patient_id", "listed twice"),
        ([Need("A", 0, 3, 2, 4, fixed=(1,), fixed_nurses=("N7",))], capacity, "needs[0].fixed_nurses", "unknown nurse"),
        ([Need("A", 4, 3, 2, 4)], capacity, "needs[0].earliest", "after the latest safe day"),
        ([Need("A", 0, 3, 2, 4, fixed=(9,))], capacity, "needs[0].fixed", "outside the horizon"),
        ([Need("Z", 0, 3, 2, 4, ZICO, fixed=(1,), fixed_nurses=("N1",))], capacity, "needs[0].fixed_nurses", "lacks"),
        ([Need("A", 0, 3, 0, 4)], capacity, "needs[0].cycle_min", "at least 1 day"),
        ([Need("A", 0, 3, 2, 4)], [NurseDay(0, "N1", 1), NurseDay(0, "N1", 2)], "capacity[1].nurse", "twice"),
    ]
    for needs, cap, field, words in cases:
        for planner in (plan_greedy, plan_cpsat):
            with pytest.raises(InputError) as err:
                planner(needs, cap, 5)
            assert err.value.field == field and words in err.value.message


def test_synthetic_clinic_is_deterministic_and_planned_well() -> None:
    needs = synthetic_needs(300, 70, seed=3)
    assert needs == synthetic_needs(300, 70, seed=3)
    capacity = synthetic_capacity(needs, 70, seed=3)
    for cap in (capacity, reduce_capacity(capacity, 0.1, seed=3)):
        greedy = valid(needs, cap, 70, plan_greedy(needs, cap, 70))
        plan = valid(needs, cap, 70, plan_cpsat(needs, cap, 70, time_limit_s=10.0, workers=1))
        assert plan.method == "cp-sat" and plan.shortfalls == greedy.shortfalls == ()
        assert plan.visits <= 0.9 * greedy.visits


def test_cpsat_keeps_the_greedy_when_it_finds_nothing_in_time() -> None:
    needs = synthetic_needs(50, 28, seed=2)
    capacity = synthetic_capacity(needs, 28, seed=2)
    plan = valid(needs, capacity, 28, plan_cpsat(needs, capacity, 28, time_limit_s=0.0))
    greedy = plan_greedy(needs, capacity, 28)
    assert plan.method == "greedy" and plan.status.startswith("time-limit: greedy kept")
    assert plan.bookings == greedy.bookings
    assert any("greedy kept" in r for r in plan.reasons)


def test_the_plan_says_what_it_did() -> None:
    needs = [Need("A", 0, 8, 4, 8)]
    capacity = nurse("N1", 5, range(20))
    plan = cpsat(needs, capacity, 20)
    assert plan.reasons[0].startswith("cp-sat: 1 blocks of up to 28 days")
    assert any(r.startswith("weights: 1,000,000 per day past a latest safe day") for r in plan.reasons)
    assert "2 visits for 1 patients over 20 days (0 already booked)" in plan.reasons[-2]
    assert compare(plan, plan_greedy(needs, capacity, 20))["past_latest"] == (0, 0)


def test_cpsat_is_deterministic_on_one_worker() -> None:
    needs = synthetic_needs(120, 42, seed=4)
    capacity = synthetic_capacity(needs, 42, seed=4)
    first, second = (plan_cpsat(needs, capacity, 42, workers=1, seed=7) for _ in range(2))
    assert first.bookings == second.bookings and first.method == "cp-sat"


@st.composite
def clinics(draw: st.DrawFn) -> tuple[list[Need], list[NurseDay], int]:
    horizon = draw(st.integers(8, 24))
    needs = []
    for i in range(draw(st.integers(1, 6))):
        cmax = draw(st.integers(2, 12))
        cmin = draw(st.integers(1, cmax))
        latest = draw(st.integers(-2, 12))
        needs.append(
            Need(
                f"P{i}",
                latest - draw(st.integers(0, 6)),
                latest,
                cmin,
                cmax,
                skills=ZICO if draw(st.booleans()) and i % 3 == 0 else frozenset(),
                withdrawal_risk=draw(st.booleans()),
            )
        )
    capacity = [
        NurseDay(d, name, draw(st.integers(0, 2)), skills)
        for name, skills in (("N1", frozenset()), ("NZ", ZICO))
        for d in range(horizon)
        if draw(st.integers(0, 4)) > 0
    ]
    return needs, capacity, horizon


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clinics())
def test_cpsat_is_valid_and_never_worse_than_the_greedy(clinic: tuple[list[Need], list[NurseDay], int]) -> None:
    needs, capacity, horizon = clinic
    greedy = valid(needs, capacity, horizon, plan_greedy(needs, capacity, horizon))
    plan = valid(needs, capacity, horizon, cpsat(needs, capacity, horizon))

    def late(p: Plan) -> tuple[int, int]:
        return sum(s.days_late for s in p.shortfalls if s.withdrawal_risk), sum(s.days_late for s in p.shortfalls)

    assert late(plan) <= late(greedy)
    if late(plan) == late(greedy):
        assert plan.visits <= greedy.visits
