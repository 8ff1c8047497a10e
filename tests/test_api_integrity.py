"""Integrity through the API, on SQLite and PostgreSQL: concurrent edits answer 409 and nothing is half-written;
a use case that fails part-way, or a commit that fails, leaves nothing behind and never answers success; bad
input answers 422 naming the field."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from openidds.db import writers
from openidds.db.models import AuditRecord, Patient, PatientStatus, Refill
from openidds.service import pathway
from openidds.service import refills as refills_service
from openidds.service.locks import lock_patient
from tests.api_support import (
    FLEX,
    Clinic,
    audit_actions,
    complete_body,
    count,
    fast_argon2,
    flex_program,
    implant_body,
    implanted_patient,
    new_patient,
    patient_body,
    prepare_body,
)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def stored(clinic: Clinic, pid: int) -> Patient:
    with clinic.sessions() as s:
        patient = s.get(Patient, pid)
        assert patient is not None
        return patient


def test_two_edits_of_the_same_version_the_second_gets_409(clinic: Clinic) -> None:
    pid = new_patient(clinic, "I-1")
    read = clinic.call("GET", f"/patients/{pid}", "nora").json()
    assert read["version"] == 1
    clinic.as_("ada")  # logged in before counting: a login is audited too
    writes = len(audit_actions(clinic))

    # Two clinicians opened version 1; the first to save wins.
    r = clinic.call("PATCH", f"/patients/{pid}", "nora", json={"version": 1, "oral_mme_per_day": "120"})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = clinic.call("PATCH", f"/patients/{pid}", "ada", json={"version": 1, "given_name": "Janet", "allergies": ["x"]})
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == "the record changed since you read it (version 1, now 2): reload"

    patient = stored(clinic, pid)
    assert (patient.version, patient.given_name, patient.allergies, str(patient.oral_mme_per_day)) == (
        2,
        "Jane",
        [],
        "120",
    )
    assert audit_actions(clinic)[writes:] == ["update-patient"]
    # Reloaded, the second clinician's change goes in as version 3.
    r = clinic.call("PATCH", f"/patients/{pid}", "ada", json={"version": 2, "given_name": "Janet"})
    assert (r.status_code, r.json()["version"], r.json()["oral_mme_per_day"]) == (200, 3, "120")


def test_a_writer_waits_for_the_patient_lock_instead_of_racing(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a PATCH (after its version check), another writer of the same patient starts. It waits for the
    patient's lock until the PATCH commits, then reads version 2 and writes version 3: neither change is lost,
    and nothing is decided on stale data."""
    pid = new_patient(clinic, "I-2")
    writes = len(audit_actions(clinic))
    real = pathway.patient_json
    other: list[threading.Thread] = []
    seen: list[int] = []

    def write_other() -> None:
        with writers(clinic.engine)() as s, s.begin():
            row = lock_patient(s, pid)
            seen.append(row.version)
            row.family_name = "Other"

    def race(patient: Patient) -> dict[str, Any]:
        if not other:  # inside the request, holding the lock: another writer starts and must wait
            other.append(threading.Thread(target=write_other))
            other[0].start()
            other[0].join(timeout=0.5)
            assert other[0].is_alive()  # still waiting for the lock
        return real(patient)

    monkeypatch.setattr(pathway, "patient_json", race)
    r = clinic.call("PATCH", f"/patients/{pid}", "nora", json={"version": 1, "given_name": "Janet"})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    other[0].join(timeout=30)
    assert not other[0].is_alive() and seen == [2]
    patient = stored(clinic, pid)
    assert (patient.version, patient.family_name, patient.given_name) == (3, "Other", "Janet")
    assert len(audit_actions(clinic)) == writes + 1


