"""The REST API under /api/v1. Thin: validate, call one use case, shape the answer."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from fractions import Fraction
from typing import Any

import orjson
from fastapi import APIRouter, Query, Response
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from openidds.api.deps import Actor, Credentials, Now, OnceOnly, Tx
from openidds.api.schemas import (
    CompleteIn,
    ConfirmIn,
    EvaluationIn,
    FollowUpIn,
    Id,
    ImplantIn,
    InterrogationIn,
    Login,
    NewPatient,
    NewUser,
    PatientChanges,
    PrepareIn,
    ProgramIn,
    ReasonIn,
    ResolveIn,
    TrialIn,
    WorkQueuesOut,
)
from openidds.clinic.roles import matrix_markdown
from openidds.db.models import (
    AuditRecord,
    Base,
    Evaluation,
    Flag,
    FollowUp,
    Implant,
    Interrogation,
    ProgramVersion,
    Refill,
    RemoteRequest,
    Trial,
    User,
)
from openidds.errors import InputError
from openidds.programs.clock import from_us
from openidds.quantities.units import format_number
from openidds.service import audit, auth, pathway, search
from openidds.service import programs as programs_service
from openidds.service import refills as refills_service
from openidds.service.access import actor_name, require
from openidds.service.dashboard import dashboard_page
from openidds.service.errors import Conflict, NotFound
from openidds.service.flags import flag_json
from openidds.service.programs import active_version
from openidds.service.pump import WAITING, pump_state, refresh_status, solution_json
from openidds.service.queues import work_queues
from openidds.service.refills import refill_json

router = APIRouter(prefix="/api/v1")
SEQUENCE_MAX = 2**63 - 1  # audit sequence numbers are 64-bit


def row(obj: Base) -> dict[str, Any]:
    """A record as JSON: exact numbers as text, instants in ISO 8601 UTC."""
    out: dict[str, Any] = {}
    for column in inspect(obj).mapper.column_attrs:
        value = getattr(obj, column.key)
        if column.key in ("password_hash", "token_hash", "document"):
            continue
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Fraction):
            value = format_number(value, 9)
        out[column.key] = value
    return out


# --- logging in ---------------------------------------------------------------------------------------------------
@router.post("/auth/login", tags=["auth"])
def login(body: Login, s: Tx, at: Now) -> dict[str, Any]:
    user, token, expires = auth.log_in(s, body.username, body.password, at)
    return {"token": token, "expires_at": expires.isoformat(), "user": user_json(user)}


@router.post("/auth/logout", tags=["auth"])
def logout(s: Tx, at: Now, actor: Actor, credentials: Credentials) -> dict[str, str]:
    """Revokes the token this request carries (the scheme in any case: 'Bearer', 'bearer')."""
    if credentials is not None:
        auth.revoke(s, credentials.credentials, at)
    return {"status": "token revoked"}


@router.get("/auth/me", tags=["auth"])
def me(actor: Actor) -> dict[str, Any]:
    return user_json(actor)


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role, "patient_id": u.patient_id}


@router.get("/roles", tags=["auth"])
def roles() -> dict[str, str]:
    """The role × action matrix, as the README shows it."""
    return {"markdown": matrix_markdown()}


@router.post("/users", status_code=201, tags=["auth"])
def create_user(body: NewUser, once: OnceOnly) -> dict[str, Any]:
    return once.run(body, 201, lambda: _create_user(body, once.s, once.at, once.actor))


def _create_user(body: NewUser, s: Session, at: datetime, actor: User) -> dict[str, Any]:
    require(actor, "manage-users")
    if s.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise Conflict(f"user {body.username} already exists")
    if (body.role == "patient") != (body.patient_id is not None):
        raise InputError("patient_id", "a patient login needs its patient_id, and only a patient login has one")
    user = User(
        username=body.username,
        full_name=body.full_name,
        role=body.role,
        password_hash=auth.hash_password(body.password),
        patient_id=body.patient_id,
        created_at=at,
    )
    s.add(user)
    s.flush()
    audit.record(s, actor_name(actor), "create-user", f"user/{user.id}", at, None, user_json(user))
    return user_json(user)


# --- patients -----------------------------------------------------------------------------------------------------
def _search_param(description: str) -> Any:
    """A search parameter, read as text: the use case says what is wrong with it, in words (422 naming it)."""
    return Query(default=None, description=description)


@router.get("/patients", tags=["patients"])
def list_patients(
    s: Tx,
    at: Now,
    actor: Actor,
    response: Response,
    q: str | None = _search_param(
        "words of the family or given name (any case, accents optional), an MRN or its start, and/or a date of "
        "birth as YYYY-MM-DD or DD/MM/YYYY"
    ),
    stage: str | None = _search_param(f"the pathway stage: {', '.join(search.STAGES)}"),
    drug: str | None = _search_param("a drug of the library, in the pump now (e.g. morphine)"),
    pump: str | None = _search_param("a pump model of the catalog, implanted now (e.g. programmable-40)"),
    due_within_days: str | None = _search_param(
        f"the refill due within this many days, or overdue (0 to {search.DUE_WITHIN_MAX}; 0: overdue only)"
    ),
    limit: str | None = _search_param(f"patients per page, 1 to {search.LIMIT_MAX} (default {search.LIMIT_DEFAULT})"),
    offset: str | None = _search_param("how many matching patients to skip (default 0)"),
) -> list[dict[str, Any]]:
    """Every patient by name; with any parameter, the patients it finds, a page at a time (each with its drugs,
    pump and refill due; the X-Total-Count header says how many match)."""
    given = {
        "q": q,
        "stage": stage,
        "drug": drug,
        "pump": pump,
        "due_within_days": due_within_days,
        "limit": limit,
        "offset": offset,
    }
    if all(v is None for v in given.values()):
        return [pathway.patient_json(p) for p in pathway.list_patients(s, actor)]
    page = search.find_patients(s, actor, search.PatientQuery.from_text(given), at)
    response.headers["X-Total-Count"] = str(page.total)
    return [_found_json(r) for r in page.rows]


def _found_json(r: search.PatientRow) -> dict[str, Any]:
    return {
        **pathway.patient_json(r.patient),
        "drugs": [{"name": d.name, "concentration": d.concentration} for d in r.drugs],
        "pump_model": r.pump_model,
        "next_refill_due": None if r.next_refill_due is None else r.next_refill_due.isoformat(),
        "refill_reason": r.refill_reason,
    }


@router.post("/patients", status_code=201, tags=["patients"])
def create_patient(body: NewPatient, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body, 201, lambda: pathway.patient_json(pathway.create_patient(once.s, once.actor, body.to_data(), once.at))
    )


@router.get("/patients/{patient_id}", tags=["patients"])
def read_patient(patient_id: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    return pathway.patient_json(pathway.read_patient(s, actor, patient_id))


@router.patch("/patients/{patient_id}", tags=["patients"])
def update_patient(patient_id: Id, body: PatientChanges, s: Tx, at: Now, actor: Actor) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    if "oral_mme_per_day" in changes and changes["oral_mme_per_day"] is not None:
        changes["oral_mme_per_day"] = Fraction(changes["oral_mme_per_day"])
    return pathway.patient_json(pathway.update_patient(s, actor, patient_id, body.version, changes, at))


@router.get("/patients/{patient_id}/pump", tags=["patients"])
def pump(patient_id: Id, s: Tx, at: Now, actor: Actor) -> dict[str, Any]:
    """The patient's pump now, from the twin: reservoir, mode, alarms, and what is projected."""
    pathway.read_patient(s, actor, patient_id)
    state = pump_state(s, patient_id, at)
    status = refresh_status(s, patient_id, at, state)
    if state is None:
        return {"programmed": False, **row(status)}
    twin = state.twin
    running = active_version(s, patient_id)
    return {
        "programmed": True,
        "mode": twin.mode,
        "reservoir_ml": format_number(twin.reservoir, 9),
        "solution": solution_json(twin.solution),
        "program_version": None if running is None else running.number,
        "bridge_ends_at": None if twin.bridge_ends_at is None else from_us(twin.bridge_ends_at).isoformat(),
        "expected_residual_ml": format_number(twin.expected_residual().expected.to("mL"), 9),
        "pocket": {k: format_number(v, 9) for k, v in twin.pocket.items()},
        **{k: v for k, v in row(status).items() if k != "patient_id"},
    }


