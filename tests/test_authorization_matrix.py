"""The authorization matrix: every route of the API × every role, the expected answer read from the role table
(openidds.clinic.roles.MATRIX), on SQLite and PostgreSQL.

Each route under /api/v1 (found by walking the app's routes, so a new route without an entry in ROUTES fails this
test) is asked by admin, physician, nurse, pharmacist, a patient about their own record, a patient about another's
record, and no one (no token), with the ids of records that exist and with ids of records that do not:
- no token: 401 (public routes aside);
- a role the table allows: not 401 and not 403 (a 404, 409 or 422 is the use case speaking, after authorization);
- a role the table never allows: 403, whether or not the record exists (its existence is not disclosed);
- a patient asking about another patient's record: 404, exactly as for a record that does not exist.
Writes are sent with valid bodies, so a refusal can only come from authorization. One clinic per database, the
logins reused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import pytest
from fastapi.routing import iter_route_contexts

from openidds.clinic.roles import MATRIX, Action, role_may
from tests.api_support import (
    CONCENTRATED,
    FLEX,
    FLEX_SOLUTION,
    PASSWORD,
    START,
    TRIAL,
    Clinic,
    complete_body,
    eligible_evaluation,
    fast_argon2,
    implant_body,
    new_patient,
    patient_body,
    prepare_body,
    through_trial,
)
from tests.clinic_db import clinic_fixture
from tests.test_appointments import SCHEDULING

Who = Literal["admin", "physician", "nurse", "pharmacist", "patient-own", "patient-other", "anonymous"]
WHO: tuple[Who, ...] = ("anonymous", "admin", "patient-other", "patient-own", "pharmacist", "nurse", "physician")
LOGIN: dict[Who, str] = {
    "admin": "root",
    "physician": "ada",
    "nurse": "nora",
    "pharmacist": "phil",
    "patient-own": "pat",
    "patient-other": "otto",
}
MISSING = 999_999  # an id no record has
NEW = "a new and long passphrase 7"


@dataclass
class World:
    """The records the routes are asked about: patient `own` (pat's record) holds one of each kind."""

    clinic: Clinic
    ids: dict[str, int] = field(default_factory=dict)
    version: int = 1
    mrns: Iterator[int] = field(default_factory=lambda: iter(range(1, 10_000)))

    def mrn(self) -> str:
        return f"M-{next(self.mrns)}"


Body = Callable[[World], Any]


@dataclass(frozen=True)
class Route:
    """Who may call a route: `public` (anyone), `session` (anyone logged in) or the role table's actions (allowed
    when the role may do one of them). `seeded`: the action the record used here needs, when a route's action
    depends on the record (a compounded refill's check, a refill review)."""

    access: Literal["public", "session", "actions"]
    actions: tuple[Action, ...] = ()
    body: Body | None = None
    seeded: tuple[Action, ...] = ()


def public(body: Body | None = None) -> Route:
    return Route("public", body=body)


def session(body: Body | None = None) -> Route:
    return Route("session", body=body)


def may(*actions: Action, body: Body | None = None, seeded: tuple[Action, ...] = ()) -> Route:
    return Route("actions", actions, body, seeded)


P = "/api/v1/patients/{patient_id}"
U = "/api/v1/users/{user_id}"
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v1/openapi.json"): public(),
    ("GET", "/api/v1/docs"): public(),
    ("POST", "/api/v1/auth/login"): public(lambda w: {"username": "bo", "password": PASSWORD}),
    ("POST", "/api/v1/auth/logout"): session(),
    ("POST", "/api/v1/auth/password"): session(lambda w: {}),  # an empty body: 422 once logged in
    ("GET", "/api/v1/auth/me"): session(),
    ("GET", "/api/v1/roles"): public(),
    ("GET", "/api/v1/users"): may("manage-users"),
    ("POST", "/api/v1/users"): may(
        "manage-users",
        body=lambda w: {
            "username": f"u{w.mrn().lower()}",
            "full_name": "New User",
            "role": "nurse",
            "password": PASSWORD,
        },
    ),
    ("POST", f"{U}/disable"): may("manage-users"),
    ("POST", f"{U}/enable"): may("manage-users"),
    ("POST", f"{U}/revoke-tokens"): may("manage-users"),
    ("POST", f"{U}/password"): may("manage-users", body=lambda w: {"new_password": NEW}),
    ("POST", f"{U}/role"): may("manage-users", body=lambda w: {"role": "pharmacist"}),
    ("GET", "/api/v1/patients"): may("read-patient"),
    ("POST", "/api/v1/patients"): may("create-patient", body=lambda w: patient_body(w.mrn())),
    ("GET", P): may("read-patient"),
    ("PATCH", P): may("create-patient", body=lambda w: {"version": w.version, "given_name": "Janet"}),
    ("GET", f"{P}/pump"): may("read-patient"),
    ("GET", f"{P}/evaluations"): may("read-patient"),
    ("POST", f"{P}/evaluations"): may(
        "record-evaluation", body=lambda w: eligible_evaluation("failed-back-surgery-syndrome", ["morphine"])
    ),
    ("GET", f"{P}/trials"): may("read-patient"),
    ("POST", f"{P}/trials"): may("record-trial", body=lambda w: TRIAL),
    ("GET", f"{P}/implants"): may("read-patient"),
    ("POST", f"{P}/implants"): may("record-implant", body=lambda w: implant_body(FLEX, START)),
    ("GET", f"{P}/flags"): may("read-patient"),
    ("GET", f"{P}/flags/{{flag_id}}"): may("read-patient"),
    ("POST", f"{P}/flags/{{flag_id}}/resolve"): may(
        "resolve-flag",
        "review-unchecked-refill",
        body=lambda w: {"resolution": "compounding record checked against the prescription and the label"},
        seeded=("review-unchecked-refill",),  # the first fill's review, raised by bo's implant
    ),
    ("GET", f"{P}/follow-ups"): may("read-patient"),
    ("POST", f"{P}/follow-ups"): may("record-follow-up", "submit-questionnaire", body=lambda w: {"nrs": 4}),
    ("POST", f"{P}/follow-ups/{{follow_up_id}}/resolve"): may(
        "resolve-flag", body=lambda w: {"resolution": "seen today; the plan agreed with the patient"}
    ),
    ("GET", f"{P}/interrogations"): may("read-patient"),
    ("POST", f"{P}/interrogations"): may("record-follow-up", body=lambda w: {"reservoir_ml": "39.9"}),
    ("GET", f"{P}/remote-requests"): may("read-patient"),
    ("POST", f"{P}/remote-requests"): may("request-bolus"),
    ("GET", f"{P}/programs"): may("read-patient"),
    ("GET", f"{P}/programs/{{number}}"): may("read-patient"),
    ("POST", f"{P}/programs"): may("propose-program", body=lambda w: {"document": FLEX}),
    ("POST", f"{P}/programs/{{number}}/confirm"): may("confirm-program", body=lambda w: {}),
    ("POST", f"{P}/programs/{{number}}/verify"): may("verify-concentration-change"),
    ("POST", f"{P}/programs/{{number}}/cancel"): may("cancel-program", body=lambda w: {"reason": "not needed now"}),
    ("GET", f"{P}/refills"): may("read-patient"),
    ("GET", f"{P}/refills/{{refill_id}}"): may("read-patient"),
    ("POST", f"{P}/refills"): may("prepare-refill", body=lambda w: prepare_body("40", FLEX_SOLUTION)),
    ("POST", f"{P}/refills/{{refill_id}}/check"): may(
        "verify-refill",
        "verify-compounded-refill",
        seeded=("verify-compounded-refill",),  # an admixture
    ),
    ("POST", f"{P}/refills/{{refill_id}}/complete"): may("record-refill", body=lambda w: complete_body("20")),
    ("POST", f"{P}/refills/{{refill_id}}/cancel"): may("prepare-refill", body=lambda w: {"reason": "label misprinted"}),
    ("GET", "/api/v1/dashboard"): may("read-dashboard"),
    ("GET", "/api/v1/queues"): may("read-dashboard"),
    ("GET", "/api/v1/audit"): may("read-audit"),
    ("GET", "/api/v1/audit/verify"): may("read-audit"),
    ("GET", f"{P}/{{kind}}/{{record_id}}"): may("read-patient"),
    # refill operations
    ("GET", "/api/v1/clinic/settings"): may("read-dashboard", "edit-clinic-settings"),
    ("PUT", "/api/v1/clinic/settings"): may("edit-clinic-settings", body=lambda w: {"document": {}, "reason": "x"}),
    ("GET", "/api/v1/appointments"): may("read-dashboard"),
    ("GET", f"{P}/appointments"): may("read-patient"),
    ("POST", f"{P}/appointments"): may("book-appointment", body=lambda w: MRI_CHECK),
    ("POST", f"{P}/appointments/{{appointment_id}}/confirm"): may("book-appointment"),
    ("POST", f"{P}/appointments/{{appointment_id}}/attend"): may("book-appointment", body=lambda w: {}),
    ("POST", f"{P}/appointments/{{appointment_id}}/miss"): may("book-appointment", body=lambda w: {"reason": "x"}),
    ("POST", f"{P}/appointments/{{appointment_id}}/cancel"): may("book-appointment", body=lambda w: {"reason": "x"}),
    ("GET", f"{P}/refill-window"): may("read-patient"),
    ("POST", "/api/v1/plan"): may("plan-refills", body=lambda w: {"weeks": 1}),
    ("GET", "/api/v1/plans/{plan_id}"): may("plan-refills"),
    ("POST", "/api/v1/plans/{plan_id}/accept"): may("plan-refills", body=lambda w: {"keys": []}),
    ("GET", f"{P}/refills/{{refill_id}}/record.pdf"): may("read-patient"),
    ("GET", f"{P}/programs/{{number}}/record.pdf"): may("read-patient"),
    ("GET", f"{P}/card.pdf"): may("read-patient"),
    ("GET", "/api/v1/reports/monthly.pdf"): may("read-clinic-report"),
    ("GET", f"{P}/contact"): may("read-patient"),
    ("PUT", f"{P}/contact"): may("set-contact", body=lambda w: {"channel": "none"}),
    ("GET", "/api/v1/outbox"): may("read-outbox"),
    ("GET", "/api/v1/calendar-feeds"): may("manage-calendar-feeds", "set-contact"),
    ("POST", "/api/v1/calendar-feeds"): may("manage-calendar-feeds", body=lambda w: {"scope": "clinic"}),
    ("POST", "/api/v1/calendar-feeds/{feed_id}/revoke"): may(
        "manage-calendar-feeds", "set-contact", seeded=("set-contact",)
    ),
}
# A pump check before an MRI on a weekday during the clinic's hours: no nurse's slot, so none is ever full.
MRI_CHECK = {"kind": "mri-pre", "starts_at": "2026-12-02T16:00:00+00:00"}


