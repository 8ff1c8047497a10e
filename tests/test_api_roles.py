"""The role × action matrix, in full, through the HTTP API, on SQLite and PostgreSQL.

The expected answer for every action and role is written out here by hand from the issue (not read from
openidds.clinic.roles.MATRIX): 2xx allowed, 403 forbidden with the reason, and 404 for a patient reaching
another patient's record. Each action is exercised by a real call that succeeds for the roles allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from openidds.clinic.roles import ACTIONS, ROLES
from openidds.db.models import AuditRecord
from tests.api_support import (
    CONCENTRATED,
    FLEX,
    TRIAL,
    Clinic,
    count,
    fast_argon2,
    implant_body,
    implanted_patient,
    new_patient,
    patient_body,
    refill_body,
)
from tests.clinic_db import PASSWORD


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


# Who acts for each role. "pat" is the patient whose record is P; Q is another patient's record.
USER = {"admin": "root", "physician": "ada", "nurse": "nora", "pharmacist": "phil", "patient": "pat"}
ARTICLE = {
    "admin": "an admin",
    "physician": "a physician",
    "nurse": "a nurse",
    "pharmacist": "a pharmacist",
    "patient": "a patient",
}

A, P, N, PH, PT = "admin", "physician", "nurse", "pharmacist", "patient"
# The matrix, by hand: the HTTP status each role gets (the patient on their own record).
EXPECTED: dict[str, dict[str, int]] = {
    "read-patient": {A: 403, P: 200, N: 200, PH: 200, PT: 200},
    "create-patient": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "record-evaluation": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "record-trial": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "record-implant": {A: 403, P: 201, N: 403, PH: 403, PT: 403},
    "propose-program": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "confirm-program": {A: 403, P: 200, N: 403, PH: 403, PT: 403},  # a nurse cannot confirm a program
    "verify-concentration-change": {A: 403, P: 200, N: 403, PH: 200, PT: 403},
    "record-refill": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "verify-refill": {A: 403, P: 200, N: 200, PH: 200, PT: 403},
    "verify-compounded-refill": {A: 403, P: 200, N: 403, PH: 200, PT: 403},  # pharmacist or physician only
    "record-follow-up": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "submit-questionnaire": {A: 403, P: 201, N: 201, PH: 403, PT: 201},
    "request-bolus": {A: 403, P: 403, N: 403, PH: 403, PT: 201},
    "read-dashboard": {A: 403, P: 200, N: 200, PH: 200, PT: 403},
    "read-audit": {A: 200, P: 200, N: 403, PH: 403, PT: 403},
    "manage-users": {A: 201, P: 403, N: 403, PH: 403, PT: 403},
}
# Actions on one patient's record: a patient naming another patient's id gets 404, as if it did not exist.
ON_A_RECORD = {a for a in EXPECTED if a not in ("create-patient", "read-dashboard", "read-audit", "manage-users")}
# Reads append nothing to the audit trail; every other action allowed appends exactly one record.
READ_ACTIONS = {"read-patient", "read-dashboard", "read-audit"}


class Matrix:
    """The calls, with what each needs set up (proposed programs, refills to verify …) made beforehand."""

    def __init__(self, clinic: Clinic) -> None:
        self.c = clinic
        self.own = implanted_patient(clinic, "M-P")
        self.other = implanted_patient(clinic, "M-Q")
        clinic.user("pat", "patient", self.own)
        clinic.user("quinn", "patient", self.other)
        clinic.user("nina", "nurse")
        self.fresh = 0
        self.program = 0  # the version to confirm or verify next
        self.refill = 0  # the refill the next role allowed verifies
        self.unimplanted = 0
        clinic.advance(hours=1)

    def post(self, who: str, path: str, body: Any = None) -> Any:
        return self.c.call("POST", path, who, json=body)

    # --- one call per action --------------------------------------------------------------------------------------
    def read_patient(self, who: str, pid: int) -> Any:
        return self.c.call("GET", f"/patients/{pid}", who)

    def create_patient(self, who: str, pid: int) -> Any:
        self.fresh += 1
        return self.post(who, "/patients", patient_body(f"M-{self.fresh}"))

    def record_evaluation(self, who: str, pid: int) -> Any:
        return self.post(
            who, f"/patients/{pid}/evaluations", {"indication": "cancer-pain", "planned_drugs": ["morphine"]}
        )

    def record_trial(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/trials", TRIAL)

    def before_record_implant(self, role: str) -> None:
        self.unimplanted = new_patient(self.c, "M-IMPLANT")

    def record_implant(self, who: str, pid: int) -> Any:
        if who != "pat":  # a new patient to implant (the patient can only name a record: theirs or another's)
            pid = self.unimplanted
        fill = self.c.now.isoformat()
        document = FLEX.replace('filled_at = "2026-11-21T09:00"', f'filled_at = "{fill}"')
        return self.post(who, f"/patients/{pid}/implants", implant_body(document, fill))

    def propose_program(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/programs", {"document": FLEX})

    def before_confirm_program(self, role: str) -> None:
        self.program = self.post("nora", f"/patients/{self.own}/programs", {"document": FLEX}).json()["number"]

    def confirm_program(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/programs/{self.program}/confirm", {"overrides": {}})

    def before_verify_concentration_change(self, role: str) -> None:
        """For each role allowed: proposed by the nurse and confirmed by bo, so ada and phil are second persons."""
        document = CONCENTRATED if role == P else FLEX  # there and back again
        self.program = self.post("nora", f"/patients/{self.own}/programs", {"document": document}).json()["number"]
        r = self.post("bo", f"/patients/{self.own}/programs/{self.program}/confirm", {})
        assert r.json()["status"] == "awaiting-verification", r.text

    def verify_concentration_change(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/programs/{self.program}/verify")

    def record_refill(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/refills", refill_body("39.9"))

    def _refill(self, who: str, compounded: bool) -> int:
        r = self.post(who, f"/patients/{self.own}/refills", {**refill_body("39.9"), "compounded": compounded})
        assert r.status_code == 201, r.text
        refill_id: int = r.json()["id"]
        return refill_id

    def before_verify_refill(self, role: str) -> None:
        # recorded by someone other than the verifier: nora's for ada and phil, ada's for nora
        self.refill = self._refill("ada" if role == N else "nora", compounded=False)

    def verify_refill(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/refills/{self.refill}/verify")

    def before_verify_compounded_refill(self, role: str) -> None:
        self.refill = self._refill("nina", compounded=True)  # a nurse records; nora is not the recorder

    def verify_compounded_refill(self, who: str, pid: int) -> Any:
        return self.verify_refill(who, pid)

    def record_follow_up(self, who: str, pid: int) -> Any:  # an interrogation is recorded like a follow-up
        return self.post(who, f"/patients/{pid}/interrogations", {"reservoir_ml": "39.5", "alarms": []})

    def submit_questionnaire(self, who: str, pid: int) -> Any:  # the care team entering it: record-follow-up
        return self.post(who, f"/patients/{pid}/follow-ups", {"nrs": 4, "phq9": [0] * 9})

    def request_bolus(self, who: str, pid: int) -> Any:
        self.c.advance(minutes=1)
        return self.post(who, f"/patients/{pid}/remote-requests")

    def read_dashboard(self, who: str, pid: int) -> Any:
        return self.c.call("GET", "/dashboard", who)

    def read_audit(self, who: str, pid: int) -> Any:
        return self.c.call("GET", "/audit/verify", who)

    def manage_users(self, who: str, pid: int) -> Any:
        self.fresh += 1
        body = {"username": f"user{self.fresh}", "full_name": "New User", "role": "nurse", "password": PASSWORD}
        return self.post(who, "/users", body)


def test_every_role_and_action_through_the_api(clinic: Clinic) -> None:
    assert set(EXPECTED) == set(ACTIONS) and all(set(row) == set(ROLES) for row in EXPECTED.values())
    m = Matrix(clinic)
    seen = 0
    for action, row in EXPECTED.items():
        name = action.replace("-", "_")
        call: Callable[[str, int], Any] = getattr(m, name)
        prepare: Callable[[str], None] | None = getattr(m, "before_" + name, None)
        allowed = [role for role in ROLES if row[role] < 400]
        forbidden = [role for role in ROLES if row[role] >= 400]
        # Forbidden first, on what the first allowed role will act on (they must change nothing); then each
        # role allowed, each on its own fresh thing to act on.
        for i, role in enumerate([*forbidden, *allowed]):
            if prepare is not None and (i == 0 or role in allowed[1:]):
                prepare(allowed[0] if i == 0 else role)
            writes = count(clinic, AuditRecord)
            r = call(USER[role], m.own)
            seen += 1
            assert r.status_code == row[role], (action, role, r.text)
            if r.status_code == 403:
                assert r.json()["detail"].startswith(f"{ARTICLE[role]} cannot "), (action, role, r.text)
                assert count(clinic, AuditRecord) == writes, (action, role)
            else:
                appended = 0 if action in READ_ACTIONS else 1
                assert count(clinic, AuditRecord) == writes + appended, (action, role)
        if action in ON_A_RECORD:
            writes = count(clinic, AuditRecord)
            r = call("pat", m.other)
            assert r.status_code == 404 and r.json()["detail"].startswith("no "), (action, r.text)
            assert count(clinic, AuditRecord) == writes, action
    assert seen == len(ACTIONS) * len(ROLES)


READS = (
    "",
    "/pump",
    "/programs",
    "/refills",
    "/follow-ups",
    "/evaluations",
    "/trials",
    "/implants",
    "/interrogations",
    "/remote-requests",
)


def test_a_patient_sees_and_acts_only_on_their_own_record(clinic: Clinic) -> None:
    own = implanted_patient(clinic, "O-1")
    other = implanted_patient(clinic, "O-2")
    clinic.user("pat", "patient", own)
    clinic.advance(hours=1)
    r = clinic.call("POST", f"/patients/{other}/follow-ups", "nora", json={"phq9": [0, 0, 0, 0, 0, 0, 0, 0, 2]})
    flag = r.json()["id"]
    refill = clinic.call("POST", f"/patients/{other}/refills", "nora", json=refill_body("39.9")).json()["id"]

    assert [p["id"] for p in clinic.call("GET", "/patients", "pat").json()] == [own]
    assert [p["id"] for p in clinic.call("GET", "/patients", "phil").json()] == [own, other]
    missing = 10_000  # no such record at all: the same answer, so a patient cannot learn which ids exist
    for path in READS:
        assert clinic.call("GET", f"/patients/{own}{path}", "pat").status_code == 200, path
        for pid in (other, missing):
            r = clinic.call("GET", f"/patients/{pid}{path}", "pat")
            assert (r.status_code, r.json()) == (404, {"detail": "no such patient"}), (path, r.text)

    # Acting on another patient's record: 404, and nothing happens there.
    attempts = [
        ("POST", f"/patients/{other}/remote-requests", None),
        ("POST", f"/patients/{other}/follow-ups", {"phq9": [0] * 9}),
        ("POST", f"/patients/{other}/follow-ups/{flag}/resolve", None),
        ("PATCH", f"/patients/{other}", {"version": 1, "given_name": "X"}),
        ("POST", f"/patients/{other}/programs", {"document": FLEX}),
        ("POST", f"/patients/{other}/programs/1/confirm", {}),
        ("POST", f"/patients/{other}/programs/1/verify", None),
        ("POST", f"/patients/{other}/refills", refill_body("1")),
        ("POST", f"/patients/{other}/refills/{refill}/verify", None),
        ("POST", f"/patients/{other}/interrogations", {}),
    ]
    for method, path, body in attempts:
        r = clinic.call(method, path, "pat", json=body)
        assert (r.status_code, r.json()) == (404, {"detail": "no such patient"}), (method, path, r.text)
    assert clinic.call("GET", f"/patients/{other}/remote-requests", "nora").json() == []
    assert len(clinic.call("GET", f"/patients/{other}/follow-ups", "nora").json()) == 1
    assert clinic.call("GET", f"/patients/{other}/refills", "nora").json()[0]["verified_by"] is None
    assert clinic.call("GET", f"/patients/{other}", "nora").json()["given_name"] == "Jane"

    # On their own record: reads, the remote and questionnaires; nothing a clinician does.
    assert clinic.call("POST", f"/patients/{own}/remote-requests", "pat").status_code == 201
    r = clinic.call("POST", f"/patients/{own}/follow-ups", "pat", json={"nrs": 5, "phq9": [1] * 8 + [0]})
    assert r.status_code == 201 and r.json()["recorded_by"] == clinic.call("GET", "/auth/me", "pat").json()["id"]
    for method, path, body, reason in (
        ("PATCH", f"/patients/{own}", {"version": 1, "given_name": "X"}, "create a patient record"),
        ("POST", f"/patients/{own}/programs", {"document": FLEX}, "propose a pump program"),
        ("POST", f"/patients/{own}/refills", refill_body("1"), "record a refill"),
        ("POST", f"/patients/{own}/interrogations", {}, "record a follow-up visit"),
    ):
        r = clinic.call(method, path, "pat", json=body)
        assert r.status_code == 403 and r.json()["detail"].startswith(f"a patient cannot {reason} "), (path, r.text)
    for path in ("/dashboard", "/audit", "/audit/verify"):
        assert clinic.call("GET", path, "pat").status_code == 403


def test_second_person_checks(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "S-1")
    clinic.user("nina", "nurse")
    who = {n: clinic.call("GET", "/auth/me", n).json()["id"] for n in ("ada", "bo", "nora")}
    clinic.advance(hours=1)

    # A refill: verified by anyone allowed but its recorder.
    plain = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=refill_body("39.9")).json()["id"]
    r = clinic.call("POST", f"/patients/{pid}/refills/{plain}/verify", "nora")
    assert (r.status_code, r.json()["detail"]) == (
        403,
        "a second person must verify a refill (second check): it was proposed or recorded by the same user "
        f"({who['nora']})",
    )
    assert clinic.call("POST", f"/patients/{pid}/refills/{plain}/verify", "nina").status_code == 200  # another nurse
    assert clinic.call("POST", f"/patients/{pid}/refills/{plain}/verify", "phil").status_code == 409  # once

    # A compounded refill: a pharmacist or a physician, never a nurse (even one who did not record it).
    compounded = clinic.call(
        "POST", f"/patients/{pid}/refills", "ada", json={**refill_body("39.9"), "compounded": True}
    ).json()["id"]
    r = clinic.call("POST", f"/patients/{pid}/refills/{compounded}/verify", "nina")
    assert (r.status_code, r.json()["detail"]) == (
        403,
        "a nurse cannot verify a refill with a compounded drug (allowed: a physician, a pharmacist)",
    )
    r = clinic.call("POST", f"/patients/{pid}/refills/{compounded}/verify", "ada")
    assert r.status_code == 403 and r.json()["detail"].startswith(
        "a second person must verify a refill with a compounded drug"
    )
    r = clinic.call("POST", f"/patients/{pid}/refills/{compounded}/verify", "bo")
    assert (r.status_code, r.json()["verified_by"]) == (200, who["bo"])

    # A concentration change: neither who proposed it nor who confirmed it.
    assert clinic.call("POST", f"/patients/{pid}/programs", "bo", json={"document": CONCENTRATED}).status_code == 201
    assert clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "ada", json={}).status_code == 200
    for name in ("bo", "ada"):
        r = clinic.call("POST", f"/patients/{pid}/programs/2/verify", name)
        assert r.status_code == 403 and r.json()["detail"].endswith(f"by the same user ({who[name]})"), r.text
    assert clinic.call("POST", f"/patients/{pid}/programs/2/verify", "phil").json()["status"] == "active"
