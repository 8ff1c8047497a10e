"""The care pathway's use cases. Each runs in one transaction (the caller's), checks who may do it, applies
the pure core's rules, writes the records and one audit record per write, and keeps the dashboard row current.

Instants come in from the edge (`now`); nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds.calculations import reconcile
from openidds.clinic.evaluation import Candidate, evaluate_candidate
from openidds.clinic.followup import FollowUpVisit, assess_follow_up
from openidds.clinic.roles import Action
from openidds.clinic.trial import Trial as TrialInput
from openidds.clinic.trial import evaluate_trial
from openidds.data import load_catalog, load_indications, load_library
from openidds.db.models import (
    Evaluation,
    FollowUp,
    Implant,
    Interrogation,
    Patient,
    ProgramVersion,
    Refill,
    RemoteRequest,
    Trial,
    User,
)
from openidds.drugs import CARE_AREAS
from openidds.errors import InputError
from openidds.programfile import parse_program
from openidds.programs.clock import to_us
from openidds.quantities import Quantity
from openidds.quantities.units import format_number
from openidds.review import diff as review_diff
from openidds.safety import check
from openidds.service import audit
from openidds.service.access import actor_name, require
from openidds.service.dashboard import dashboard_page
from openidds.service.errors import Conflict, NotFound
from openidds.service.pump import program_of, pump_state, refresh_status, solution_json
from openidds.twin import RemoteRequest as RemoteEvent


def _patient(s: Session, actor: User, patient_id: int, action: Action) -> Patient:
    require(actor, action, patient_id=patient_id)
    patient = s.get(Patient, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    return patient


def _write(s: Session, actor: User, action: str, entity: str, now: datetime, before: Any, after: Any) -> None:
    audit.record(s, actor_name(actor), action, entity, now, before, after)


def patient_json(p: Patient) -> dict[str, Any]:
    return {
        "id": p.id,
        "mrn": p.mrn,
        "family_name": p.family_name,
        "given_name": p.given_name,
        "birth_date": p.birth_date.isoformat(),
        "sex": p.sex,
        "timezone": p.timezone,
        "care_area": p.care_area,
        "indications": p.indications,
        "oral_mme_per_day": None if p.oral_mme_per_day is None else str(p.oral_mme_per_day),
        "allergies": p.allergies,
        "anticoagulants": p.anticoagulants,
        "psychosis_history": p.psychosis_history,
        "life_expectancy_months": p.life_expectancy_months,
        "stage": p.stage,
        "version": p.version,
    }


# --- patients -----------------------------------------------------------------------------------------------------
def create_patient(s: Session, actor: User, data: dict[str, Any], now: datetime) -> Patient:
    require(actor, "create-patient")
    indications = load_indications()
    for i, ind in enumerate(data.get("indications") or []):
        indications.indication(ind, f"indications[{i}]")
    if data["care_area"] not in CARE_AREAS:
        raise InputError("care_area", f"unknown care area {data['care_area']!r} (choose {', '.join(CARE_AREAS)})")
    if s.scalar(select(Patient.id).where(Patient.mrn == data["mrn"])) is not None:
        raise Conflict(f"a patient with MRN {data['mrn']} already exists")
    patient = Patient(**data, stage="evaluation", created_at=now)
    s.add(patient)
    s.flush()
    _write(s, actor, "create-patient", f"patient/{patient.id}", now, None, patient_json(patient))
    refresh_status(s, patient.id, now)
    return patient


def update_patient(
    s: Session, actor: User, patient_id: int, version: int, changes: dict[str, Any], now: datetime
) -> Patient:
    patient = _patient(s, actor, patient_id, "create-patient")
    if patient.version != version:
        raise Conflict(f"the record changed since you read it (version {version}, now {patient.version}): reload")
    before = patient_json(patient)
    for key, value in changes.items():
        setattr(patient, key, value)
    s.flush()  # the version check in SQL: a concurrent writer makes this fail (StaleDataError → 409)
    _write(s, actor, "update-patient", f"patient/{patient.id}", now, before, patient_json(patient))
    return patient


def read_patient(s: Session, actor: User, patient_id: int) -> Patient:
    return _patient(s, actor, patient_id, "read-patient")


def list_patients(s: Session, actor: User) -> list[Patient]:
    if actor.role == "patient":
        return [read_patient(s, actor, actor.patient_id)] if actor.patient_id is not None else []
    require(actor, "read-dashboard")
    return list(s.scalars(select(Patient).order_by(Patient.family_name, Patient.given_name)))


# --- evaluation and trial -----------------------------------------------------------------------------------------
def record_evaluation(
    s: Session, actor: User, patient_id: int, candidate: Candidate, answers: dict[str, Any], now: datetime
) -> Evaluation:
    patient = _patient(s, actor, patient_id, "record-evaluation")
    result = evaluate_candidate(candidate, indications=load_indications(), library=load_library())
    row = Evaluation(
        patient_id=patient.id,
        answers=answers,
        outcome=result.status,
        reasons=result.as_json()["items"],
        recorded_by=actor.id,
        recorded_at=now,
    )
    s.add(row)
    before = patient.stage
    if patient.stage in ("evaluation", "not-eligible"):
        patient.stage = {"eligible": "trial", "not-eligible": "not-eligible"}.get(result.status, "evaluation")
    s.flush()
    _write(
        s,
        actor,
        "record-evaluation",
        f"patient/{patient.id}/evaluation/{row.id}",
        now,
        {"stage": before},
        {"outcome": result.status, "stage": patient.stage, "answers": answers},
    )
    return row


def record_trial(
    s: Session, actor: User, patient_id: int, trial: TrialInput, details: dict[str, Any], now: datetime
) -> Trial:
    patient = _patient(s, actor, patient_id, "record-trial")
    outcome = evaluate_trial(trial, library=load_library())
    row = Trial(
        patient_id=patient.id,
        details={**details, "result": outcome.as_json()},
        outcome=outcome.status,
        rule=outcome.rule,
        recorded_by=actor.id,
        recorded_at=now,
    )
    s.add(row)
    before = patient.stage
    if patient.stage in ("trial", "trial-failed", "evaluation"):
        patient.stage = {"success": "awaiting-implant", "failure": "trial-failed"}.get(outcome.status, patient.stage)
    s.flush()
    _write(
        s,
        actor,
        "record-trial",
        f"patient/{patient.id}/trial/{row.id}",
        now,
        {"stage": before},
        {"outcome": outcome.status, "stage": patient.stage, "details": details},
    )
    return row


# --- implant and programs -----------------------------------------------------------------------------------------
def record_implant(
    s: Session, actor: User, patient_id: int, data: dict[str, Any], first_program: str | None, now: datetime
) -> tuple[Implant, ProgramVersion | None]:
    """An implant or pump replacement with its first fill and program (the program file's reservoir is the fill
    at the implant), or a catheter revision (the pump keeps its program)."""
    patient = _patient(s, actor, patient_id, "record-implant")
    catalog = load_catalog()
    pump = catalog.pump(data["pump_model"], "pump_model")
    catalog.catheter(data["catheter_model"], "catheter_model")
    if data.get("kind", "implant") == "revision":
        if first_program:
            raise InputError("program", "a catheter revision keeps the pump's program: leave the program out")
        if active_version(s, patient.id) is None:
            raise Conflict("a revision needs an implanted, programmed pump")
        implant = Implant(patient_id=patient.id, recorded_by=actor.id, recorded_at=now, **data)
        s.add(implant)
        s.flush()
        _write(s, actor, "record-revision", f"patient/{patient.id}/implant/{implant.id}", now, None, data)
        return implant, None
    if not first_program:
        raise InputError("program", "an implant or pump replacement needs its first program file")
    program = _parse(first_program, "program")
    if program.pump.id != pump.id:
        raise InputError("program.pump.model", f"the program is for {program.pump.id}, the implant is {pump.id}")
    if program.reservoir.filled_at != data["implanted_at"]:
        raise InputError("program.reservoir.filled_at", "the first fill is at the implant: give the implant instant")
    # A replacement pump continues the therapy: checked as a step from the old pump's program, not as a start.
    running = active_version(s, patient.id)
    old = None if running is None else program_of(running)
    findings = [f.as_json() for f in check(program, program.context, old, library=load_library(), starting=old is None)]
    hard = [f for f in findings if f["severity"] == "hard"]
    if hard:
        raise InputError("program", "; ".join(str(f["message"]) for f in hard))
    soft = [f for f in findings if f["severity"] == "soft"]
    if soft:
        raise InputError(
            "program",
            "the first program needs no override: start within the soft limits, then titrate with a proposed "
            "program (" + "; ".join(str(f["message"]) for f in soft) + ")",
        )
    implant = Implant(patient_id=patient.id, recorded_by=actor.id, recorded_at=now, **data)
    s.add(implant)
    s.flush()
    version = _new_version(s, patient.id, first_program, findings, [], False, actor, now)
    previous = active_version(s, patient.id)
    if previous is not None and previous.id != version.id:
        previous.status = "superseded"  # the old pump's program ends with the old pump
    version.status, version.confirmed_by, version.confirmed_at = "active", actor.id, now
    version.effective_at = data["implanted_at"]
    before = patient.stage
    patient.stage = "implanted"
    s.flush()
    _write(
        s,
        actor,
        "record-implant",
        f"patient/{patient.id}/implant/{implant.id}",
        now,
        {"stage": before},
        {**data, "stage": patient.stage, "program": version.id},
    )
    refresh_status(s, patient.id, now)
    return implant, version


# "program.steps[1].rate: expected …": the program file's schema errors name the setting inside the message.


def _parse(document: str, field: str) -> Any:
    try:
        return parse_program(document, load_library(), load_catalog())
    except InputError as exc:
        raise InputError(f"{field}.{exc.field}" if exc.field else field, exc.message) from None


def _new_version(
    s: Session,
    patient_id: int,
    document: str,
    findings: list[Any],
    diff: list[Any],
    needs_second: bool,
    actor: User,
    now: datetime,
    bridge: bool = False,
) -> ProgramVersion:
    number = (s.scalar(select(func.max(ProgramVersion.number)).where(ProgramVersion.patient_id == patient_id)) or 0) + 1
    version = ProgramVersion(
        patient_id=patient_id,
        number=number,
        document=document,
        status="proposed",
        findings=findings,
        overrides={},
        diff=diff,
        needs_second=needs_second,
        bridge=bridge,
        proposed_by=actor.id,
        proposed_at=now,
    )
    s.add(version)
    s.flush()
    return version


def active_version(s: Session, patient_id: int) -> ProgramVersion | None:
    return s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.status == "active")
    ).first()


def propose_program(
    s: Session, actor: User, patient_id: int, document: str, now: datetime, bridge: bool = False
) -> ProgramVersion:
    """A proposed program: its findings against the running program and every setting old beside new.

    Hard findings refuse it at once (it is kept, refused, with the reasons: the record shows what was tried)."""
    patient = _patient(s, actor, patient_id, "propose-program")
    current = active_version(s, patient.id)
    if current is None:
        raise Conflict("no program is running: record the implant with its first program first")
    program = _parse(document, "document")
    old = program_of(current)
    findings = [f.as_json() for f in check(program, program.context, old, library=load_library(), now=now)]
    diff = [{"setting": r.setting, "old": r.old, "new": r.new, "changed": r.changed} for r in review_diff(old, program)]
    needs_second = solution_json(old.solution) != solution_json(program.solution)
    version = _new_version(s, patient.id, document, findings, diff, needs_second, actor, now, bridge)
    hard = [f for f in findings if f["severity"] == "hard"]
    if hard:
        version.status = "refused"
        version.closed_reason = "; ".join(str(f["message"]) for f in hard)
    _write(
        s,
        actor,
        "propose-program",
        f"patient/{patient.id}/program/{version.number}",
        now,
        None,
        {"status": version.status, "findings": [f["code"] for f in findings], "needs_second": needs_second},
    )
    return version


def _version(s: Session, patient_id: int, number: int) -> ProgramVersion:
    version = s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.number == number)
    ).first()
    if version is None:
        raise NotFound(f"no program version {number}")
    return version


def confirm_program(
    s: Session, actor: User, patient_id: int, number: int, overrides: dict[str, str], now: datetime
) -> ProgramVersion:
    """A physician confirms: every soft finding needs a reason. A drug or concentration change then waits for a
    second user's verification; otherwise the program runs from now."""
    _patient(s, actor, patient_id, "confirm-program")
    version = _version(s, patient_id, number)
    if version.status != "proposed":
        raise Conflict(f"program version {number} is {version.status}, not proposed")
    soft = {str(f["code"]) for f in version.findings if f["severity"] == "soft"}
    missing = sorted(code for code in soft if not (overrides.get(code) or "").strip())
    if missing:
        raise InputError("overrides", f"each soft finding needs a reason: {', '.join(missing)}")
    unknown = sorted(set(overrides) - soft)
    if unknown:
        raise InputError("overrides", f"not soft findings of this program: {', '.join(unknown)}")
    version.overrides = {code: overrides[code].strip() for code in sorted(soft)}
    version.confirmed_by, version.confirmed_at = actor.id, now
    if version.needs_second:
        version.status = "awaiting-verification"
    else:
        _activate(s, version, now)
    s.flush()
    _write(
        s,
        actor,
        "confirm-program",
        f"patient/{patient_id}/program/{number}",
        now,
        {"status": "proposed"},
        {"status": version.status, "overrides": version.overrides},
    )
    refresh_status(s, patient_id, now)
    return version