def api_routes(clinic: Clinic) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves under /api/v1 (HEAD aside: it answers as GET)."""
    found = set()
    for context in iter_route_contexts(clinic.app.routes):
        path = context.path or ""
        methods = getattr(context.original_route, "methods", None) or set()
        if path.startswith("/api/v1"):
            found |= {(m, path) for m in methods if m != "HEAD"}
    return sorted(found, key=lambda r: (r[1], r[0]))


# --- the clinic the routes are asked about --------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        fast_argon2(mp)
        for clinic in clinic_fixture(request.param, tmp_path_factory.mktemp(request.param)):
            yield seeded(clinic)


def seeded(clinic: Clinic) -> World:
    """Patient `own` implanted by bo with a compounded first fill (its review flag open), a follow-up, an
    interrogation, a concentration change proposed and confirmed by bo awaiting its verification, and a refill
    bo prepared awaiting its check; patient `other`, pat's and otto's logins, and a user to manage."""
    w = World(clinic)
    own = new_patient(clinic, w.mrn())
    other = new_patient(clinic, w.mrn())
    through_trial(clinic, own, "bo")
    r = clinic.call("POST", f"/patients/{own}/implants", "bo", json=implant_body(FLEX, START))
    assert r.status_code == 201, r.text
    clinic.user("pat", "patient", own)
    clinic.user("otto", "patient", other)
    victim = clinic.user("vic", "nurse")
    clinic.advance(hours=2)
    r = clinic.call("POST", f"/patients/{own}/follow-ups", "bo", json={"nrs": 5})
    assert r.status_code == 201, r.text
    follow_up = r.json()["id"]
    r = clinic.call("POST", f"/patients/{own}/interrogations", "bo", json={"reservoir_ml": "39.9"})
    assert r.status_code == 201, r.text
    clinic.advance(days=2)  # past the titration window of the first program
    r = clinic.call("POST", f"/patients/{own}/programs", "bo", json={"document": CONCENTRATED})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    r = clinic.call("POST", f"/patients/{own}/programs/{number}/confirm", "bo", json={})
    assert (r.status_code, r.json()["status"]) == (200, "awaiting-verification"), r.text
    r = clinic.call("POST", f"/patients/{own}/refills", "bo", json=prepare_body("40", FLEX_SOLUTION))
    assert r.status_code == 201, r.text
    refill = r.json()["id"]
    flags = clinic.call("GET", f"/patients/{own}/flags", "bo").json()
    (flag,) = [f["id"] for f in flags if f["code"] == "implant.first-fill-unchecked"]
    trial = clinic.call("GET", f"/patients/{own}/trials", "bo").json()[0]["id"]
    w.version = clinic.call("GET", f"/patients/{own}", "bo").json()["version"]
    w.ids = {
        "patient_id": own,
        "other": other,
        "number": number,
        "refill_id": refill,
        "flag_id": flag,
        "follow_up_id": follow_up,
        "user_id": victim,
        "record_id": trial,
    }
    r = clinic.call("PUT", "/clinic/settings", "root", json={"document": {"scheduling": SCHEDULING}, "reason": "x"})
    assert r.status_code == 200, r.text
    r = clinic.call("POST", f"/patients/{own}/appointments", "bo", json=MRI_CHECK)
    assert r.status_code == 201, r.text
    w.ids["appointment_id"] = r.json()["id"]
    r = clinic.call("POST", "/plan", "bo", json={"weeks": 1})
    assert r.status_code == 201, r.text
    w.ids["plan_id"] = r.json()["id"]
    r = clinic.call("POST", "/calendar-feeds", "bo", json={"scope": "patient", "subject_id": own})
    assert r.status_code == 201, r.text
    w.ids["feed_id"] = r.json()["id"]
    clinic.now += timedelta(minutes=5)
    return w


# --- asking ---------------------------------------------------------------------------------------------------------
def path_for(w: World, template: str, who: Who, missing: str | None = None) -> str:
    """The route's path with the ids of records that exist (all of them pat's: otto asks about another patient's
    record), or with `missing` ids: 'patient' (the patient id) or 'record' (every other id)."""
    ids: dict[str, Any] = {**w.ids, "kind": "trials"}
    if missing == "patient":
        ids["patient_id"] = MISSING
    elif missing == "record":
        ids.update({k: MISSING for k in ids if k not in ("patient_id", "kind", "other")})
    return template.format(**ids)


def ask(w: World, method: str, path: str, who: Who, body: Any) -> int:
    headers = {} if who == "anonymous" else w.clinic.as_(LOGIN[who])
    if method == "POST" and path == "/api/v1/auth/logout" and who != "anonymous":
        # logging out revokes the token: a token of its own, so the shared login lives on
        r = w.clinic.client.post("/api/v1/auth/login", json={"username": LOGIN[who], "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
    return w.clinic.client.request(method, path, headers=headers, json=body).status_code


Expected = Literal["allowed", 401, 403, 404]


def expected(route: Route, who: Who, scoped: bool, missing: str | None) -> Expected:
    """What the role table says `who` gets: for a missing record, the same refusal as for an existing one."""
    if route.access == "public":
        return "allowed"
    if who == "anonymous":
        return 401
    if route.access == "session":
        return "allowed"
    role = "patient" if who.startswith("patient") else who
    if scoped and (who == "patient-other" or (who == "patient-own" and missing == "patient")):
        return 404  # another patient's record (or no such patient): not disclosed
    if not any(role in MATRIX[a] for a in route.actions):
        return 403  # a role that may never: the same whether or not the record exists
    if missing is not None:
        return 404
    if route.seeded and not any(role in MATRIX[a] for a in route.seeded):
        return 403  # may do the action, not for this record (a nurse and a compounded refill)
    return "allowed"


def outcome(status: int) -> Expected | int:
    return "allowed" if status not in (401, 403) else status


def test_every_api_route_has_an_entry(world: World) -> None:
    served = api_routes(world.clinic)
    assert [r for r in served if r not in ROUTES] == [], "routes without an entry in ROUTES (say who may call them)"
    assert [r for r in ROUTES if r not in served] == [], "entries in ROUTES for routes the app does not serve"


def test_every_route_answers_every_role_as_the_role_table_says(world: World) -> None:
    wrong = []
    for method, template in api_routes(world.clinic):
        route = ROUTES.get((method, template))
        if route is None:
            continue  # test_every_api_route_has_an_entry names it
        scoped = "{patient_id}" in template
        records = set(re.findall(r"\{(\w+)\}", template)) - {"patient_id", "kind"}
        variants: list[str | None] = [*(["patient"] if scoped else []), *(["record"] if records else []), None]
        for who in WHO:
            for missing in variants:
                want = expected(route, who, scoped, missing)
                path = path_for(world, template, who, missing)
                body = route.body(world) if route.body else None
                got = ask(world, method, path, who, body)
                if outcome(got) != want if want == "allowed" else got != want:
                    wrong.append(f"{method} {template} as {who} ({missing or 'existing'}): {got}, expected {want}")
    assert wrong == [], "\n".join(wrong)


def test_a_role_that_may_never_is_refused_before_any_record_is_read() -> None:
    checks = ("verify-refill", "verify-compounded-refill")
    assert role_may("nurse", checks).allowed is True  # a nurse checks a refill (not a compounded one)
    refused = role_may("admin", checks)
    assert (refused.allowed, refused.reason) == (
        False,
        "an admin cannot check a prepared refill before the fill (second person) (allowed: a physician, a nurse, "
        "a pharmacist)",
    )
    assert role_may("patient", ("verify-concentration-change",)).allowed is False


def test_the_admin_is_refused_alike_for_records_that_exist_and_records_that_do_not(world: World) -> None:
    """The issue's case: verify and check endpoints answered the admin 403 for a record that exists, 404 for one
    that does not (and so told which records exist)."""
    own, number, refill = world.ids["patient_id"], world.ids["number"], world.ids["refill_id"]
    for path in (
        f"/patients/{own}/programs/{number}/verify",
        f"/patients/{own}/programs/{MISSING}/verify",
        f"/patients/{MISSING}/programs/1/verify",
        f"/patients/{own}/refills/{refill}/check",
        f"/patients/{own}/refills/{MISSING}/check",
        f"/patients/{MISSING}/refills/1/check",
    ):
        r = world.clinic.call("POST", path, "root")
        assert r.status_code == 403, (path, r.text)
        assert r.json()["message"].startswith("an admin cannot "), r.text
