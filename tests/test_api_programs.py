"""Programming sessions through the API, on SQLite and PostgreSQL: propose → findings and diff → overrides →
confirm (→ second user's verification for a new solution) → the pump twin runs it. Versions are immutable.

The patient is the README's flex example, filled with 40 mL at START (2026-11-21 09:00 CST): 0.525 mL/day.
"""

from __future__ import annotations

import pytest

from tests.api_support import (
    CONCENTRATED,
    CONCENTRATED_SOLUTION,
    FLEX,
    FLEX_SOLUTION,
    START,
    Clinic,
    audit_actions,
    continuous_flex,
    fast_argon2,
    implanted_patient,
    refill,
)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def ids(clinic: Clinic) -> dict[str, int]:
    return {name: clinic.call("GET", "/auth/me", name).json()["id"] for name in ("ada", "bo", "nora", "phil")}


def test_propose_override_confirm_and_a_refused_program(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "P-1")
    clinic.advance(days=2)  # 2026-11-23 09:00 CST: 2 × 0.525 = 1.05 mL delivered

    # 0.7 mL/day continuous: morphine 7 mg/day, (7 - 5.25) / 5.25 = +33.3 % (soft limit 20 %, hard 50 %);
    # clonidine 52.5 → 70 mcg/day, the same step.
    r = clinic.call("POST", f"/patients/{pid}/programs", "nora", json={"document": continuous_flex("0.7 mL/day")})
    assert r.status_code == 201, r.text
    proposed = r.json()
    assert (proposed["number"], proposed["status"], proposed["needs_second"]) == (2, "proposed", False)
    assert [(f["severity"], f["code"]) for f in proposed["findings"]] == [
        ("soft", "titration.soft-max"),
        ("soft", "titration.soft-max"),
    ]
    assert proposed["findings"][0]["message"].startswith("morphine rises from 5.25 mg/day to 7 mg/day (+33.3 %)")
    assert proposed["findings"][1]["message"].startswith("clonidine rises from 52.5 mcg/day to 70 mcg/day (+33.3 %)")
    diff = {d["setting"]: (d["old"], d["new"], d["changed"]) for d in proposed["diff"]}
    assert diff["mode"] == ("flex (period: day)", "continuous", True)
    assert diff["rate"] == ("—", "0.7 mL/day (7 mg/day morphine)", True)
    assert diff["rate from 07:00"] == ("0.6 mL/day (6 mg/day morphine)", "—", True)
    assert diff["daily volume"] == ("0.525 mL/day", "0.7 mL/day", True)
    assert diff["daily volume, worst case"] == ("0.585 mL/day", "0.76 mL/day", True)  # + 3 × 0.02 mL
    assert diff["morphine daily dose"] == ("5.25 mg/day", "7 mg/day", True)
    assert diff["morphine concentration"] == ("10 mg/mL", "10 mg/mL", False)
    assert diff["patient boluses per day"] == ("3", "3", False)

    path = f"/patients/{pid}/programs/2/confirm"
    for who in ("nora", "ada"):  # logged in before counting: a login is audited too
        clinic.as_(who)
    writes = len(audit_actions(clinic))
    r = clinic.call("POST", path, "nora", json={"overrides": {"titration.soft-max": "reviewed"}})
    assert r.status_code == 403
    assert r.json()["detail"] == "a nurse cannot confirm a proposed pump program (allowed: a physician)"
    for overrides in ({}, {"titration.soft-max": "   "}):
        r = clinic.call("POST", path, "ada", json={"overrides": overrides})
        assert r.status_code == 422 and r.json()["field"] == "overrides", r.text
        # The findings in words (both drugs rise by a third, one code); the code is in `codes`.
        assert r.json()["detail"] == (
            "The override reasons: each soft finding needs a reason; none is given for “morphine rises from "
            "5.25 mg/day to 7 mg/day (+33.3 %); soft limit 20 % (policy, openidds-policy [U]) per 24 h: needs an "
            "override reason”; “clonidine rises from 52.5 mcg/day to 70 mcg/day (+33.3 %); soft limit 20 % (policy, "
            "openidds-policy [U]) per 24 h: needs an override reason”"
        )
        assert r.json()["codes"] == ["titration.soft-max"]
    r = clinic.call("POST", path, "ada", json={"overrides": {"titration.soft-max": "ok", "daily-dose.soft-max": "x"}})
    assert (r.status_code, r.json()["field"]) == (422, "overrides")
    assert r.json()["detail"] == "The override reasons: 1 reason is for findings this program does not have"
    assert r.json()["codes"] == ["daily-dose.soft-max"]
    assert len(audit_actions(clinic)) == writes, audit_actions(clinic)[writes:]  # refused: nothing written

    reason = "breakthrough pain on the flex program, reviewed with the patient"
    r = clinic.call("POST", path, "ada", json={"overrides": {"titration.soft-max": reason}})
    assert r.status_code == 200, r.text
    confirmed = r.json()
    assert confirmed["status"] == "active" and confirmed["overrides"] == {"titration.soft-max": reason}
    assert confirmed["confirmed_by"] == ids(clinic)["ada"]
    assert confirmed["effective_at"] == "2026-11-23T15:00:00+00:00"
    # ids() logs every user in to read their ids: logins are audited too
    assert [a for a in audit_actions(clinic)[writes:] if a != "login"] == ["confirm-program"]
    versions = clinic.call("GET", f"/patients/{pid}/programs", "nora").json()
    assert [(v["number"], v["status"]) for v in versions] == [(1, "superseded"), (2, "active")]

    # Immutable: a confirmed version cannot be confirmed again, and there is no way to edit one.
    again = clinic.call("POST", path, "bo", json={"overrides": {"titration.soft-max": "again"}})
    assert again.status_code == 409 and again.json()["detail"] == "program version 2 is active, not proposed"
    for method in ("PUT", "PATCH", "DELETE"):
        assert clinic.call(method, f"/patients/{pid}/programs/2", "ada", json={"document": FLEX}).status_code in (
            404,
            405,
        )
    paths = clinic.client.get("/api/v1/openapi.json").json()["paths"]
    assert {m for p, ops in paths.items() if "/programs" in p for m in ops} == {"get", "post"}

    # The twin runs it: 1.05 mL under the flex program, then 1 day at 0.7 mL/day → 40 - 1.75 = 38.25 mL.
    clinic.advance(days=1)
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert (pump["reservoir_ml"], pump["expected_residual_ml"]) == ("38.25", "38.25")

    # 2.5 mL/day = 25 mg/day of morphine: above the 20 mg/day hard maximum for non-cancer pain. Kept, refused.
    r = clinic.call("POST", f"/patients/{pid}/programs", "ada", json={"document": continuous_flex("2.5 mL/day")})
    assert r.status_code == 201, r.text
    refused = r.json()
    assert (refused["number"], refused["status"]) == (3, "refused")
    assert "morphine daily dose 25 mg/day is above the hard maximum 20 mg/day" in refused["closed_reason"]
    assert ("hard", "daily-dose.hard-max") in [(f["severity"], f["code"]) for f in refused["findings"]]
    r = clinic.call("POST", f"/patients/{pid}/programs/3/confirm", "ada", json={"overrides": {}})
    assert r.status_code == 409 and r.json()["detail"] == "program version 3 is refused, not proposed"
    clinic.advance(days=1)  # still the 0.7 mL/day program: 38.25 - 0.7 = 37.55 mL
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert pump["reservoir_ml"] == "37.55"
    versions = clinic.call("GET", f"/patients/{pid}/programs", "nora").json()
    assert [(v["number"], v["status"]) for v in versions] == [(1, "superseded"), (2, "active"), (3, "refused")]
    assert versions[1]["document"] == continuous_flex("0.7 mL/day")  # exactly what was confirmed


