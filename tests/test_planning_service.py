"""The refill plan through the API, on SQLite and PostgreSQL: the proposal beside the greedy baseline, booking all
or some of it, refusals with reasons, and an overdue patient named as an urgent shortfall.

Each patient is the README's flex example filled with 40 mL at START: refill window Mon 28 Dec 2026 – Tue 12 Jan
2027 (worked by hand in tests/test_appointments.py). The greedy books as soon as the window opens and a nurse has
room: nora sees 2 a day, so 28 Dec takes two of three patients and the third goes on Tue 29 Dec.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_support import Clinic, audit_actions, fast_argon2, implanted_patient
from tests.test_appointments import SCHEDULING


@pytest.fixture
def three(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> tuple[Clinic, list[int]]:
    fast_argon2(monkeypatch)
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": SCHEDULING}, "reason": "open"})
    assert r.status_code == 200, r.text
    return clinic, [implanted_patient(clinic, f"P-{i}") for i in range(3)]


def propose(clinic: Clinic, **body: Any) -> Any:
    r = clinic.call("POST", "/plan", "nora", json={"first_day": "2026-11-23", "weeks": 8, **body})
    assert r.status_code == 201, r.text
    return r.json()


def test_the_proposal_keeps_everyone_in_their_window_beside_the_greedy(three: tuple[Clinic, list[int]]) -> None:
    clinic, pids = three
    plan = propose(clinic)
    assert plan["patients"] == 3 and plan["cp_sat"]["shortfalls"] == [] and plan["greedy"]["shortfalls"] == []
    greedy_days = sorted(b["day"] for b in plan["greedy"]["bookings"])
    assert greedy_days == ["2026-12-28", "2026-12-28", "2026-12-29"]
    best = plan["cp_sat"]["bookings"]
    assert sorted(b["patient_id"] for b in best) == sorted(pids)
    for b in best:
        assert "2026-12-28" <= b["day"] <= "2027-01-12" and b["nurse"] == "nora"
        assert (b["earliest"], b["latest"]) == ("2026-12-28", "2027-01-12")
    assert plan["cp_sat"]["visits"] == plan["greedy"]["visits"] == 3
    assert plan["comparison"]["visits"] == [3, 3]
    assert clinic.call("GET", f"/plans/{plan['id']}", "ada").json()["id"] == plan["id"]
    assert clinic.call("GET", f"/plans/{plan['id']}", "phil").status_code == 403


def test_booking_some_then_the_rest(three: tuple[Clinic, list[int]]) -> None:
    clinic, _ = three
    plan = propose(clinic)
    keys = [b["key"] for b in plan["cp_sat"]["bookings"]]
    r = clinic.call("POST", f"/plans/{plan['id']}/accept", "nora", json={"keys": keys[:1]})
    assert r.status_code == 200, r.text
    assert len(r.json()["booked"]) == 1 and r.json()["refused"] == []
    first = r.json()["booked"][0]
    assert first["plan_id"] == plan["id"] and first["kind"] == "refill" and first["status"] == "booked"
    r = clinic.call("POST", f"/plans/{plan['id']}/accept", "nora", json={})
    booked = r.json()["booked"]
    assert len(booked) == 2  # the one already booked is not booked twice
    days = {}
    for a in [first, *booked]:
        days.setdefault(a["starts_at"][:10], []).append(a["starts_at"])
    for starts in days.values():
        assert len(set(starts)) == len(starts)  # one nurse, one slot each
    r = clinic.call("POST", f"/plans/{plan['id']}/accept", "nora", json={"keys": ["nobody@2027-01-01"]})
    assert r.status_code == 422 and r.json()["field"] == "keys"
    again = propose(clinic)
    assert all(b["fixed"] for b in again["cp_sat"]["bookings"])  # what is booked is kept as it is
    assert "accept-plan" in audit_actions(clinic) and "propose-plan" in audit_actions(clinic)


def test_an_overdue_patient_is_an_urgent_shortfall(three: tuple[Clinic, list[int]]) -> None:
    clinic, _ = three
    clinic.advance(days=70)  # 30 Jan 2027: every latest safe day (12 Jan) has passed
    r = clinic.call("POST", "/plan", "nora", json={"weeks": 2})
    assert r.status_code == 201, r.text
    short = r.json()["cp_sat"]["shortfalls"]
    assert len(short) == 3 and all(f["latest"] == "2027-01-12" and f["days_late"] > 0 for f in short)
    assert all(f["reason"] for f in short)


def test_bad_plans_are_refused_in_words(three: tuple[Clinic, list[int]]) -> None:
    clinic, _ = three
    r = clinic.call("POST", "/plan", "nora", json={"weeks": 27})
    assert r.status_code == 422 and r.json()["field"] == "weeks"
    r = clinic.call("POST", "/plan", "nora", json={"first_day": "2026-01-01", "weeks": 2})
    assert r.status_code == 422 and r.json()["field"] == "first_day"
    assert clinic.call("POST", "/plan", "phil", json={"weeks": 2}).status_code == 403


def test_the_plan_takes_the_bookings_as_they_are(three: tuple[Clinic, list[int]]) -> None:
    """Two refills booked for one patient on one day, and a nurse's day filled by other visits: the plan still
    runs, keeps the bookings and says what it could not fit."""
    clinic, pids = three
    body = {"kind": "refill", "starts_at": "2027-01-05T16:00:00+00:00", "nurse": "nora"}
    assert clinic.call("POST", f"/patients/{pids[0]}/appointments", "nora", json=body).status_code == 201
    body = {**body, "starts_at": "2027-01-05T17:00:00+00:00", "override_reason": "two visits (probe) on one day"}
    assert clinic.call("POST", f"/patients/{pids[0]}/appointments", "nora", json=body).status_code == 201
    for pid, hour in ((pids[1], 18), (pids[2], 19)):  # nora's day is over capacity with follow-ups
        follow = {
            "kind": "follow-up",
            "starts_at": f"2027-01-05T{hour}:00:00+00:00",
            "nurse": "nora",
            "override_reason": "x",
        }
        assert clinic.call("POST", f"/patients/{pid}/appointments", "nora", json=follow).status_code == 201
    plan = propose(clinic)
    fixed = [b for b in plan["cp_sat"]["bookings"] if b["fixed"]]
    assert [(b["patient_id"], b["day"]) for b in fixed] == [(pids[0], "2027-01-05")]