def test_a_use_case_failing_part_way_writes_nothing(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = implanted_patient(clinic, "I-3")
    clinic.advance(days=30)
    r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare_body())
    rid = r.json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "phil").status_code == 200
    before = count(clinic, AuditRecord)
    with clinic.sessions() as s:
        status = s.get(PatientStatus, pid)
        assert status is not None
        due = status.next_refill_due

    def crash(s: Session, patient_id: int, now: Any) -> Any:  # after the refill row is flushed
        raise RuntimeError("the twin failed")

    monkeypatch.setattr(refills_service, "refresh_status", crash)
    client = TestClient(clinic.app, raise_server_exceptions=False)
    complete = f"/api/v1/patients/{pid}/refills/{rid}/complete"
    r = client.post(complete, headers=clinic.as_("nora"), json=complete_body("24"))
    assert r.status_code == 500
    monkeypatch.undo()
    assert count(clinic, AuditRecord) == before
    with clinic.sessions() as s:
        status = s.get(PatientStatus, pid)
        refill = s.get(Refill, rid)
        assert status is not None and status.next_refill_due == due
        assert refill is not None and (refill.status, refill.at, refill.withdrawn_ml) == ("checked", None, None)

    # The same completion, with nothing broken: the refill completed, one audit record.
    fast_argon2(monkeypatch)
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body("24"))
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    assert (count(clinic, Refill), count(clinic, AuditRecord)) == (1, before + 1)


def test_a_failed_commit_is_never_answered_as_a_success(clinic: Clinic) -> None:
    """The transaction commits before the response is sent: if the commit fails, the client hears it."""
    headers = clinic.as_("nora")
    writes = count(clinic, AuditRecord)

    def disk_full(session: Session) -> None:
        raise RuntimeError("disk full")

    event.listen(clinic.app.state.writers, "before_commit", disk_full)
    try:
        client = TestClient(clinic.app, raise_server_exceptions=False)
        r = client.post("/api/v1/patients", headers=headers, json=patient_body("I-4"))
    finally:
        event.remove(clinic.app.state.writers, "before_commit", disk_full)
    assert r.status_code == 500
    with clinic.sessions() as s:
        assert s.scalar(select(Patient.id).where(Patient.mrn == "I-4")) is None
    assert count(clinic, AuditRecord) == writes


BAD_PATIENTS = [
    # (what is wrong, the body, the field named, the words its detail starts with)
    (
        "missing field",
        {k: v for k, v in patient_body("B-1").items() if k != "mrn"},
        "mrn",
        "The MRN: missing (required)",
    ),
    ("wrong type", patient_body("B-1", birth_date="last spring"), "birth_date", "The date of birth: "),
    (
        "wrong type",
        patient_body("B-1", life_expectancy_months="ten"),
        "life_expectancy_months",
        "The life expectancy: ",
    ),
    ("wrong type", patient_body("B-1", indications="cancer-pain"), "indications", "The indications: "),
    ("unknown care area", patient_body("B-1", care_area="cardiology"), "care_area", "The care area: "),
    (
        "unknown indication",
        patient_body("B-1", indications=["cancer-pain", "gout"]),
        "indications[1]",
        "Indication 2: ",
    ),
    ("not a quantity", patient_body("B-1", oral_mme_per_day="120 mg/day"), "oral_mme_per_day", "The oral morphine "),
    ("unknown field", patient_body("B-1", blood_group="0+"), "blood_group", "Blood group: "),
]


