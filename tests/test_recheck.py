"""The recheck job (service.recheck.recheck_due): time moves on with nothing written, and the dashboard follows.

Morphine 10 mg/mL at 0.5 mL/day in a 40 mL pump with the alarm at 2 mL: 38 / 0.5 = 76 days from the fill to the
low-reservoir alarm (before stability's 90 days). Filled 75 days before START, the alarm is projected at
START + 1 day. On SQLite and PostgreSQL (the `clinic` fixture).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from openidds.db.models import PatientStatus
from openidds.service import pump, recheck
from tests.api_support import START, Clinic, fast_argon2, implant, morphine_program, new_patient

ALARM_AT = START + timedelta(days=1)  # 2026-11-22 15:00 UTC


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def _pumped(clinic: Clinic, mrn: str, days_ago: int) -> int:
    """A patient filled `days_ago` days before START at 0.5 mL/day: the alarm 76 days after the fill."""
    pid = new_patient(clinic, mrn)
    fill = START - timedelta(days=days_ago)
    implant(clinic, pid, morphine_program(fill, "0.5 mL/day"), fill)
    return pid


def _status(clinic: Clinic, pid: int) -> PatientStatus:
    with clinic.sessions() as s:
        row = s.get(PatientStatus, pid)
        assert row is not None
        return row


def _due_at(clinic: Clinic, pid: int, at: datetime) -> None:
    """Pin the row's recheck instant, so a test reads one instant (refresh_status also sets the clinic's next
    midnight while a refill window is kept: the window's days count from today)."""
    with clinic.sessions() as s, s.begin():
        row = s.get(PatientStatus, pid)
        assert row is not None
        if row.recheck_at != at:
            row.recheck_at = at


def _row(clinic: Clinic, pid: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = clinic.call("GET", "/dashboard", "nora").json()["patients"]
    return next(r for r in rows if r["patient_id"] == pid)


def test_alarm_becomes_active_without_a_write(clinic: Clinic) -> None:
    due = _pumped(clinic, "R-DUE", days_ago=75)
    later = _pumped(clinic, "R-LATER", days_ago=10)  # its alarm in 66 days
    row = _row(clinic, due)
    assert row["active_alarms"] == []
    assert row["projected_alarms"][0]["alarm"] == "low-reservoir"
    assert row["projected_alarms"][0]["at"] == ALARM_AT.isoformat()
    _due_at(clinic, due, ALARM_AT)
    _due_at(clinic, later, START + timedelta(days=66))
    later_before = _status(clinic, later)

    # Before the instant: nothing is due, nothing changes.
    assert recheck.recheck_due(clinic.engine, ALARM_AT - timedelta(minutes=1)) == 0
    # A minute after it, nothing written in between: the job re-evaluates the one patient due.
    clinic.now = ALARM_AT + timedelta(minutes=1)
    assert _row(clinic, due)["active_alarms"] == []  # the row as last written: still stale
    assert recheck.recheck_due(clinic.engine, clinic.now) == 1
    row = _row(clinic, due)
    assert [(a["alarm"], a["raised_at"]) for a in row["active_alarms"]] == [("low-reservoir", ALARM_AT.isoformat())]
    assert "low-reservoir" not in [a["alarm"] for a in row["projected_alarms"]]
    after = _status(clinic, due)
    assert after.updated_at == clinic.now
    assert after.recheck_at is not None and after.recheck_at > clinic.now  # moved on

    # The patient not due is untouched.
    untouched = _status(clinic, later)
    assert (untouched.updated_at, untouched.recheck_at) == (later_before.updated_at, later_before.recheck_at)
    # And a second pass finds nothing more to do.
    assert recheck.recheck_due(clinic.engine, clinic.now) == 0


def test_bounded_batch_oldest_first(clinic: Clinic) -> None:
    first = _pumped(clinic, "R-FIRST", days_ago=75)
    second = _pumped(clinic, "R-SECOND", days_ago=75)
    _due_at(clinic, first, ALARM_AT - timedelta(hours=2))
    _due_at(clinic, second, ALARM_AT - timedelta(hours=3))  # stale the longer: first in line
    at = ALARM_AT + timedelta(minutes=1)
    assert recheck.recheck_due(clinic.engine, at, limit=1) == 1
    assert _status(clinic, second).updated_at == at
    assert _status(clinic, first).updated_at != at
    assert recheck.recheck_due(clinic.engine, at, limit=0) == 0
    assert recheck.recheck_due(clinic.engine, at) == 1
    assert _status(clinic, first).updated_at == at


def test_two_rechecks_at_once_evaluate_each_patient_once(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    patients = [_pumped(clinic, f"R-TWICE-{i}", days_ago=75) for i in range(3)]
    for pid in patients:
        _due_at(clinic, pid, ALARM_AT)
    at = ALARM_AT + timedelta(minutes=1)
    counts: Counter[int] = Counter()
    guard = threading.Lock()
    refresh = pump.refresh_status

    def counted(s: Any, patient_id: int, now: datetime, *args: Any, **kwargs: Any) -> PatientStatus:
        with guard:
            counts[patient_id] += 1
        return refresh(s, patient_id, now, *args, **kwargs)

    monkeypatch.setattr(pump, "refresh_status", counted)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(recheck.recheck_due(clinic.engine, at))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a recheck never finished (deadlock?)"
    assert errors == []
    assert sum(results) == len(patients)
    assert counts == Counter({pid: 1 for pid in patients})
    with clinic.sessions() as s:
        rows = s.scalars(select(PatientStatus).where(PatientStatus.patient_id.in_(patients))).all()
        assert all(r.recheck_at is not None and r.recheck_at > at for r in rows)
        assert all(r.active_alarms and r.active_alarms[0]["alarm"] == "low-reservoir" for r in rows)
