"""Refill visits through the API, on SQLite and PostgreSQL: the expected residual from the twin against the
volume withdrawn, the accuracy band and likely causes, the next refill due, and the refills that are refused.
Each refill is prepared, checked by a second person and completed (tests/api_support.refill); the steps
themselves are tested in tests/test_api_therapy_changes.py.

The patient is the README's flex example filled with 40 mL at START (2026-11-21 09:00 CST), 0.525 mL/day. Every
refill is 30 days after the last at 09:00 CST (no clock change until 2027-03-14), so each time 30 × 0.525 =
15.75 mL was delivered and 40 - 15.75 = 24.25 mL is expected. The programmable pump's accuracy is ± 15 % of the
delivered volume: ± 2.3625 mL, a band of 21.8875 to 26.6125 mL.
"""

from __future__ import annotations

import pytest

from openidds.db.models import AuditRecord, Refill
from tests.api_support import (
    CONCENTRATED_SOLUTION,
    Clinic,
    complete_body,
    count,
    fast_argon2,
    implanted_patient,
    new_patient,
    prepare_body,
    refill,
)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


LESS = [
    "over-infusion: the pump delivered more than programmed",
    "pocket fill at the last refill: part of the fill went outside the reservoir",
    "the last fill volume was recorded higher than given",
]
MORE = [
    "under-infusion or a stalled pump: less was delivered than programmed",
    "a catheter occlusion: nothing left the pump while it ran",
    "the pump was stopped or at minimum rate for a while",
    "the last fill volume was recorded lower than given",
]


def test_withdrawn_against_expected_and_the_next_refill_due(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "R-1")
    path = f"/patients/{pid}/refills"

    clinic.advance(days=30)  # 2026-12-21 09:00 CST
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert pump["expected_residual_ml"] == "24.25"
    # 15 mL withdrawn, 9.25 mL less than expected: the pump gave more than programmed, or the last fill
    # went partly into the pocket.
    first = refill(clinic, pid, "15")
    assert (first["expected_ml"], first["expected_band_ml"]) == ("24.25", ["21.8875", "26.6125"])
    assert (first["withdrawn_ml"], first["filled_ml"]) == ("15", "40")
    assert (first["reconciliation"], first["discrepancy_ml"], first["likely_causes"]) == (
        "less-than-expected",
        "-9.25",
        LESS,
    )
    # Refilled with 40 mL at 09:00 CST, the worst case (0.585 mL/day with every allowed bolus) reaches the 2 mL
    # alarm after 38 mL: 64 days give 37.44 mL; the last 0.56 mL runs 09:00-22:00 at 0.66 (0.3575 mL), 22:00-07:00
    # at 0.46 (0.1725 mL) and 0.03 mL at 0.66 mL/day (1 h 5 min 27.27 s): 2027-02-24 08:05:27.272728 CST.
    # Stability (90 days) runs out later, on 2027-03-21.
    assert first["next_refill_due"] == "2027-02-24T14:05:27.272728+00:00"
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert (pump["reservoir_ml"], pump["next_refill_due"]) == ("40", "2027-02-24T14:05:27.272728+00:00")
    assert pump["refill_reason"] == "worst-case low-reservoir alarm"

    clinic.advance(days=30)  # 2027-01-20: 30 mL withdrawn, 5.75 mL more than expected
    second = refill(clinic, pid, "30", filler="bo", checker="phil")
    assert (second["expected_ml"], second["reconciliation"], second["discrepancy_ml"]) == (
        "24.25",
        "more-than-expected",
        "5.75",
    )
    assert second["likely_causes"] == MORE

    clinic.advance(days=30)  # 2027-02-19: 21.8875 mL, the band's lower edge, 2.3625 mL less: still within
    third = refill(clinic, pid, "21.8875")
    assert (third["reconciliation"], third["discrepancy_ml"], third["likely_causes"]) == ("within-band", "-2.3625", [])

    # Across the spring-forward change (2027-03-14): 2027-02-19 09:00 CST to 2027-03-21 15:00 UTC = 10:00 CDT is
    # 720 h, and the wall clock gains 09:00-10:00 at 0.6 mL/day and skips 02:00-03:00 at 0.4 mL/day:
    # 15.75 + 0.6/24 - 0.4/24 = 15.7583333 mL delivered, 24.2416667 mL expected, band ± 2.36375 mL.
    clinic.advance(days=30)
    fourth = refill(clinic, pid, "21.8875")
    assert (fourth["expected_ml"], fourth["expected_band_ml"]) == ("24.2416667", ["21.8779167", "26.6054167"])
    assert (fourth["reconciliation"], fourth["discrepancy_ml"]) == (
        "within-band",
        "-2.35416667",
    )  # 9 significant digits

    listed = clinic.call("GET", path, "phil").json()
    assert [x["withdrawn_ml"] for x in listed] == ["15", "30", "21.8875", "21.8875"]
    assert [x["id"] for x in listed] == [first["id"], second["id"], third["id"], fourth["id"]]