def test_a_concentration_change_needs_a_second_users_verification(clinic: Clinic) -> None:
    who = ids(clinic)
    pid = implanted_patient(clinic, "P-2")
    clinic.advance(days=2)  # 1.05 mL delivered: 38.95 mL left

    r = clinic.call("POST", f"/patients/{pid}/programs", "bo", json={"document": CONCENTRATED})
    assert r.status_code == 201, r.text
    proposed = r.json()
    assert (proposed["status"], proposed["needs_second"]) == ("proposed", True)
    assert {f["severity"] for f in proposed["findings"]} == {"info"}  # nothing to override
    assert [f["message"] for f in proposed["findings"] if f["code"] == "concentration.changed"] == [
        "morphine concentration changes from 10 mg/mL to 20 mg/mL: a second clinician must verify, and the old "
        "solution in pump and catheter needs a bridge bolus",
        "clonidine concentration changes from 100 mcg/mL to 200 mcg/mL: a second clinician must verify, and the old "
        "solution in pump and catheter needs a bridge bolus",
    ]
    diff = {d["setting"]: (d["old"], d["new"]) for d in proposed["diff"]}
    assert diff["morphine concentration"] == ("10 mg/mL", "20 mg/mL")
    # 0.28875 mL/day × 20 mg/mL = 5.775 mg/day, shown to 3 significant figures (half up)
    assert diff["morphine daily dose"] == ("5.25 mg/day", "5.78 mg/day")

    verify = f"/patients/{pid}/programs/2/verify"
    r = clinic.call("POST", verify, "phil")  # not confirmed yet: out of order, not an input error
    assert r.status_code == 409 and r.json()["detail"] == "program version 2 is proposed, not awaiting verification"

    r = clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "ada", json={})
    assert r.status_code == 200 and r.json()["status"] == "awaiting-verification", r.text
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert pump["reservoir_ml"] == "38.95"  # the flex program still runs

    for name in ("bo", "ada"):  # the proposer, the confirmer
        r = clinic.call("POST", verify, name)
        assert r.status_code == 403, r.text
        assert r.json()["detail"] == (
            "a second person must verify a change of drug concentration: it was proposed or recorded by the same "
            f"user ({who[name]})"
        )
    r = clinic.call("POST", verify, "nora")
    assert r.status_code == 403
    assert (
        r.json()["detail"]
        == "a nurse cannot verify a change of drug concentration (allowed: a physician, a pharmacist)"
    )

    r = clinic.call("POST", verify, "phil")
    assert r.status_code == 200, r.text
    # Verified, it waits for the refill that brings 20 mg/mL: the pump still holds 10 mg/mL.
    assert (r.json()["status"], r.json()["verified_by"]) == ("awaiting-refill", who["phil"])
    assert clinic.call("POST", verify, "phil").status_code == 409  # once
    assert clinic.call("GET", f"/patients/{pid}/pump", "nora").json()["program_version"] == 1

    # The same visit: the old solution is withdrawn and the new one filled, which starts version 2.
    first = refill(clinic, pid, "38.9", solution=CONCENTRATED_SOLUTION, checker="phil")
    assert (first["program_version"], first["expected_ml"], first["reconciliation"]) == (2, "38.95", "within-band")
    # Worst case 0.31875 mL/day: 38 mL last 119 days, so the 90-day stability of morphine decides:
    # 2026-11-23 15:00 UTC + 90 days.
    assert first["next_refill_due"] == "2027-02-21T15:00:00+00:00"
    versions = clinic.call("GET", f"/patients/{pid}/programs", "nora").json()
    assert (versions[1]["status"], versions[1]["effective_at"], versions[1]["bridge"]) == (
        "active",
        "2026-11-23T15:00:00+00:00",
        True,
    )

    # The bridge: the 0.332 mL of 10 mg/mL in pump and catheter runs at twice the new rates (0.66 mL/day from
    # 09:00 CST), 0.332 / 0.66 = 0.50303 day, while version 2 alone would have given half of it (0.166 mL). Over
    # 10 days version 2 gives 10 × 0.28875 = 2.8875 mL: 40 - 2.8875 - 0.166 = 36.9465 mL left.
    clinic.advance(days=10)
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert pump["reservoir_ml"] == "36.9465"
    assert pump["solution"] == CONCENTRATED_SOLUTION

    # Back to the first solution: a second change, verified by the other physician, brought by its refill.
    r = clinic.call("POST", f"/patients/{pid}/programs", "nora", json={"document": FLEX})
    assert r.status_code == 201 and r.json()["needs_second"], r.text
    assert clinic.call("POST", f"/patients/{pid}/programs/3/confirm", "ada", json={}).status_code == 200
    assert clinic.call("POST", f"/patients/{pid}/programs/3/verify", "ada").status_code == 403
    assert clinic.call("POST", f"/patients/{pid}/programs/3/verify", "bo").status_code == 200
    refill(clinic, pid, "37", checker="phil")
    # Bridge at half the new rates (0.3 mL/day 07-22, 0.2 otherwise) until 0.332 mL of 20 mg/mL has run out;
    # version 3 alone would have given twice that (0.664 mL) meanwhile. Two days of version 3 give 1.05 mL:
    # 40 - 1.05 + 0.664 - 0.332 = 39.282 mL.
    clinic.advance(days=2)
    pump = clinic.call("GET", f"/patients/{pid}/pump", "nora").json()
    assert (pump["reservoir_ml"], pump["solution"]) == ("39.282", FLEX_SOLUTION)
    versions = clinic.call("GET", f"/patients/{pid}/programs", "nora").json()
    assert [(v["number"], v["status"]) for v in versions] == [(1, "superseded"), (2, "superseded"), (3, "active")]
    assert START.isoformat() == versions[0]["effective_at"]
