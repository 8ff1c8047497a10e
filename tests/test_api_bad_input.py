"""Input that once gave a 500 or hung a worker: each is now a 422 naming the field, on both databases."""

from tests.api_support import patient_body
from tests.clinic_db import Clinic


def test_huge_ids_and_numbers_are_named_not_crashes(clinic: Clinic) -> None:
    r = clinic.call("GET", f"/patients/{10**30}", "nora")
    assert r.status_code == 422 and r.json()["field"] == "patient_id"
    r = clinic.call("POST", "/patients", "nora", json={**patient_body("X-1"), "oral_mme_per_day": "9" * 5000})
    assert r.status_code == 422 and r.json()["field"] == "oral_mme_per_day"
    r = clinic.call("GET", "/audit", "ada", params={"limit": -1})
    assert r.status_code == 422 and r.json()["field"] == "limit"