def verify_program(s: Session, actor: User, patient_id: int, number: int, now: datetime) -> ProgramVersion:
    """The second person for a drug or concentration change: not who proposed it, nor who confirmed it."""
    version = _version(s, patient_id, number)
    for by in (version.proposed_by, version.confirmed_by):
        if by is not None:  # not confirmed yet: the status check below answers (409), not a missing id (422)
            require(actor, "verify-concentration-change", patient_id=patient_id, recorded_by=by)
    if version.status != "awaiting-verification":
        raise Conflict(f"program version {number} is {version.status}, not awaiting verification")
    version.verified_by, version.verified_at = actor.id, now
    _activate(s, version, now)
    s.flush()
    _write(
        s,
        actor,
        "verify-program",
        f"patient/{patient_id}/program/{number}",
        now,
        {"status": "awaiting-verification"},
        {"status": "active"},
    )
    refresh_status(s, patient_id, now)
    return version


def _activate(s: Session, version: ProgramVersion, now: datetime) -> None:
    current = active_version(s, version.patient_id)
    if current is not None:
        current.status = "superseded"
    version.status, version.effective_at = "active", now


# --- refills ------------------------------------------------------------------------------------------------------
def record_refill(s: Session, actor: User, patient_id: int, data: dict[str, Any], now: datetime) -> Refill:
    """The withdrawn volume against what the twin expects, the new fill, and the next refill due."""
    patient = _patient(s, actor, patient_id, "record-refill")
    state = pump_state(s, patient.id, now)
    if state is None:
        raise Conflict("no pump is programmed for this patient")
    twin, program = state.twin, state.program
    capacity = program.pump.capacity.to("mL")
    filled, withdrawn = Fraction(data["filled_ml"]), Fraction(data["withdrawn_ml"])
    if not 0 < filled <= capacity:
        raise InputError("filled_ml", f"must be more than 0 and at most the reservoir's {capacity} mL")
    if withdrawn < 0:
        raise InputError("withdrawn_ml", "cannot be negative")
    solution = data["solution"]
    if solution != solution_json(program.solution):
        raise InputError(
            "solution",
            "differs from the running program's solution: a new drug or concentration needs a new program "
            "(proposed, confirmed and verified) before the refill",
        )
    expected = twin.expected_residual()
    result = reconcile(expected, Quantity.of(withdrawn, "mL")).value
    refill = Refill(
        patient_id=patient.id,
        at=now,
        drug_lot=data["drug_lot"],
        solution=solution,
        compounded=data["compounded"],
        expected_ml=expected.expected.to("mL"),
        expected_low_ml=expected.low.to("mL"),
        expected_high_ml=expected.high.to("mL"),
        withdrawn_ml=withdrawn,
        filled_ml=filled,
        reconciliation=result.status,
        discrepancy_ml=result.discrepancy.to("mL"),
        likely_causes=list(result.likely_causes),
        recorded_by=actor.id,
    )
    s.add(refill)
    s.flush()
    status = refresh_status(s, patient.id, now)
    refill.next_refill_due = status.next_refill_due
    _write(s, actor, "record-refill", f"patient/{patient.id}/refill/{refill.id}", now, None, refill_json(refill))
    return refill


