"""The clinic service end to end on both databases: a patient from evaluation to a checked, reconciled refill."""

import re
from pathlib import Path

from tests.api_support import TRIAL, eligible_evaluation, patient_body
from tests.clinic_db import Clinic

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = re.sub(
    r'filled_at = "[^"]+"',
    'filled_at = "2026-11-21T09:00"',
    (ROOT / "examples" / "morphine-clonidine-flex.toml").read_text(),
)
PATIENT = patient_body("A-0001", family_name="Doe")


def test_evaluation_to_a_reconciled_refill(clinic: Clinic) -> None:
    r = clinic.call("POST", "/patients", "nora", json=PATIENT)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = clinic.call(
        "POST",
        f"/patients/{pid}/evaluations",
        "nora",
        json={
            "indication": "failed-back-surgery-syndrome",
            "planned_drugs": ["morphine", "clonidine"],
            "conservative_therapy_failed": True,
            "further_surgery_indicated": False,
            "psychological_evaluation": "cleared",
            "active_infection": False,
            "uncorrected_coagulopathy": False,
            "on_anticoagulants": False,
            "allergies": [],
            "active_substance_misuse": False,
            "life_expectancy_3_months_or_more": True,
            "realistic_expectations": True,
            "committed_to_refills_and_follow_up": True,
        },
    )
    assert (r.status_code, r.json()["outcome"]) == (201, "eligible"), r.text
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json=TRIAL)
    assert (r.status_code, r.json()["outcome"]) == (201, "success"), r.text  # NRS 8 → 3: 62.5 % relief
    implant = {
        "pump_model": "programmable-40",
        "pump_serial": "NGP123",
        "catheter_model": "intrathecal-one-piece",
        "catheter_length_cm": "60",
        "tip_level": "T10",
        "implanted_at": "2026-11-21T15:00:00Z",
        "surgeon": "Dr Ada",
        "program": PROGRAM,
    }
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant)
    assert r.status_code == 201, r.text
    assert clinic.call("GET", f"/patients/{pid}", "nora").json()["stage"] == "implanted"

    clinic.advance(days=30)
    # The flex program: 0.40 mL/day 00:00-07:00 and 22:00-24:00, 0.60 mL/day 07:00-22:00 → 0.525 mL/day.
    # 30 days from the fill: 40 - 30 × 0.525 = 24.25 mL expected, ± 15 % of the 15.75 mL delivered (± 2.3625 mL).
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert pump["reservoir_ml"] == "24.25" and pump["expected_residual_ml"] == "24.25"
    preparation = {
        "drug_lot": "L-77",
        "solution": [
            {"name": "morphine", "concentration": "10 mg/mL"},
            {"name": "clonidine", "concentration": "100 mcg/mL"},
        ],
        "expires_at": "2027-01-31T00:00:00-06:00",
        "volume_ml": "40",
    }
    r = clinic.call("POST", f"/patients/{pid}/refills", "phil", json=preparation)  # the pharmacy prepares it
    assert r.status_code == 201 and r.json()["status"] == "prepared", r.text
    assert r.json()["compounded"] is True  # an admixture
    rid = r.json()["id"]
    same = clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "phil")
    assert same.status_code == 403 and "second person" in same.json()["detail"]
    nurse = clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "nora")
    assert nurse.status_code == 403 and "compounded" in nurse.json()["detail"]
    other = clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "ada")
    ada = clinic.call("GET", "/auth/me", "ada").json()["id"]
    assert other.status_code == 200 and other.json()["checked_by"] == ada
    r = clinic.call(
        "POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json={"withdrawn_ml": "25.4", "filled_ml": "40"}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["expected_ml"], got["withdrawn_ml"], got["discrepancy_ml"]) == ("24.25", "25.4", "1.15")
    assert got["expected_band_ml"] == ["21.8875", "26.6125"]  # 24.25 ∓ 2.3625
    assert got["reconciliation"] == "within-band"  # 25.4 - 24.25 = 1.15 mL is inside ± 2.3625 mL

    verify = clinic.call("GET", "/audit/verify", "ada").json()
    # create, evaluation, trial, implant, then the refill prepared, checked and completed; and 5 logins
    assert verify["intact"] and verify["records"] == 12
    actions = [r["action"] for r in clinic.call("GET", "/audit", "ada").json()]
    assert [a for a in actions if a != "login"] == [
        "create-patient",
        "record-evaluation",
        "record-trial",
        "record-implant",
        "prepare-refill",
        "verify-compounded-refill",  # morphine and clonidine: an admixture
        "complete-refill",
    ]


def test_every_record_can_be_read_alone_and_only_by_whom_may(clinic: Clinic) -> None:
    pid = clinic.call("POST", "/patients", "nora", json=PATIENT).json()["id"]
    other = clinic.call("POST", "/patients", "nora", json={**PATIENT, "mrn": "A-0002"}).json()["id"]
    trial = {
        "method": "single-shot-bolus",
        "therapy": "pain",
        "drug": "morphine",
        "baseline_nrs": 6,
        "doses": [{"dose": "0.2 mg", "observation_hours": 8, "nrs": 4}],
    }
    body = eligible_evaluation("failed-back-surgery-syndrome", ["morphine"])
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body).status_code == 201
    made = clinic.call("POST", f"/patients/{pid}/trials", "ada", json=trial).json()
    got = clinic.call("GET", f"/patients/{pid}/trials/{made['id']}", "nora")
    assert got.status_code == 200 and got.json()["outcome"] == "failure"  # NRS 6 → 4: 33 % relief < 50 %
    assert clinic.call("GET", f"/patients/{other}/trials/{made['id']}", "nora").status_code == 404
    assert clinic.call("GET", f"/patients/{pid}/gadgets/1", "nora").status_code == 404
    assert clinic.call("GET", f"/patients/{pid}/programs/1", "nora").status_code == 404  # none yet
    assert clinic.call("GET", f"/patients/{pid}/refills/1", "nora").status_code == 404
