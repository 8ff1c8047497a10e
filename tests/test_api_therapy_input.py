"""Crafted input against the therapy-change use cases (issue 9), on SQLite and PostgreSQL: each is a 422 naming the
field, and nothing is written. Found by an adversarial review; each case failed (a 500 or a silent write) before
its fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

import pytest

from openidds.api.schemas import AlarmName
from openidds.db.models import Implant, Refill
from openidds.twin.records import ALARMS
from tests.api_support import (
    START,
    Clinic,
    baclofen,
    count,
    fast_argon2,
    implant_body,
    new_patient,
    prepare,
    prepare_body,
    solution,
    spastic_patient,
    through_trial,
)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def refused(r: Any, field: str) -> str:
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.text
    detail: str = r.json()["detail"]
    assert "\n" not in detail
    return detail


@pytest.mark.parametrize("lot", ["L-\x00-1", "L-\x07", "L\u202e1"])
def test_a_lot_number_with_control_characters_is_refused(clinic: Clinic, lot: str) -> None:
    # PostgreSQL cannot store a NUL at all (it was a 500); the others hide what a label says.
    pid = spastic_patient(clinic, "I-1")
    r = clinic.call(
        "POST",
        f"/patients/{pid}/refills",
        "nora",
        json={**prepare_body("20", solution("2000 mcg/mL")), "drug_lot": lot},
    )
    refused(r, "drug_lot")
    assert count(clinic, Refill) == 0


@pytest.mark.parametrize("expires", ["9999-12-31T23:59:59+00:00", "1900-01-01T00:00:00+00:00"])
def test_an_expiry_outside_any_calendar_a_clinic_uses_is_refused(clinic: Clinic, expires: str) -> None:
    pid = spastic_patient(clinic, "I-2")
    r = prepare(clinic, pid, "2000 mcg/mL", expires_at=expires)
    refused(r, "expires_at")
    assert count(clinic, Refill) == 0


@pytest.mark.parametrize("volume", ["２０", "1٫5", "٢٠"])
def test_digits_of_other_scripts_are_not_read_as_a_volume(clinic: Clinic, volume: str) -> None:
    # Python's Decimal reads "２０" as 20: a volume is typed in ASCII digits or refused, never guessed.
    pid = spastic_patient(clinic, "I-3")
    refused(prepare(clinic, pid, "2000 mcg/mL", volume=volume), "volume_ml")


def test_a_suspected_pocket_fill_needs_a_volume_above_zero(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "I-4")
    clinic.advance(days=50)
    rid = prepare(clinic, pid, "2000 mcg/mL").json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo").status_code == 200
    body = {"withdrawn_ml": "15", "filled_ml": "20", "pocket_fill_suspected": True, "pocket_ml": "0"}
    refused(clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=body), "pocket_ml")
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["reservoir_ml"] == "15"  # still unfilled


def test_unknown_alarm_names_are_refused_and_the_list_is_the_twins(clinic: Clinic) -> None:
    assert set(get_args(AlarmName)) == set(ALARMS)
    pid = spastic_patient(clinic, "I-5")
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"alarms": ["low-reservoir", "boom"]})
    assert r.status_code == 422 and r.json()["field"].startswith("alarms"), r.text
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"alarms": ["low-reservoir"]})
    assert r.status_code == 201, r.text


def test_a_program_for_another_pump_model_is_refused(clinic: Clinic) -> None:
    # The baclofen pump is a programmable-20; a file written for a 40 mL pump would be bounded by the wrong
    # reservoir and priming volumes.
    pid = spastic_patient(clinic, "I-6")
    document = baclofen("2000 mcg/mL", "210 mcg/day").replace('"programmable-20"', '"programmable-40"')
    r = clinic.call("POST", f"/patients/{pid}/programs", "ada", json={"document": document})
    detail = refused(r, "document.pump.model")
    assert detail.endswith("the program is for a programmable-40 pump; the pump in place is programmable-20")


def test_an_implant_in_the_future_or_before_the_pumps_record_is_refused(clinic: Clinic) -> None:
    pid = new_patient(clinic, "I-7", care_area="spasticity-spinal", indications=["spinal-cord-injury-spasticity"])
    future = implant_body(baclofen("2000 mcg/mL", "200 mcg/day"), START + timedelta(hours=2), "programmable-20")
    refused(clinic.call("POST", f"/patients/{pid}/implants", "ada", json=future), "implanted_at")
    assert count(clinic, Implant) == 0
    first = implant_body(baclofen("2000 mcg/mL", "200 mcg/day"), START, "programmable-20")
    through_trial(clinic, pid)
    assert clinic.call("POST", f"/patients/{pid}/implants", "ada", json=first).status_code == 201
    clinic.advance(days=30)
    rid = prepare(clinic, pid, "2000 mcg/mL").json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo").status_code == 200
    done = clinic.call(
        "POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json={"withdrawn_ml": "17", "filled_ml": "20"}
    )
    assert done.status_code == 200, done.text
    # A replacement dated before that refill would rewrite what the old pump did.
    earlier = (START + timedelta(days=10)).isoformat()
    program = baclofen("2000 mcg/mL", "200 mcg/day", filled_at=earlier)
    back = {**implant_body(program, earlier, "programmable-20"), "kind": "replacement"}
    detail = refused(clinic.call("POST", f"/patients/{pid}/implants", "ada", json=back), "implanted_at")
    assert "comes before the last record of the pump in place" in detail
    assert count(clinic, Implant) == 1