def verify_refill(s: Session, actor: User, patient_id: int, refill_id: int, now: datetime) -> Refill:
    refill = s.get(Refill, refill_id)
    if refill is None or refill.patient_id != patient_id:
        raise NotFound(f"no refill {refill_id}")
    action: Action = "verify-compounded-refill" if refill.compounded else "verify-refill"
    require(actor, action, patient_id=patient_id, recorded_by=refill.recorded_by)
    if refill.verified_by is not None:
        raise Conflict("this refill is already verified")
    refill.verified_by, refill.verified_at = actor.id, now
    s.flush()
    _write(s, actor, action, f"patient/{patient_id}/refill/{refill.id}", now, {"verified": False}, {"verified": True})
    return refill


def refill_json(r: Refill) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": r.at.isoformat(),
        "drug_lot": r.drug_lot,
        "solution": r.solution,
        "compounded": r.compounded,
        "expected_ml": format_number(r.expected_ml, 9),
        "expected_band_ml": [format_number(r.expected_low_ml, 9), format_number(r.expected_high_ml, 9)],
        "withdrawn_ml": format_number(r.withdrawn_ml, 9),
        "filled_ml": format_number(r.filled_ml, 9),
        "reconciliation": r.reconciliation,
        "discrepancy_ml": format_number(r.discrepancy_ml, 9),
        "likely_causes": r.likely_causes,
        "next_refill_due": None if r.next_refill_due is None else r.next_refill_due.isoformat(),
        "recorded_by": r.recorded_by,
        "verified_by": r.verified_by,
    }


