"""The role × action matrix, in full, through the HTTP API, on SQLite and PostgreSQL.

The expected answer for every action and role is written out here by hand from the issue (not read from
openidds.clinic.roles.MATRIX): 2xx allowed, 403 forbidden with the reason, and 404 for a patient reaching
another patient's record. Each action is exercised by a real call that succeeds for the roles allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from openidds.clinic.roles import ACTIONS, ROLES
from openidds.db.models import AuditRecord
from tests.api_support import (
    CONCENTRATED,
    FLEX,
    START,
    TRIAL,
    Clinic,
    complete_body,
    count,
    eligible_evaluation,
    fast_argon2,
    implant_body,
    implanted_patient,
    morphine_program,
    new_patient,
    patient_body,
    prepare_body,
    through_trial,
)
from tests.clinic_db import PASSWORD
from tests.test_appointments import SCHEDULING


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
    # a trial after an evaluation that needs review: only a physician goes ahead, with a reason
    "override-pathway-gate": {A: 403, P: 201, N: 403, PH: 403, PT: 403},
    "propose-program": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "confirm-program": {A: 403, P: 200, N: 403, PH: 403, PT: 403},  # a nurse cannot confirm a program
    "verify-concentration-change": {A: 403, P: 200, N: 403, PH: 200, PT: 403},
    "cancel-program": {A: 403, P: 200, N: 403, PH: 403, PT: 403},  # a physician cancels a waiting program
    "prepare-refill": {A: 403, P: 201, N: 201, PH: 201, PT: 403},
    "verify-refill": {A: 403, P: 200, N: 200, PH: 200, PT: 403},  # the check before the fill
    "verify-compounded-refill": {A: 403, P: 200, N: 403, PH: 200, PT: 403},  # pharmacist or physician only
    "record-refill": {A: 403, P: 200, N: 200, PH: 403, PT: 403},  # the fill itself
    "record-follow-up": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "resolve-flag": {A: 403, P: 200, N: 200, PH: 403, PT: 403},
    # a second person reviews a fill done without its check: nina filled it, so nora may; a pharmacist too
    "review-unchecked-refill": {A: 403, P: 200, N: 200, PH: 200, PT: 403},
    "submit-questionnaire": {A: 403, P: 201, N: 201, PH: 403, PT: 201},
    "request-bolus": {A: 403, P: 403, N: 403, PH: 403, PT: 201},
    "read-dashboard": {A: 403, P: 200, N: 200, PH: 200, PT: 403},
    "read-audit": {A: 200, P: 200, N: 403, PH: 403, PT: 403},
    "manage-users": {A: 201, P: 403, N: 403, PH: 403, PT: 403},
    "edit-clinic-settings": {A: 200, P: 403, N: 403, PH: 403, PT: 403},
    "book-appointment": {A: 403, P: 201, N: 201, PH: 403, PT: 403},  # the care team books; the patient reads
    "plan-refills": {A: 403, P: 201, N: 201, PH: 403, PT: 403},
    "read-clinic-report": {A: 403, P: 200, N: 200, PH: 200, PT: 403},
    "read-outbox": {A: 200, P: 200, N: 200, PH: 403, PT: 403},
    "set-contact": {A: 403, P: 200, N: 200, PH: 403, PT: 200},  # a patient chooses their own channel
    "manage-calendar-feeds": {A: 403, P: 201, N: 201, PH: 201, PT: 403},
}
# Actions on one patient's record: a patient naming another patient's id gets 404, as if it did not exist.
CLINIC_WIDE = (
    "create-patient",
    "read-dashboard",
    "read-audit",
    "manage-users",
    "edit-clinic-settings",
    "plan-refills",
    "read-clinic-report",
    "read-outbox",
    "manage-calendar-feeds",
)
ON_A_RECORD = {a for a in EXPECTED if a not in CLINIC_WIDE}
# Reads append nothing to the audit trail; every other action allowed appends exactly one record.
READ_ACTIONS = {"read-patient", "read-dashboard", "read-audit", "read-clinic-report", "read-outbox"}


# The patient whose record the matrix acts on has morphine 10 mg/mL alone (a product strength: a refill of it is
# not compounded); its concentration change, 20 mg/mL at half the rate, is no product strength (compounded).
MORPHINE = morphine_program(START, "0.5 mL/day")
MORPHINE_20 = MORPHINE.replace('concentration = "10 mg/mL"', 'concentration = "20 mg/mL"').replace(
    'rate = "0.5 mL/day"', 'rate = "0.25 mL/day"'
)
PLAIN = [{"name": "morphine", "concentration": "10 mg/mL"}]
STRONG = [{"name": "morphine", "concentration": "20 mg/mL"}]


class Matrix:
    """The calls, with what each needs set up (proposed programs, refills to check …) made beforehand."""

    def __init__(self, clinic: Clinic) -> None:
        self.c = clinic
        self.own = implanted_patient(clinic, "M-P", MORPHINE)
        self.other = implanted_patient(clinic, "M-Q")
        clinic.user("pat", "patient", self.own)
        clinic.user("quinn", "patient", self.other)
        clinic.user("nina", "nurse")
        self.fresh = 0
        self.program = 0  # the version to confirm, verify or cancel next
        self.refill = 0  # the refill the next role allowed checks or completes
        self.flag = 0
        self.unimplanted = 0
        clinic.advance(days=2)  # past the titration window of the first program

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

    def _evaluated(self, **answers: Any) -> int:
        """A new patient with an evaluation (eligible, unless `answers` change it)."""
        self.fresh += 1
        pid = new_patient(self.c, f"M-E{self.fresh}")
        body = eligible_evaluation("failed-back-surgery-syndrome", ["morphine"], **answers)
        assert self.post("ada", f"/patients/{pid}/evaluations", body).status_code == 201
        return pid

    def before_record_trial(self, role: str) -> None:
        self.unimplanted = self._evaluated()

    def record_trial(self, who: str, pid: int) -> Any:
        if who != "pat":  # the pump-in-place patient takes no trial: a newly evaluated one
            pid = self.unimplanted
        return self.post(who, f"/patients/{pid}/trials", TRIAL)

    def before_override_pathway_gate(self, role: str) -> None:
        self.unimplanted = self._evaluated(realistic_expectations=None)  # needs review

    def override_pathway_gate(self, who: str, pid: int) -> Any:
        if who != "pat":
            pid = self.unimplanted
        body = {**TRIAL, "override_reason": "expectations discussed with the patient and family"}
        return self.post(who, f"/patients/{pid}/trials", body)

    def before_record_implant(self, role: str) -> None:
        self.unimplanted = new_patient(self.c, "M-IMPLANT")
        through_trial(self.c, self.unimplanted)

    def record_implant(self, who: str, pid: int) -> Any:
        if who != "pat":  # a new patient to implant (the patient can only name a record: theirs or another's)
            pid = self.unimplanted
        fill = self.c.now.isoformat()
        document = FLEX.replace('filled_at = "2026-11-21T09:00"', f'filled_at = "{fill}"')
        return self.post(who, f"/patients/{pid}/implants", implant_body(document, fill))

    def propose_program(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/programs", {"document": MORPHINE})

    def before_confirm_program(self, role: str) -> None:
        self.program = self.post("nora", f"/patients/{self.own}/programs", {"document": MORPHINE}).json()["number"]

    def confirm_program(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/programs/{self.program}/confirm", {"overrides": {}})

    def before_verify_concentration_change(self, role: str) -> None:
        """For each role allowed: proposed by the nurse and confirmed by bo, so ada and phil are second persons."""
        proposed = self.post("nora", f"/patients/{self.own}/programs", {"document": MORPHINE_20}).json()
        self.program = proposed["number"]
        # a change verified before waits too: this one, if it runs, closes it (a soft finding, with its reason)
        soft = {f["code"]: "the newer change replaces it" for f in proposed["findings"] if f["severity"] == "soft"}
        r = self.post("bo", f"/patients/{self.own}/programs/{self.program}/confirm", {"overrides": soft})
        assert r.json()["status"] == "awaiting-verification", r.text

    def verify_concentration_change(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/programs/{self.program}/verify")

    def before_cancel_program(self, role: str) -> None:
        self.program = self.post("nora", f"/patients/{self.own}/programs", {"document": MORPHINE}).json()["number"]

    def cancel_program(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/programs/{self.program}/cancel", {"reason": "not needed"})

    def prepare_refill(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/refills", prepare_body(solution=PLAIN))

    def _prepared(self, who: str, solution: list[dict[str, str]]) -> int:
        r = self.post(who, f"/patients/{self.own}/refills", prepare_body(solution=solution))
        assert r.status_code == 201, r.text
        refill_id: int = r.json()["id"]
        return refill_id

    def before_verify_refill(self, role: str) -> None:
        # prepared by someone other than the checker: nora's for ada and phil, ada's for nora
        self.refill = self._prepared("ada" if role == N else "nora", PLAIN)

    def verify_refill(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/refills/{self.refill}/check")

    def before_verify_compounded_refill(self, role: str) -> None:
        # 20 mg/mL for a program waiting for it: compounded. A nurse prepares it; nora is not the preparer.
        self.before_verify_concentration_change(P)
        assert self.post("phil", f"/patients/{self.own}/programs/{self.program}/verify").status_code == 200
        self.refill = self._prepared("nina", STRONG)

    def verify_compounded_refill(self, who: str, pid: int) -> Any:
        return self.verify_refill(who, pid)

    def before_record_refill(self, role: str) -> None:
        self.refill = self._prepared("nina", PLAIN)
        assert self.post("phil", f"/patients/{self.own}/refills/{self.refill}/check").status_code == 200

    def record_refill(self, who: str, pid: int) -> Any:
        self.c.advance(minutes=1)
        return self.post(who, f"/patients/{pid}/refills/{self.refill}/complete", complete_body("39", "40"))

    def before_resolve_flag(self, role: str) -> None:
        # The pump reports far less than the record expects: a flag for review.
        r = self.post("nina", f"/patients/{self.own}/interrogations", {"reservoir_ml": "10"})
        assert r.status_code == 201, r.text
        flags = self.c.call("GET", f"/patients/{self.own}/flags", "nina").json()
        self.flag = [f["id"] for f in flags if f["resolved_at"] is None][-1]

    def resolve_flag(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/flags/{self.flag}/resolve", {"resolution": "pump re-read: 39 mL"})

    def before_review_unchecked_refill(self, role: str) -> None:
        refill = self._prepared("nina", PLAIN)
        self.c.advance(minutes=1)
        body = complete_body("39", "40", emergency_reason="alarm at a home visit, nobody to check")
        assert self.post("nina", f"/patients/{self.own}/refills/{refill}/complete", body).status_code == 200
        flags = self.c.call("GET", f"/patients/{self.own}/flags", "nina").json()
        self.flag = next(f["id"] for f in flags if f["code"] == "refill.unchecked" and f["resolved_at"] is None)

    def review_unchecked_refill(self, who: str, pid: int) -> Any:
        return self.post(who, f"/patients/{pid}/flags/{self.flag}/resolve", {"resolution": "label matches the order"})

    def record_follow_up(self, who: str, pid: int) -> Any:  # an interrogation is recorded like a follow-up
        return self.post(who, f"/patients/{pid}/interrogations", {"eri": True})  # something read: none is refused

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

    def edit_clinic_settings(self, who: str, pid: int) -> Any:
        body = {"document": {"scheduling": SCHEDULING}, "reason": "the clinic's hours and nurses"}
        return self.c.call("PUT", "/clinic/settings", who, json=body)

    def _scheduled(self) -> None:
        r = self.c.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": SCHEDULING}, "reason": "x"})
        assert r.status_code == 200, r.text

    def before_book_appointment(self, role: str) -> None:
        self._scheduled()

    def book_appointment(self, who: str, pid: int) -> Any:  # an MRI check: no nurse's slot, so none is full
        self.fresh += 1
        start = datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("America/Chicago")) + timedelta(minutes=20 * self.fresh)
        return self.post(who, f"/patients/{pid}/appointments", {"kind": "mri-pre", "starts_at": start.isoformat()})

    def before_plan_refills(self, role: str) -> None:
        self._scheduled()

    def plan_refills(self, who: str, pid: int) -> Any:
        return self.post(who, "/plan", {"weeks": 1})

    def read_clinic_report(self, who: str, pid: int) -> Any:
        return self.c.call("GET", "/reports/monthly.pdf?month=2026-11", who)

    def read_outbox(self, who: str, pid: int) -> Any:
        return self.c.call("GET", "/outbox", who)

    def set_contact(self, who: str, pid: int) -> Any:
        body = {"channel": "email", "email": "pat@example.org", "phone": None, "language": "en"}
        return self.c.call("PUT", f"/patients/{pid}/contact", who, json=body)

    def manage_calendar_feeds(self, who: str, pid: int) -> Any:
        return self.post(who, "/calendar-feeds", {"scope": "clinic"})


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
            clinic.as_(USER[role])  # logged in before counting: a login is audited too
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
            clinic.as_("pat")
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
    refill = clinic.call("POST", f"/patients/{other}/refills", "nora", json=prepare_body()).json()["id"]

    assert [p["id"] for p in clinic.call("GET", "/patients", "pat").json()] == [own]
    assert [p["id"] for p in clinic.call("GET", "/patients", "phil").json()] == [own, other]
    missing = 10_000  # no such record at all: the same answer, so a patient cannot learn which ids exist
    for path in READS:
        assert clinic.call("GET", f"/patients/{own}{path}", "pat").status_code == 200, path
        for pid in (other, missing):
            r = clinic.call("GET", f"/patients/{pid}{path}", "pat")
            assert (r.status_code, r.json()) == (
                404,
                {"field": None, "message": "no such patient", "detail": "no such patient", "codes": [], "errors": []},
            ), (path, r.text)

    # Acting on another patient's record: 404, and nothing happens there.
    attempts = [
        ("POST", f"/patients/{other}/remote-requests", None),
        ("POST", f"/patients/{other}/follow-ups", {"phq9": [0] * 9}),
        ("POST", f"/patients/{other}/follow-ups/{flag}/resolve", {"resolution": "x"}),
        ("PATCH", f"/patients/{other}", {"version": 1, "given_name": "X"}),
        ("POST", f"/patients/{other}/programs", {"document": FLEX}),
        ("POST", f"/patients/{other}/programs/1/confirm", {}),
        ("POST", f"/patients/{other}/programs/1/verify", None),
        ("POST", f"/patients/{other}/programs/1/cancel", {"reason": "x"}),
        ("POST", f"/patients/{other}/refills", prepare_body()),
        ("POST", f"/patients/{other}/refills/{refill}/check", None),
        ("POST", f"/patients/{other}/refills/{refill}/complete", complete_body("39")),
        ("POST", f"/patients/{other}/refills/{refill}/cancel", {"reason": "x"}),
        ("POST", f"/patients/{other}/flags/1/resolve", {"resolution": "x"}),
        ("POST", f"/patients/{other}/interrogations", {}),
    ]
    for method, path, body in attempts:
        r = clinic.call(method, path, "pat", json=body)
        assert (r.status_code, r.json()) == (
            404,
            {"field": None, "message": "no such patient", "detail": "no such patient", "codes": [], "errors": []},
        ), (method, path, r.text)
    assert clinic.call("GET", f"/patients/{other}/remote-requests", "nora").json() == []
    assert len(clinic.call("GET", f"/patients/{other}/follow-ups", "nora").json()) == 1
    assert clinic.call("GET", f"/patients/{other}/refills", "nora").json()[0]["status"] == "prepared"
    assert clinic.call("GET", f"/patients/{other}", "nora").json()["given_name"] == "Jane"

    # On their own record: reads, the remote and questionnaires; nothing a clinician does.
    assert clinic.call("POST", f"/patients/{own}/remote-requests", "pat").status_code == 201
    r = clinic.call("POST", f"/patients/{own}/follow-ups", "pat", json={"nrs": 5, "phq9": [1] * 8 + [0]})
    assert r.status_code == 201 and r.json()["recorded_by"] == clinic.call("GET", "/auth/me", "pat").json()["id"]
    for method, path, body, reason in (
        ("PATCH", f"/patients/{own}", {"version": 1, "given_name": "X"}, "create a patient record"),
        ("POST", f"/patients/{own}/programs", {"document": FLEX}, "propose a pump program"),
        ("POST", f"/patients/{own}/refills", prepare_body(), "prepare a refill"),
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

    # A refill of a product strength: checked by anyone allowed but who prepared it.
    morphine = implanted_patient(clinic, "S-2", morphine_program(START, "0.5 mL/day"))
    plain = [{"name": "morphine", "concentration": "10 mg/mL"}]
    rid = clinic.call("POST", f"/patients/{morphine}/refills", "nora", json=prepare_body(solution=plain)).json()["id"]
    r = clinic.call("POST", f"/patients/{morphine}/refills/{rid}/check", "nora")
    assert (r.status_code, r.json()["detail"]) == (
        403,
        "a second person must check a prepared refill before the fill (second person): it was proposed or "
        f"recorded by the same user ({who['nora']})",
    )
    assert clinic.call("POST", f"/patients/{morphine}/refills/{rid}/check", "nina").status_code == 200  # a nurse
    assert clinic.call("POST", f"/patients/{morphine}/refills/{rid}/check", "phil").status_code == 409  # once

    # A compounded refill (the flex example is an admixture): a pharmacist or a physician, never a nurse (even one
    # who did not prepare it).
    compounded = clinic.call("POST", f"/patients/{pid}/refills", "ada", json=prepare_body()).json()["id"]
    r = clinic.call("POST", f"/patients/{pid}/refills/{compounded}/check", "nina")
    assert (r.status_code, r.json()["detail"]) == (
        403,
        "a nurse cannot check a prepared refill of a compounded solution before the fill (allowed: a physician, "
        "a pharmacist)",
    )
    r = clinic.call("POST", f"/patients/{pid}/refills/{compounded}/check", "ada")
    assert r.status_code == 403 and r.json()["detail"].startswith(
        "a second person must check a prepared refill of a compounded solution"
    )
    r = clinic.call("POST", f"/patients/{pid}/refills/{compounded}/check", "bo")
    assert (r.status_code, r.json()["checked_by"]) == (200, who["bo"])

    # A concentration change: neither who proposed it nor who confirmed it.
    clinic.advance(days=2)
    assert clinic.call("POST", f"/patients/{pid}/programs", "bo", json={"document": CONCENTRATED}).status_code == 201
    assert clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "ada", json={}).status_code == 200
    for name in ("bo", "ada"):
        r = clinic.call("POST", f"/patients/{pid}/programs/2/verify", name)
        assert r.status_code == 403 and r.json()["detail"].endswith(f"by the same user ({who[name]})"), r.text
    assert clinic.call("POST", f"/patients/{pid}/programs/2/verify", "phil").json()["status"] == "awaiting-refill"
