"""The dashboard keeps the rows it read per dashboard version (openidds.service.dashboard): every change to patients
or patient_status must show on the next read, however it was written, and what a transaction that rolls back wrote
must never be kept. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text, update

from openidds.db.models import DashboardVersion, PatientStatus, User
from openidds.service import dashboard
from tests.api_support import fast_argon2, patient_body
from tests.clinic_db import Clinic

PATIENT = patient_body("V-0001", family_name="Doe")


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def _version(clinic: Clinic) -> int:
    with clinic.sessions() as s:
        version = s.scalar(select(DashboardVersion.version).where(DashboardVersion.id == 1))
    assert version is not None
    return version


def _row(clinic: Clinic, pid: int) -> dict[str, Any]:
    body = clinic.call("GET", "/dashboard", "nora").json()
    row: dict[str, Any] = next(r for r in body["patients"] if r["patient_id"] == pid)
    return row


def test_a_write_outside_the_service_shows_at_once(clinic: Clinic) -> None:
    pid = clinic.call("POST", "/patients", "nora", json=PATIENT).json()["id"]
    assert _row(clinic, pid)["urgency"] == "later"
    before = _version(clinic)
    assert _row(clinic, pid)["urgency"] == "later"  # read twice, nothing written: the same version
    assert _version(clinic) == before
    with clinic.engine.begin() as c:  # not through a use case: the database's triggers still count it
        c.execute(text("UPDATE patient_status SET urgent_flags = 1 WHERE patient_id = :p"), {"p": pid})
    assert _version(clinic) != before
    row = _row(clinic, pid)
    assert (row["urgency"], row["urgent_flags"]) == ("urgent-flag", 1)
    with clinic.engine.begin() as c:
        c.execute(text("UPDATE patients SET given_name = 'Janet' WHERE id = :p"), {"p": pid})
    assert _row(clinic, pid)["name"] == "Doe, Janet"


def test_an_audited_write_shows_at_once(clinic: Clinic) -> None:
    pid = clinic.call("POST", "/patients", "nora", json=PATIENT).json()["id"]
    assert _row(clinic, pid)["name"] == "Doe, Jane"
    r = clinic.call("PATCH", f"/patients/{pid}", "nora", json={"version": 1, "given_name": "Joan"})
    assert r.status_code == 200, r.text
    assert _row(clinic, pid)["name"] == "Doe, Joan"


def test_a_transaction_sees_its_own_writes_and_a_rollback_keeps_nothing(clinic: Clinic) -> None:
    pid = clinic.call("POST", "/patients", "nora", json=PATIENT).json()["id"]
    assert _row(clinic, pid)["urgent_flags"] == 0
    with clinic.sessions() as s:
        nurse = s.scalar(select(User).where(User.username == "nora"))
        assert nurse is not None
        s.execute(update(PatientStatus).where(PatientStatus.patient_id == pid).values(urgent_flags=1))
        rows, total = dashboard.dashboard_page(s, nurse, clinic.now)
        assert total == 1 and (rows[0]["urgency"], rows[0]["urgent_flags"]) == ("urgent-flag", 1)
        s.rollback()
    # The next committed write gets the version number the rolled-back one had: the rows are read afresh, and
    # what the rolled-back transaction saw was never kept.
    with clinic.engine.begin() as c:
        c.execute(text("UPDATE patients SET given_name = 'Janet' WHERE id = :p"), {"p": pid})
    row = _row(clinic, pid)
    assert (row["name"], row["urgency"], row["urgent_flags"]) == ("Doe, Janet", "later", 0)


def test_limit_gives_the_first_rows_and_the_total(clinic: Clinic) -> None:
    for i in range(3):
        r = clinic.call("POST", "/patients", "nora", json={**PATIENT, "mrn": f"V-{i}", "given_name": f"P{i}"})
        assert r.status_code == 201, r.text
    full = clinic.call("GET", "/dashboard", "nora").json()
    top = clinic.call("GET", "/dashboard?limit=2", "nora").json()
    assert (top["total"], top["patients"]) == (3, full["patients"][:2])
    assert clinic.call("GET", "/dashboard?limit=0", "nora").json() == full