# --- follow-ups, interrogations, the remote ------------------------------------------------------------------------
def record_follow_up(
    s: Session, actor: User, patient_id: int, visit: FollowUpVisit, entered: dict[str, Any], now: datetime
) -> FollowUp:
    patient = _patient(s, actor, patient_id, "record-follow-up" if actor.role != "patient" else "submit-questionnaire")
    state = pump_state(s, patient.id, now)
    if state is not None:
        visit = replace(visit, drugs=tuple(i.drug.name for i in state.twin.solution))
    assessment = assess_follow_up(visit, library=load_library())
    doc = assessment.as_json()
    row = FollowUp(
        patient_id=patient.id,
        at=now,
        scores={k: v for k, v in doc.items() if k != "flags"},
        complications=entered.get("adverse_events", []),
        flags=doc["flags"],
        urgent=bool(assessment.urgent),
        recorded_by=actor.id,
    )
    s.add(row)
    s.flush()
    _write(
        s,
        actor,
        "record-follow-up",
        f"patient/{patient.id}/follow-up/{row.id}",
        now,
        None,
        {"entered": entered, "urgent": row.urgent},
    )
    refresh_status(s, patient.id, now)
    return row


def resolve_flag(s: Session, actor: User, patient_id: int, follow_up_id: int, now: datetime) -> FollowUp:
    _patient(s, actor, patient_id, "record-follow-up")
    row = s.get(FollowUp, follow_up_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound(f"no follow-up {follow_up_id}")
    if row.resolved_at is not None:
        raise Conflict("already resolved")
    row.resolved_at = now
    _write(
        s,
        actor,
        "resolve-flag",
        f"patient/{patient_id}/follow-up/{row.id}",
        now,
        {"resolved": False},
        {"resolved": True},
    )
    refresh_status(s, patient_id, now)
    return row


def record_interrogation(
    s: Session, actor: User, patient_id: int, data: dict[str, Any], now: datetime
) -> Interrogation:
    patient = _patient(s, actor, patient_id, "record-follow-up")
    row = Interrogation(patient_id=patient.id, at=now, recorded_by=actor.id, **data)
    s.add(row)
    s.flush()
    _write(s, actor, "record-interrogation", f"patient/{patient.id}/interrogation/{row.id}", now, None, data)
    refresh_status(s, patient.id, now)
    return row


def request_bolus(s: Session, actor: User, patient_id: int, now: datetime) -> RemoteRequest:
    """The patient's remote: the twin decides (lockout, daily maximum, reservoir, pump state); every request is kept."""
    patient = _patient(s, actor, patient_id, "request-bolus")
    state = pump_state(s, patient.id, now)
    if state is None:
        accepted, reason = False, "no pump is programmed"
    else:
        state.twin.apply(RemoteEvent(to_us(now)))
        decision = state.twin.decisions[-1]
        accepted, reason = decision.accepted, decision.reason
    row = RemoteRequest(patient_id=patient.id, at=now, accepted=accepted, reason=reason, requested_by=actor.id)
    s.add(row)
    s.flush()
    _write(
        s,
        actor,
        "request-bolus",
        f"patient/{patient.id}/remote/{row.id}",
        now,
        None,
        {"accepted": accepted, "reason": reason},
    )
    refresh_status(s, patient.id, now, state)  # the twin that decided already holds this request
    return row


# --- the dashboard --------------------------------------------------------------------------------------------------
def dashboard(s: Session, actor: User, now: datetime) -> list[dict[str, Any]]:
    """Every patient, most urgent first: refill overdue / due within 7 days / later, alarms, replacement, flags.
    (openidds.service.dashboard: `dashboard_page` gives the first rows only.)"""
    return dashboard_page(s, actor, now)[0]


def age(birth: date, now: datetime) -> int:
    years = now.year - birth.year
    return years - ((now.month, now.day) < (birth.month, birth.day))