def test_refused_refills_write_nothing(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "R-2")
    clinic.advance(days=30)
    path = f"/patients/{pid}/refills"
    clinic.as_("nora")  # logged in again (30 days on) before counting: a login is audited too
    audit_before = count(clinic, AuditRecord)

    r = clinic.call("POST", path, "nora", json=prepare_body("40.5"))  # the reservoir holds 40 mL
    assert (r.status_code, r.json()["field"]) == (422, "volume_ml"), r.text
    assert r.json()["detail"] == (
        "The volume prepared: the volume to fill 40.5 mL is more than the programmable-40 reservoir can hold (40 mL)"
    )
    r = clinic.call("POST", path, "nora", json=prepare_body("0"))
    assert (r.status_code, r.json()["field"]) == (422, "volume_ml")

    for solution in (CONCENTRATED_SOLUTION, [{"name": "morphine", "concentration": "10 mg/mL"}]):
        r = clinic.call("POST", path, "nora", json=prepare_body(solution=solution))
        assert (r.status_code, r.json()["field"]) == (422, "solution"), r.text
        assert r.json()["detail"].startswith("The solution: differs from the running program's solution")
    twice = [{"name": "morphine", "concentration": "10 mg/mL"}, {"name": "morphine", "concentration": "20 mg/mL"}]
    r = clinic.call("POST", path, "nora", json=prepare_body(solution=twice))
    assert (r.status_code, r.json()["field"]) == (422, "solution[1].name"), r.text
    assert (
        r.json()["detail"].startswith("Drug 2 of the solution: ") and "morphine is listed twice" in r.json()["detail"]
    )
    assert (count(clinic, Refill), count(clinic, AuditRecord)) == (0, audit_before)

    rid = clinic.call("POST", path, "nora", json=prepare_body()).json()["id"]
    clinic.call("POST", f"{path}/{rid}/check", "bo")
    done = f"{path}/{rid}/complete"
    written = (count(clinic, Refill), count(clinic, AuditRecord))
    r = clinic.call("POST", done, "nora", json=complete_body("-1"))  # not a volume
    assert (r.status_code, r.json()["field"]) == (422, "withdrawn_ml")
    r = clinic.call("POST", done, "nora", json=complete_body("24 mL"))  # the field is in mL already
    assert (r.status_code, r.json()["field"]) == (422, "withdrawn_ml")
    r = clinic.call("POST", done, "nora", json=complete_body("24", filled="0"))
    assert (r.status_code, r.json()["field"]) == (422, "filled_ml")
    assert (count(clinic, Refill), count(clinic, AuditRecord)) == written
    assert clinic.call("GET", f"{path}/{rid}", "nora").json()["status"] == "checked"

    no_pump = new_patient(clinic, "R-3")
    r = clinic.call("POST", f"/patients/{no_pump}/refills", "nora", json=prepare_body())
    assert r.status_code == 409 and r.json()["detail"] == "no pump is programmed for this patient"