# --- the pathway --------------------------------------------------------------------------------------------------
def _records(s: Tx, actor: Actor, patient_id: int, model: Any, order: Any) -> list[dict[str, Any]]:
    pathway.read_patient(s, actor, patient_id)
    return [row(r) for r in s.scalars(select(model).where(model.patient_id == patient_id).order_by(order))]


def _record(s: Tx, actor: Actor, patient_id: int, model: Any, record_id: int) -> Any:
    """One of a patient's records; another patient's record answers 404 like a missing one."""
    pathway.read_patient(s, actor, patient_id)
    found = s.get(model, record_id)
    if found is None or found.patient_id != patient_id:
        raise NotFound(f"no such record: {record_id}")
    return found


RECORDS: dict[str, Any] = {
    "evaluations": Evaluation,
    "trials": Trial,
    "implants": Implant,
    "follow-ups": FollowUp,
    "interrogations": Interrogation,
    "remote-requests": RemoteRequest,
}


@router.get("/patients/{patient_id}/evaluations", tags=["pathway"])
def evaluations(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    return _records(s, actor, patient_id, Evaluation, Evaluation.id)


@router.post("/patients/{patient_id}/evaluations", status_code=201, tags=["pathway"])
def record_evaluation(patient_id: Id, body: EvaluationIn, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body,
        201,
        lambda: row(
            pathway.record_evaluation(once.s, once.actor, patient_id, body.to_candidate(), body.model_dump(), once.at)
        ),
    )


@router.get("/patients/{patient_id}/trials", tags=["pathway"])
def trials(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    return _records(s, actor, patient_id, Trial, Trial.id)


@router.post("/patients/{patient_id}/trials", status_code=201, tags=["pathway"])
def record_trial(patient_id: Id, body: TrialIn, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body,
        201,
        lambda: row(
            pathway.record_trial(
                once.s,
                once.actor,
                patient_id,
                body.to_trial(),
                body.model_dump(exclude={"override_reason"}),
                once.at,
                body.override_reason,
            )
        ),
    )


@router.get("/patients/{patient_id}/implants", tags=["pathway"])
def implants(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    return _records(s, actor, patient_id, Implant, Implant.implanted_at)


@router.post("/patients/{patient_id}/implants", status_code=201, tags=["pathway"])
def record_implant(patient_id: Id, body: ImplantIn, once: OnceOnly) -> dict[str, Any]:
    def use_case() -> dict[str, Any]:
        implant, version = pathway.record_implant(
            once.s, once.actor, patient_id, body.to_data(), body.program, once.at, body.override_reason
        )
        return {"implant": row(implant), "program": None if version is None else program_json(version)}

    return once.run(body, 201, use_case)


def program_json(v: ProgramVersion, s: Session | None = None) -> dict[str, Any]:
    """A program version; one that waits says the bridge it will run from what the pump holds now."""
    out = {**row(v), "document": v.document}
    if s is not None and v.status in WAITING:
        out["bridge_plan"] = programs_service.bridge_summary(s, v) or None
    return out


@router.get("/patients/{patient_id}/programs", tags=["programs"])
def programs(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(select(ProgramVersion).where(ProgramVersion.patient_id == patient_id).order_by("number"))
    return [program_json(v, s) for v in found]


@router.get("/patients/{patient_id}/programs/{number}", tags=["programs"])
def read_program(patient_id: Id, number: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.number == number)
    ).first()
    if found is None:
        raise NotFound(f"no program version {number}")
    return program_json(found, s)


@router.post("/patients/{patient_id}/programs", status_code=201, tags=["programs"])
def propose_program(patient_id: Id, body: ProgramIn, once: OnceOnly) -> dict[str, Any]:
    """Findings and the side-by-side diff come back; nothing reaches the pump until confirmed (and, for a new drug
    or concentration, verified and then applied by the refill that brings the solution)."""
    return once.run(
        body,
        201,
        lambda: program_json(
            programs_service.propose_program(
                once.s, once.actor, patient_id, body.document, once.at, body.bridge, body.bridge_off_reason
            )
        ),
    )


@router.post("/patients/{patient_id}/programs/{number}/confirm", tags=["programs"])
def confirm_program(patient_id: Id, number: Id, body: ConfirmIn, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body,
        200,
        lambda: program_json(
            programs_service.confirm_program(once.s, once.actor, patient_id, number, body.overrides, once.at),
            once.s,
        ),
    )


@router.post("/patients/{patient_id}/programs/{number}/verify", tags=["programs"])
def verify_program(patient_id: Id, number: Id, once: OnceOnly) -> dict[str, Any]:
    """The second person: a new drug or concentration then awaits the refill that brings it."""
    return once.run(
        None,
        200,
        lambda: program_json(programs_service.verify_program(once.s, once.actor, patient_id, number, once.at), once.s),
    )


@router.post("/patients/{patient_id}/programs/{number}/cancel", tags=["programs"])
def cancel_program(patient_id: Id, number: Id, body: ReasonIn, once: OnceOnly) -> dict[str, Any]:
    """A physician cancels a program that has not run (proposed, or waiting for its verification or its refill)."""
    return once.run(
        body,
        200,
        lambda: program_json(
            programs_service.cancel_program(once.s, once.actor, patient_id, number, body.reason, once.at)
        ),
    )


@router.get("/patients/{patient_id}/refills", tags=["refills"])
def refills(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(select(Refill).where(Refill.patient_id == patient_id).order_by(Refill.prepared_at, Refill.id))
    return [refill_json(r) for r in found]


@router.get("/patients/{patient_id}/refills/{refill_id}", tags=["refills"])
def read_refill(patient_id: Id, refill_id: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    return refill_json(_record(s, actor, patient_id, Refill, refill_id))


@router.post("/patients/{patient_id}/refills", status_code=201, tags=["refills"])
def prepare_refill(patient_id: Id, body: PrepareIn, once: OnceOnly) -> dict[str, Any]:
    """Step 1: the prepared solution (label, lot, expiry or beyond-use date, volume). Nothing is in the pump yet."""
    return once.run(
        body,
        201,
        lambda: refill_json(refills_service.prepare_refill(once.s, once.actor, patient_id, body.to_command(), once.at)),
    )


@router.post("/patients/{patient_id}/refills/{refill_id}/check", tags=["refills"])
def check_refill(patient_id: Id, refill_id: Id, once: OnceOnly) -> dict[str, Any]:
    """Step 2: the independent double check by a second person, before the fill (a pharmacist or a physician for a
    compounded solution)."""
    return once.run(
        None,
        200,
        lambda: refill_json(refills_service.check_refill(once.s, once.actor, patient_id, refill_id, once.at)),
    )


@router.post("/patients/{patient_id}/refills/{refill_id}/complete", tags=["refills"])
def complete_refill(patient_id: Id, refill_id: Id, body: CompleteIn, once: OnceOnly) -> dict[str, Any]:
    """Step 3: withdrawn and filled volumes; the reconciliation, the new fill in the twin, a waiting program for
    this solution applied, the next refill due. Unchecked, it needs `emergency_reason` and is flagged."""
    return once.run(
        body,
        200,
        lambda: refill_json(
            refills_service.complete_refill(once.s, once.actor, patient_id, refill_id, body.to_command(), once.at)
        ),
    )


@router.post("/patients/{patient_id}/refills/{refill_id}/cancel", tags=["refills"])
def cancel_refill(patient_id: Id, refill_id: Id, body: ReasonIn, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body,
        200,
        lambda: refill_json(
            refills_service.cancel_refill(once.s, once.actor, patient_id, refill_id, body.reason, once.at)
        ),
    )


@router.get("/patients/{patient_id}/flags", tags=["follow-ups"])
def flags(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    """Flags the use cases raised (pocket fill, unchecked refill, interrogation discrepancies), open or resolved."""
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(select(Flag).where(Flag.patient_id == patient_id).order_by(Flag.raised_at, Flag.id))
    return [flag_json(f) for f in found]


@router.get("/patients/{patient_id}/flags/{flag_id}", tags=["follow-ups"])
def read_flag(patient_id: Id, flag_id: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    return flag_json(_record(s, actor, patient_id, Flag, flag_id))


@router.post("/patients/{patient_id}/flags/{flag_id}/resolve", tags=["follow-ups"])
def resolve_flag(patient_id: Id, flag_id: Id, body: ResolveIn, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body,
        200,
        lambda: flag_json(pathway.resolve_flag(once.s, once.actor, patient_id, flag_id, body.resolution, once.at)),
    )


@router.get("/patients/{patient_id}/follow-ups", tags=["follow-ups"])
def follow_ups(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    return _records(s, actor, patient_id, FollowUp, FollowUp.at)


@router.post("/patients/{patient_id}/follow-ups", status_code=201, tags=["follow-ups"])
def record_follow_up(patient_id: Id, body: FollowUpIn, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body,
        201,
        lambda: row(
            pathway.record_follow_up(once.s, once.actor, patient_id, body.to_visit(), body.model_dump(), once.at)
        ),
    )


@router.post("/patients/{patient_id}/follow-ups/{follow_up_id}/resolve", tags=["follow-ups"])
def resolve_follow_up(patient_id: Id, follow_up_id: Id, body: ResolveIn, once: OnceOnly) -> dict[str, Any]:
    """A follow-up's urgent flags are seen to, with what was done (kept and audited)."""
    return once.run(
        body,
        200,
        lambda: row(pathway.resolve_follow_up(once.s, once.actor, patient_id, follow_up_id, body.resolution, once.at)),
    )


@router.get("/patients/{patient_id}/interrogations", tags=["pump"])
def interrogations(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    return _records(s, actor, patient_id, Interrogation, Interrogation.at)


@router.post("/patients/{patient_id}/interrogations", status_code=201, tags=["pump"])
def record_interrogation(patient_id: Id, body: InterrogationIn, once: OnceOnly) -> dict[str, Any]:
    """The pump's report against the twin: a reservoir outside its band, or a program other than the running one,
    raises a flag."""
    return once.run(
        body,
        201,
        lambda: row(pathway.record_interrogation(once.s, once.actor, patient_id, body.to_command(), once.at)),
    )


@router.get("/patients/{patient_id}/remote-requests", tags=["pump"])
def remote_requests(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    return _records(s, actor, patient_id, RemoteRequest, RemoteRequest.at)


@router.post("/patients/{patient_id}/remote-requests", status_code=201, tags=["pump"])
def request_bolus(patient_id: Id, once: OnceOnly) -> dict[str, Any]:
    """The patient presses the remote: the twin decides, with the reason. Presses at once are decided one after
    the other, so the lockout and the daily maximum hold."""
    return once.run(None, 201, lambda: row(pathway.request_bolus(once.s, once.actor, patient_id, once.at)))


# --- clinic-wide --------------------------------------------------------------------------------------------------
@router.get("/dashboard", tags=["clinic"])
def dashboard(s: Tx, at: Now, actor: Actor, limit: int = Query(default=0, ge=0)) -> Response:
    """Every patient, most urgent first: `{at, patients, total}`; `limit` > 0 answers the first rows only (`total`
    still counts every patient)."""
    rows, total = dashboard_page(s, actor, at, limit or None)
    # Thousands of rows of plain JSON values: written by orjson in one go (a response model would walk them first).
    body = {"at": at.isoformat(), "patients": rows, "total": total}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/queues", tags=["clinic"], response_model=WorkQueuesOut)
def queues(s: Tx, at: Now, actor: Actor) -> WorkQueuesOut:
    """What waits for the user asking, with how long it has waited: refill preparations and program changes awaiting
    their check, programs awaiting their refill, open flags they may resolve, unacknowledged discrepancies, and the
    pathway gates a physician went past in the last 30 days."""
    q = work_queues(s, actor, at)
    return WorkQueuesOut.model_validate(
        {
            "at": at,
            **{
                name: [asdict(i) for i in getattr(q, name)]
                for name in (
                    "awaiting_my_check",
                    "awaiting_refill",
                    "flags",
                    "discrepancies",
                    "overrides",
                    "refills_overdue",
                )
            },
        }
    )


@router.get("/audit", tags=["clinic"])
def audit_records(
    s: Tx,
    actor: Actor,
    entity: str | None = None,
    after: int = Query(default=0, ge=0, le=SEQUENCE_MAX),
    limit: int = Query(default=200, ge=0, le=SEQUENCE_MAX),
) -> list[dict[str, Any]]:
    require(actor, "read-audit")
    q = select(AuditRecord).where(AuditRecord.sequence > after).order_by(AuditRecord.sequence).limit(limit)
    if entity:
        q = q.where(AuditRecord.entity.startswith(entity))
    return [row(r) for r in s.scalars(q)]


@router.get("/audit/verify", tags=["clinic"])
def audit_verify(s: Tx, actor: Actor) -> dict[str, Any]:
    require(actor, "read-audit")
    checked, findings = audit.verify(s)
    return {
        "records": checked,
        "intact": not findings,
        "findings": [{"kind": f.kind, "sequence": f.sequence, "message": f.message} for f in findings],
    }


# Last: the generic path must not shadow the specific ones above.
@router.get("/patients/{patient_id}/{kind}/{record_id}", tags=["pathway"])
def read_record(patient_id: Id, kind: str, record_id: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    """One evaluation, trial, implant, follow-up, interrogation or remote request."""
    model = RECORDS.get(kind)
    if model is None:
        raise NotFound(f"no such kind of record: {kind}")
    return row(_record(s, actor, patient_id, model, record_id))
