"""Bookings at once against a real server (uvicorn on loopback, its worker threads side by side), on SQLite and
PostgreSQL: one nurse's slot is given once, a nurse's capacity is not overrun by bookings that each saw room, and a
plan accepted twice at once books each visit once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from openidds.db.models import Appointment
from tests.api_support import Clinic, fast_argon2, implanted_patient
from tests.test_appointments import SCHEDULING
from tests.test_concurrency import at_once, live, post

__all__ = ["live"]  # the fixture, shared
N = 6


@pytest.fixture(autouse=True)
def _scheduled(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": SCHEDULING}, "reason": "x"})
    assert r.status_code == 200, r.text


def test_one_nurse_slot_booked_at_once_for_several_patients_is_given_once(clinic: Clinic, live: str) -> None:
    pids = [implanted_patient(clinic, f"S-{i}") for i in range(N)]
    headers = clinic.as_("nora")
    body = {"kind": "refill", "starts_at": "2027-01-05T16:00:00+00:00", "nurse": "nora"}
    answers = at_once([post(live, f"/api/v1/patients/{pid}/appointments", headers, json=body) for pid in pids])
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: 1, 422: N - 1}, [r.text for r in answers]
    assert all("booking.overlap" in r.json()["codes"] for r in answers if r.status_code == 422)


def test_a_nurses_last_visits_booked_at_once_need_a_reason_past_capacity(clinic: Clinic, live: str) -> None:
    """nora sees 2 a day: of N bookings at different times, 2 are booked and the rest need a reason."""
    pids = [implanted_patient(clinic, f"C-{i}") for i in range(N)]
    headers = clinic.as_("nora")
    calls = []
    for i, pid in enumerate(pids):
        body = {"kind": "refill", "starts_at": f"2027-01-05T{15 + i}:00:00+00:00", "nurse": "nora"}
        calls.append(post(live, f"/api/v1/patients/{pid}/appointments", headers, json=body))
    codes = Counter(r.status_code for r in at_once(calls))
    assert codes == {201: 2, 422: N - 2}


def test_a_plan_accepted_twice_at_once_books_each_visit_once(clinic: Clinic, live: str) -> None:
    for i in range(3):
        implanted_patient(clinic, f"A-{i}")
    plan = clinic.call("POST", "/plan", "nora", json={"first_day": "2026-11-23", "weeks": 8}).json()
    proposed = len([b for b in plan["cp_sat"]["bookings"] if not b["fixed"]])
    headers = clinic.as_("nora")
    calls = [post(live, f"/api/v1/plans/{plan['id']}/accept", headers, json={}) for _ in range(4)]
    answers = at_once(calls)
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert sum(len(r.json()["booked"]) for r in answers) == proposed == 3
    with clinic.sessions() as s:
        assert s.scalar(select(func.count(Appointment.id))) == proposed
