"""Issue 9 through the API, on SQLite and PostgreSQL: a drug or concentration change is applied by the refill that
brings the new solution; titration windows come from the record; a refill is prepared, checked by a second person
and only then filled; volumes are bounded by the pump; interrogations are compared with the twin; a suspected
pocket fill is an urgent flag.

Each expected value is worked by hand in the comments. Baclofen runs in a 20 mL programmable pump with a 50 cm
two-piece catheter: pathway 0.2 mL + 50 × 0.0024 = 0.32 mL; accuracy ± 15 % of the volume delivered.
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest

from openidds.db.models import Flag, ProgramVersion, Refill
from openidds.service.pump import pump_state
from tests.api_support import (
    START,
    Clinic,
    audit_actions,
    baclofen,
    complete_body,
    count,
    fast_argon2,
    prepare,
    solution,
    spastic_patient,
)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def twin(clinic: Clinic, pid: int) -> Any:
    with clinic.sessions() as s:
        state = pump_state(s, pid, clinic.now)
        assert state is not None
        return state.twin


def propose_confirm_verify(clinic: Clinic, pid: int, document: str) -> dict[str, Any]:
    r = clinic.call("POST", f"/patients/{pid}/programs", "ada", json={"document": document})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    # no soft finding to wave through: a new one would stop the test here
    r = clinic.call("POST", f"/patients/{pid}/programs/{number}/confirm", "ada", json={"overrides": {}})
    assert r.status_code == 200 and r.json()["status"] == "awaiting-verification", r.text
    r = clinic.call("POST", f"/patients/{pid}/programs/{number}/verify", "phil")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# --- case 1: a concentration change goes live with the refill that brings it ---------------------------------------
@pytest.mark.parametrize(("old", "new"), [("2000 mcg/mL", "1000 mcg/mL"), ("1000 mcg/mL", "2000 mcg/mL")])
def test_a_concentration_change_waits_for_its_refill(clinic: Clinic, old: str, new: str) -> None:
    # 200 mcg/day throughout: at 2000 mcg/mL that is 0.1 mL/day, at 1000 mcg/mL 0.2 mL/day.
    pid = spastic_patient(clinic, "C-1", old)
    clinic.advance(days=10)
    v2 = propose_confirm_verify(clinic, pid, baclofen(new, "200 mcg/day", (START + timedelta(days=12)).isoformat()))
    assert (v2["status"], v2["effective_at"], v2["bridge"]) == ("awaiting-refill", None, True)

    # Before the refill the pump runs version 1, and the chart and dashboard say what waits.
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert (pump["program_version"], pump["solution"]) == (1, solution(old))
    waits = f"program v2 awaits its refill: written for baclofen {new}, pump holds baclofen {old}"
    assert pump["pending_program"] == waits
    row = next(r for r in clinic.call("GET", "/dashboard", "nora").json()["patients"] if r["patient_id"] == pid)
    assert waits in row["concerns"]
    clinic.advance(days=2)
    assert twin(clinic, pid).patient["baclofen"] == 200 * 12  # never 400 or 100 mcg/day

    # The refill with the new solution is prepared against version 2, checked, then completed: version 2 runs.
    r = prepare(clinic, pid, new)
    assert r.status_code == 201 and r.json()["program_version"] == 2, r.text
    rid = r.json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo").status_code == 200
    old_rate = Fraction(200) / (2000 if old.startswith("2000") else 1000)
    left = 20 - 12 * old_rate  # 18.8 or 17.6 mL
    r = clinic.call(
        "POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body(str(float(left)), "20")
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reconciliation"]) == ("completed", "within-band")
    with clinic.sessions() as s:
        v = s.query(ProgramVersion).filter_by(patient_id=pid, number=2).one()
        assert (v.status, v.effective_at, v.applied_by) == ("active", clinic.now, rid)
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert (pump["program_version"], pump["solution"], pump["mode"]) == (2, solution(new), "bridge-bolus")
    assert pump["pending_program"] == ""
    # The bridge keeps 200 mcg/day while the 0.32 mL of old solution runs out, then the new solution does.
    clinic.advance(days=10)
    assert twin(clinic, pid).patient["baclofen"] == 200 * 22
    assert audit_actions(clinic)[-1] == "complete-refill"  # one record: the fill and the program it starts


def test_before_the_fix_the_change_would_have_doubled_the_dose(clinic: Clinic) -> None:
    """What landed before: version 2 ran from its verification with 2000 mcg/mL still in the pump. The twin with
    the program applied at once gives 0.2 mL/day × 2000 = 400 mcg/day; applied by the refill, 200."""
    pid = spastic_patient(clinic, "C-2")
    propose_confirm_verify(clinic, pid, baclofen("1000 mcg/mL", "200 mcg/day"))
    clinic.advance(days=1)
    assert twin(clinic, pid).patient["baclofen"] == 200


def test_a_refill_with_another_solution_and_no_waiting_program_is_refused(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "C-3")
    r = prepare(clinic, pid, "500 mcg/mL")
    assert r.status_code == 422 and r.json()["field"] == "solution", r.text
    assert "no program waits for it" in r.json()["detail"]
    assert count(clinic, Refill) == 0


def test_a_waiting_program_can_be_cancelled_by_a_physician_only(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "C-4")
    propose_confirm_verify(clinic, pid, baclofen("1000 mcg/mL", "200 mcg/day"))
    path = f"/patients/{pid}/programs/2/cancel"
    assert clinic.call("POST", path, "nora", json={"reason": "wrong strength ordered"}).status_code == 403
    r = clinic.call("POST", path, "bo", json={"reason": "pharmacy has no 1000 mcg/mL"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert r.json()["closed_reason"] == "pharmacy has no 1000 mcg/mL"
    assert audit_actions(clinic)[-1] == "cancel-program"
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["pending_program"] == ""
    assert prepare(clinic, pid, "1000 mcg/mL").status_code == 422  # nothing waits for it any more
    assert clinic.call("POST", path, "bo", json={"reason": "again"}).status_code == 409


def test_turning_the_bridge_off_needs_a_reason(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "C-5")
    doc = baclofen("1000 mcg/mL", "200 mcg/day")
    r = clinic.call("POST", f"/patients/{pid}/programs", "ada", json={"document": doc, "bridge": False})
    assert r.status_code == 422 and r.json()["field"] == "bridge_off_reason", r.text
    r = clinic.call(
        "POST",
        f"/patients/{pid}/programs",
        "ada",
        json={"document": doc, "bridge": False, "bridge_off_reason": "catheter aspirated at the refill"},
    )
    assert r.status_code == 201 and (r.json()["bridge"], r.json()["bridge_off_reason"]) == (
        False,
        "catheter aspirated at the refill",
    )


def test_a_program_written_against_a_replaced_one_cannot_run(clinic: Clinic) -> None:
    # Version 2 (a concentration change) waits; meanwhile version 3 (a rate change of version 1) runs. Version 2
    # was written against version 1: it is closed, and its refill can no longer be prepared.
    pid = spastic_patient(clinic, "C-6")
    clinic.advance(days=2)  # the first program counts as an increase: the next one comes a day later at least
    propose_confirm_verify(clinic, pid, baclofen("1000 mcg/mL", "200 mcg/day"))
    r = clinic.call(
        "POST", f"/patients/{pid}/programs", "ada", json={"document": baclofen("2000 mcg/mL", "220 mcg/day")}
    )
    assert r.status_code == 201, r.text
    closes = next(f for f in r.json()["findings"] if f["code"] == "program.closes-waiting")
    assert closes["severity"] == "soft" and closes["message"].startswith(
        "if this program runs, it closes version 2 (awaiting refill: baclofen 1000 mcg/mL)"
    )
    r = clinic.call("POST", f"/patients/{pid}/programs/3/confirm", "ada", json={"overrides": {}})
    assert r.status_code == 422 and r.json()["codes"] == ["program.closes-waiting"]  # not dropped without a word
    assert "none is given for “if this program runs, it closes version 2" in r.json()["detail"]
    why = {"program.closes-waiting": "a rate change first; the new concentration later"}
    r = clinic.call("POST", f"/patients/{pid}/programs/3/confirm", "ada", json={"overrides": why})
    assert r.json()["status"] == "active", r.text
    v2 = clinic.call("GET", f"/patients/{pid}/programs/2", "nora").json()
    assert v2["status"] == "cancelled" and "version 3 replaced before it ran" in v2["closed_reason"]


# --- case 4: titration windows from the record ----------------------------------------------------------------------
def test_a_second_baclofen_increase_within_minutes_is_refused(clinic: Clinic) -> None:
    # 200 → 240 mcg/day (+20 %): fine. Minutes later 240 → 360 (+50 %, soft by itself) is a second increase inside
    # 24 h and +80 % from 200 within the window: hard, whatever the file's last_dose_change_at says.
    pid = spastic_patient(clinic, "T-1")
    clinic.advance(days=30)
    r = clinic.call(
        "POST", f"/patients/{pid}/programs", "ada", json={"document": baclofen("2000 mcg/mL", "240 mcg/day")}
    )
    assert r.status_code == 201 and [f["code"] for f in r.json()["findings"] if f["severity"] != "info"] == []
    assert clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "ada", json={"overrides": {}}).status_code == 200
    clinic.advance(minutes=5)
    doc = baclofen("2000 mcg/mL", "360 mcg/day").replace(
        "[context]\n", '[context]\nlast_dose_change_at = "2026-01-01T09:00"\n'
    )
    r = clinic.call("POST", f"/patients/{pid}/programs", "ada", json={"document": doc})
    assert r.status_code == 201, r.text
    found = {f["code"]: f for f in r.json()["findings"]}
    assert r.json()["status"] == "refused"
    assert found["titration-window.hard"]["severity"] == "hard"
    assert found["titration.cumulative-hard-max"]["severity"] == "hard"
    assert "from 200 mcg/day to 360 mcg/day (+80 %)" in found["titration.cumulative-hard-max"]["message"]


# --- case 5: the double check comes before the fill -----------------------------------------------------------------
def test_a_refill_is_not_in_the_pump_until_it_is_completed(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "R-1")
    clinic.advance(days=50)
    r = prepare(clinic, pid, "2000 mcg/mL")
    assert r.status_code == 201, r.text
    refill = r.json()
    assert (refill["status"], refill["compounded"]) == ("prepared", False)
    assert refill["compounded_reasons"] == ["every drug is a labeled product strength"]
    # Prepared (and checked) is not filled: the twin still holds 20 - 50 × 0.1 = 15 mL of the first fill.
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["reservoir_ml"] == "15"
    rid = refill["id"]
    # The preparer cannot check their own preparation.
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "nora").status_code == 403
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo")
    assert r.status_code == 200 and r.json()["status"] == "checked"
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["reservoir_ml"] == "15"
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body("15", "20"))
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["reservoir_ml"] == "20"
    # Completed once: completing or checking it again is out of order.
    again = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body("15", "20"))
    assert again.status_code == 409
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "phil").status_code == 409


def test_compounded_is_derived_and_needs_a_pharmacist_or_physician(clinic: Clinic) -> None:
    # Baclofen 1500 mcg/mL is no product strength (50, 500, 1000, 2000): diluted, so compounded. A nurse's check
    # is refused; the pharmacist's is accepted.
    pid = spastic_patient(clinic, "R-2", "1500 mcg/mL")
    r = prepare(clinic, pid, "1500 mcg/mL", compounded=False)
    assert r.status_code == 422 and r.json()["field"] == "compounded"  # not for the client to say
    r = prepare(clinic, pid, "1500 mcg/mL")
    assert r.json()["compounded"] is True, r.text
    assert r.json()["compounded_reasons"] == [
        "baclofen 1500 mcg/mL is not a product strength (50 mcg/mL, 500 mcg/mL, 1000 mcg/mL, 2000 mcg/mL)"
    ]
    rid = r.json()["id"]
    clinic.user("ned", "nurse")
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "ned").status_code == 403
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "phil").status_code == 200


def test_an_unchecked_fill_needs_an_emergency_reason_and_is_flagged(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "R-3")
    clinic.advance(days=50)
    rid = prepare(clinic, pid, "2000 mcg/mL").json()["id"]
    path = f"/patients/{pid}/refills/{rid}/complete"
    r = clinic.call("POST", path, "nora", json=complete_body("15", "20"))
    assert r.status_code == 422 and r.json()["field"] == "emergency_reason", r.text
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["reservoir_ml"] == "15"
    reason = "alarm sounding at a home visit, no second nurse"
    r = clinic.call("POST", path, "nora", json=complete_body("15", "20", emergency_reason=reason))
    assert r.status_code == 200 and r.json()["emergency_reason"] == reason, r.text
    flags = clinic.call("GET", f"/patients/{pid}/flags", "nora").json()
    assert [(f["code"], f["urgent"]) for f in flags] == [("refill.unchecked", False)]
    row = next(r for r in clinic.call("GET", "/dashboard", "nora").json()["patients"] if r["patient_id"] == pid)
    assert (
        f"review: filled without its independent double check (emergency: {reason}): review the preparation "
        "against the prescription and the label" in row["concerns"]
    )
    # The check it skipped comes afterwards, from a second person: not the nurse who filled it; a pharmacist may.
    resolve = f"/patients/{pid}/flags/{flags[0]['id']}/resolve"
    r = clinic.call("POST", resolve, "nora", json={"resolution": "fine"})
    assert (
        r.status_code == 403 and "a second person must review a fill that needs a second person" in r.json()["detail"]
    )
    r = clinic.call("POST", resolve, "phil", json={"resolution": "label and lot match the prescription"})
    assert r.status_code == 200 and r.json()["resolved_by"] != flags[0]["raised_by"], r.text


def test_an_expired_solution_is_not_prepared_or_filled(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "R-4")
    r = prepare(clinic, pid, "2000 mcg/mL", expires_at=(START - timedelta(hours=1)).isoformat())
    assert r.status_code == 422 and r.json()["field"] == "expires_at", r.text
    rid = prepare(clinic, pid, "2000 mcg/mL", expires_at=(START + timedelta(days=1)).isoformat()).json()["id"]
    clinic.advance(days=2)
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo")
    assert r.status_code == 422 and r.json()["field"] == "expires_at"


def test_more_than_was_prepared_cannot_be_filled(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "R-5")
    rid = prepare(clinic, pid, "2000 mcg/mL", volume="15").json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo").status_code == 200
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body("20", "18"))
    assert r.status_code == 422 and r.json()["field"] == "filled_ml"
    assert "more than was prepared and checked (15 mL)" in r.json()["detail"]


# --- case 6: impossible volumes ---------------------------------------------------------------------------------------
def test_volumes_above_the_pumps_capacity_are_refused(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "V-1")
    r = prepare(clinic, pid, "2000 mcg/mL", volume="25")
    assert r.status_code == 422 and r.json()["field"] == "volume_ml"
    rid = prepare(clinic, pid, "2000 mcg/mL").json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo").status_code == 200
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body("25", "20"))
    assert r.status_code == 422 and r.json()["field"] == "withdrawn_ml", r.text
    assert r.json()["detail"] == (
        "The volume withdrawn: the withdrawn volume 25 mL is more than the programmable-20 reservoir can hold (20 mL)"
    )
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reservoir_ml": "55"})
    assert r.status_code == 422 and r.json()["field"] == "reservoir_ml"


def test_an_interrogated_reservoir_outside_the_band_is_a_discrepancy(clinic: Clinic) -> None:
    # After 50 days the record expects 20 - 5 = 15 mL, band ± 15 % of 5 mL: 14.25 to 15.75 mL. The pump says 10.
    pid = spastic_patient(clinic, "V-2")
    clinic.advance(days=50)
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reservoir_ml": "15.75"})
    assert r.status_code == 201 and count(clinic, Flag) == 0
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reservoir_ml": "10"})
    assert r.status_code == 201, r.text
    flags = clinic.call("GET", f"/patients/{pid}/flags", "nora").json()
    assert [(f["code"], f["urgent"]) for f in flags] == [("interrogation.reservoir-discrepancy", False)]
    assert flags[0]["message"] == (
        "the pump reports 10 mL in the reservoir, less than the record expects (15 mL, band 14.3 to 15.8 mL)"
    )


def test_a_pump_reporting_another_program_is_an_urgent_flag(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "V-3")
    same = [{"name": "baclofen", "concentration": "2000 mcg/mL", "daily_dose": "200 mcg/day"}]
    assert clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reported": same}).status_code == 201
    assert count(clinic, Flag) == 0
    other = [{"name": "baclofen", "concentration": "1000 mcg/mL", "daily_dose": "200 mcg/day"}]
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reported": other})
    assert r.status_code == 201, r.text
    flags = clinic.call("GET", f"/patients/{pid}/flags", "nora").json()
    assert [(f["code"], f["urgent"]) for f in flags] == [("interrogation.program-mismatch", True)]
    assert (
        "baclofen: the pump was told 1000 mcg/mL, the running program is written for 2000 mcg/mL" in flags[0]["message"]
    )
    row = next(r for r in clinic.call("GET", "/dashboard", "nora").json()["patients"] if r["patient_id"] == pid)
    assert row["urgency"] == "urgent-flag"


# --- case 7: a suspected pocket fill --------------------------------------------------------------------------------
def test_a_suspected_pocket_fill_is_an_urgent_flag_with_the_drugs_action(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "P-1")
    clinic.advance(days=50)
    rid = prepare(clinic, pid, "2000 mcg/mL").json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo").status_code == 200
    body = complete_body("15", "20", pocket_fill_suspected=True, pocket_ml="5")
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=body)
    assert r.status_code == 200 and r.json()["pocket_ml"] == "5", r.text
    flag = clinic.call("GET", f"/patients/{pid}/flags", "nora").json()[0]
    # 5 mL × 2000 mcg/mL = 10,000 mcg of baclofen into the tissue.
    assert (flag["code"], flag["urgent"]) == ("refill.pocket-fill", True)
    assert flag["message"].startswith("suspected pocket fill: up to 5 mL outside the reservoir (baclofen 10000 mcg)")
    assert flag["actions"][0].startswith("Baclofen overdose now")
    assert "Withdrawal later" in flag["actions"][0]
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert (pump["reservoir_ml"], pump["pocket"]) == ("15", {"baclofen": "10000"})
    assert pump["expected_residual_ml"] == "15"  # the clinic expects only what went into the reservoir
    r = clinic.call("POST", f"/patients/{pid}/flags/{flag['id']}/resolve", "nora", json={"resolution": "ICU, observed"})
    assert r.status_code == 422  # an urgent flag is closed by a sentence: who, what was found, what was agreed
    note = "admitted to ICU by Dr Ada: observed 24 h, no respiratory depression"
    r = clinic.call("POST", f"/patients/{pid}/flags/{flag['id']}/resolve", "nora", json={"resolution": note})
    assert r.status_code == 200 and r.json()["resolution"] == note
    again = clinic.call("POST", f"/patients/{pid}/flags/{flag['id']}/resolve", "nora", json={"resolution": "again"})
    assert again.status_code == 409