def test_bad_input_answers_422_naming_the_field(clinic: Clinic) -> None:
    clinic.as_("nora")  # logged in before counting: a login is audited too
    writes = count(clinic, AuditRecord)
    for what, body, field, words in BAD_PATIENTS:
        r = clinic.call("POST", "/patients", "nora", json=body)
        assert (r.status_code, r.json().get("field")) == (422, field), (what, r.text)
        # The field in words for people; its code stays in `field`.
        assert r.json()["detail"].startswith(words), (what, r.text)
        assert not any(c in field for c in "_.[") or field not in r.json()["detail"], (what, r.text)
    r = clinic.call("POST", "/patients", "nora", json=patient_body("B-1", care_area="cardiology"))
    assert r.json()["detail"].startswith("The care area: unknown care area 'cardiology' (choose pain-noncancer, ")
    assert count(clinic, AuditRecord) == writes

    pid = implanted_patient(clinic, "B-2")
    clinic.advance(days=2)
    for who in ("ada", "nora"):  # logged in again (2 days on) before counting: logins are audited
        clinic.as_(who)
    writes = count(clinic, AuditRecord)
    programs = f"/patients/{pid}/programs"
    bad_programs = [
        # a rate of the wrong kind, a quantity that is not one, a misspelt key, a drug not in the library
        (FLEX.replace('rate = "0.60 mL/day"', 'rate = "0.60 mg"'), "document.program.steps[1].rate", "mass"),
        (FLEX.replace('volume = "40 mL"', 'volume = "forty mL"'), "document.reservoir.volume", "forty mL"),
        (FLEX.replace("opioid_naive", "opiod_naive"), "document.context.opiod_naive", "unknown setting"),
        (flex_program(clonidine="100 mcg/mL").replace('"clonidine"', '"aspirin"'), "document.drugs[1].name", "aspirin"),
        (FLEX.replace('volume = "40 mL"', 'volume = "41 mL"'), "document.reservoir.volume", "40 mL"),
    ]
    for document, field, words in bad_programs:
        r = clinic.call("POST", programs, "ada", json={"document": document})
        assert (r.status_code, r.json().get("field")) == (422, field), r.text
        assert words in r.json()["detail"], r.text
    r = clinic.call("POST", programs, "ada", json={"document": FLEX.replace("[context]", "[context")})
    assert (r.status_code, r.json()["field"]) == (422, "document")
    assert r.json()["detail"].startswith("The program file: not valid TOML: ")
    r = clinic.call("POST", programs, "ada", json={"document": ""})
    assert (r.status_code, r.json()["field"]) == (422, "document")

    # Quantities as the API takes them: decimal numbers in the unit the field names.
    for body, field in (
        (prepare_body("about 20"), "volume_ml"),
        (prepare_body("40 mL"), "volume_ml"),
        ({**prepare_body(), "solution": []}, "solution"),
        ({**prepare_body(), "compounded": "perhaps"}, "compounded"),
        ({**prepare_body(), "expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # an instant needs its offset
        ({**prepare_body(), "drug_lot": ""}, "drug_lot"),
    ):
        r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=body)
        assert (r.status_code, r.json().get("field")) == (422, field), r.text
    assert count(clinic, AuditRecord) == writes  # no refused program or refill was written
    new = new_patient(clinic, "B-3")
    writes = count(clinic, AuditRecord)
    r = clinic.call(
        "POST",
        f"/patients/{new}/implants",
        "ada",
        json={**implant_body(FLEX, "2026-11-23T15:00:00Z"), "catheter_length_cm": "sixty"},
    )
    assert (r.status_code, r.json()["field"]) == (422, "catheter_length_cm")
    r = clinic.call("POST", f"/patients/{new}/implants", "ada", json=implant_body(FLEX, "2026-11-23T15:00:00"))
    assert (r.status_code, r.json()["field"]) == (422, "implanted_at")  # an instant needs its UTC offset
    r = clinic.call("POST", f"/patients/{new}/implants", "ada", json=implant_body(FLEX, "2026-11-23T15:00:00Z"))
    assert (r.status_code, r.json()["field"]) == (422, "program.reservoir.filled_at")  # the fill is at the implant
    for body, field in (
        ({"phq9": [0] * 8}, "phq9"),
        ({"phq9": [0, 0, 0, 4, 0, 0, 0, 0, 0]}, "phq9.3"),  # the schema holds each item to its scale
        ({"nrs": 11}, "nrs"),
        ({"adverse_events": [{"item": "nausea"}]}, "adverse_events.0.grade"),
    ):
        r = clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json=body)
        assert (r.status_code, r.json().get("field")) == (422, field), r.text
    r = clinic.call("PATCH", f"/patients/{pid}", "nora", json={"given_name": "Janet"})
    assert (r.status_code, r.json()["field"]) == (422, "version")
    assert count(clinic, AuditRecord) == writes
