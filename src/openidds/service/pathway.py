"""The care pathway's use cases. Each runs in one transaction (the caller's), checks who may do it, applies
the pure core's rules, writes the records and one audit record per write, and keeps the dashboard row current.

Instants come in from the edge (`now`); nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.clinic.evaluation import Candidate, evaluate_candidate
from openidds.clinic.followup import FollowUpVisit, assess_follow_up, clinician_rated
from openidds.clinic.interrogation import ReportedDrug, mismatch_flag, program_differences, reservoir_discrepancy
from openidds.clinic.refill import first_fill_flag
from openidds.clinic.resolution import resolution_refusal
from openidds.clinic.roles import Action
from openidds.clinic.trial import Trial as TrialInput
from openidds.clinic.trial import evaluate_trial
from openidds.data import load_catalog, load_indications, load_library
from openidds.db.models import (
    Evaluation,
    Flag,
    FollowUp,
    Implant,
    Interrogation,
    Patient,
    ProgramVersion,
    RemoteRequest,
    Trial,
    User,
)
from openidds.drugs import CARE_AREAS
from openidds.errors import InputError
from openidds.programs.clock import to_us
from openidds.programs.program import PumpProgram
from openidds.programs.solution import check_volume
from openidds.quantities import DOSE_RATE, parse_quantity
from openidds.quantities.units import format_number
from openidds.service import audit, notify
from openidds.service.access import actor_name, require, require_role
from openidds.service.dashboard import dashboard_page
from openidds.service.errors import Conflict, NotFound
from openidds.service.flags import raise_flag
from openidds.service.gates import record_override, through_gate
from openidds.service.locks import decision_instant, lock_patient
from openidds.service.programs import (
    active_version,
    chart_facts,
    first_program_findings,
    new_version,
    parse,
    trial_dose_findings,
)
from openidds.service.pump import WAITING, pump_state, refresh_status
from openidds.service.refills import ingredients
from openidds.twin import RemoteRequest as RemoteEvent
from openidds.validation import (
    birth_date_problem,
    canonical_mrn,
    normal_text,
    plain_text,
    timezone_problem,
)


def _patient(s: Session, actor: User, patient_id: int, action: Action) -> Patient:
    require(actor, action, patient_id=patient_id)
    patient = s.get(Patient, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    return patient


def _writer(s: Session, actor: User, patient_id: int, action: Action) -> Patient:
    """The patient for a use case that writes: who may do it checked, then the patient locked (service.locks)."""
    require(actor, action, patient_id=patient_id)
    return lock_patient(s, patient_id)


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
        "oral_mme_per_day": None if p.oral_mme_per_day is None else format_number(p.oral_mme_per_day, 9),
        "allergies": p.allergies,
        "anticoagulants": p.anticoagulants,
        "psychosis_history": p.psychosis_history,
        "life_expectancy_months": p.life_expectancy_months,
        "stage": p.stage,
        "version": p.version,
    }


# --- patients -----------------------------------------------------------------------------------------------------
SEXES = ("female", "male", "other", "unknown")
CLEARABLE = frozenset({"oral_mme_per_day", "psychosis_history", "life_expectancy_months"})  # null: not known
LIFE_EXPECTANCY_MAX_MONTHS = 1200


@dataclass(frozen=True, slots=True)
class NewPatient:
    """A patient as the clinic registers them (api/schemas.py NewPatient.to_command)."""

    mrn: str
    family_name: str
    given_name: str
    birth_date: date
    sex: str
    care_area: str
    timezone: str = "America/Chicago"
    indications: tuple[str, ...] = ()
    oral_mme_per_day: Fraction | None = None
    allergies: tuple[str, ...] = ()
    anticoagulants: tuple[str, ...] = ()
    psychosis_history: bool | None = None
    life_expectancy_months: int | None = None


@dataclass(frozen=True, slots=True)
class PatientChange:
    """A change to a patient's record: `version` as read (a concurrent change answers 409); `given` names the
    fields that change (the others keep their value, so None in a field given clears an optional fact)."""

    version: int
    given: frozenset[str] = frozenset()
    family_name: str | None = None
    given_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    timezone: str | None = None
    care_area: str | None = None
    indications: tuple[str, ...] | None = None
    oral_mme_per_day: Fraction | None = None
    allergies: tuple[str, ...] | None = None
    anticoagulants: tuple[str, ...] | None = None
    psychosis_history: bool | None = None
    life_expectancy_months: int | None = None


def _text(value: str, field: str, max_length: int) -> str:
    try:
        text = normal_text(value, max_length)
    except ValueError as exc:
        raise InputError(field, str(exc)) from None
    if not text:
        raise InputError(field, "is blank: type it")
    return text


def checked_patient(p: NewPatient, now: datetime) -> NewPatient:
    """The one set of rules for a patient's record, a new one (POST) or one changed (PATCH): the record as stored,
    or an InputError naming the first field that breaks a rule."""
    mrn = canonical_mrn(p.mrn)
    if mrn.value is None:
        raise InputError("mrn", mrn.reason)
    zone = timezone_problem(p.timezone)
    if zone is not None:
        raise InputError("timezone", zone)
    born = birth_date_problem(p.birth_date, now.astimezone(ZoneInfo(p.timezone)).date())  # the clinic's today
    if born is not None:
        raise InputError("birth_date", born)
    if p.sex not in SEXES:
        raise InputError("sex", f"unknown sex {p.sex[:20]!r} (choose {', '.join(SEXES)})")
    if p.care_area not in CARE_AREAS:
        raise InputError("care_area", f"unknown care area {p.care_area[:40]!r} (choose {', '.join(CARE_AREAS)})")
    catalog = load_indications()
    indications = tuple(catalog.indication(ind, f"indications[{i}]").id for i, ind in enumerate(p.indications))
    if p.oral_mme_per_day is not None and p.oral_mme_per_day < 0:
        raise InputError("oral_mme_per_day", "cannot be negative")
    months = p.life_expectancy_months
    if months is not None and not 0 <= months <= LIFE_EXPECTANCY_MAX_MONTHS:
        raise InputError("life_expectancy_months", f"0 to {LIFE_EXPECTANCY_MAX_MONTHS} months, got {months}")
    return replace(
        p,
        mrn=mrn.value,
        family_name=_text(p.family_name, "family_name", 100),
        given_name=_text(p.given_name, "given_name", 100),
        indications=indications,
        allergies=tuple(_text(a, f"allergies[{i}]", 200) for i, a in enumerate(p.allergies)),
        anticoagulants=tuple(_text(a, f"anticoagulants[{i}]", 200) for i, a in enumerate(p.anticoagulants)),
    )


def _columns(p: NewPatient) -> dict[str, Any]:
    return {
        "family_name": p.family_name,
        "given_name": p.given_name,
        "birth_date": p.birth_date,
        "sex": p.sex,
        "timezone": p.timezone,
        "care_area": p.care_area,
        "indications": list(p.indications),
        "oral_mme_per_day": p.oral_mme_per_day,
        "allergies": list(p.allergies),
        "anticoagulants": list(p.anticoagulants),
        "psychosis_history": p.psychosis_history,
        "life_expectancy_months": p.life_expectancy_months,
    }


def create_patient(s: Session, actor: User, cmd: NewPatient, now: datetime) -> Patient:
    require(actor, "create-patient")
    p = checked_patient(cmd, now)
    if s.scalar(select(Patient.id).where(Patient.mrn == p.mrn)) is not None:
        raise Conflict(f"a patient with MRN {p.mrn} already exists", field="mrn")
    patient = Patient(mrn=p.mrn, **_columns(p), stage="evaluation", created_at=now)
    s.add(patient)
    s.flush()
    _write(s, actor, "create-patient", f"patient/{patient.id}", now, None, patient_json(patient))
    refresh_status(s, patient.id, now)
    return patient


def update_patient(s: Session, actor: User, patient_id: int, cmd: PatientChange, now: datetime) -> Patient:
    """The fields given change; the record they make is checked as a new patient is (checked_patient)."""
    patient = _writer(s, actor, patient_id, "create-patient")
    if patient.version != cmd.version:
        raise Conflict(f"the record changed since you read it (version {cmd.version}, now {patient.version}): reload")
    unknown = cmd.given - set(NewPatient.__dataclass_fields__)
    if "mrn" in cmd.given or unknown:
        raise InputError(min(unknown or {"mrn"}), "cannot be changed here")
    for name in sorted(cmd.given - CLEARABLE):
        if getattr(cmd, name) is None:
            raise InputError(name, "cannot be cleared: give a value (an empty list for none)")
    stored: dict[str, Any] = {name: getattr(patient, name) for name in NewPatient.__dataclass_fields__}
    as_held: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
    current = NewPatient(**as_held)
    changed = checked_patient(replace(current, **{k: getattr(cmd, k) for k in cmd.given}), now)
    before = patient_json(patient)
    columns = _columns(changed)
    for key in sorted(cmd.given):
        setattr(patient, key, columns[key])
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
@dataclass(frozen=True, slots=True)
class RecordEvaluation:
    """The checklist as `evaluate_candidate` reads it, and the answers as entered (kept with the record)."""

    candidate: Candidate
    answers: dict[str, Any]


def record_evaluation(s: Session, actor: User, patient_id: int, cmd: RecordEvaluation, now: datetime) -> Evaluation:
    patient = _writer(s, actor, patient_id, "record-evaluation")
    answers = cmd.answers
    result = evaluate_candidate(
        cmd.candidate, indications=load_indications(), library=load_library(), chart=chart_facts(patient)
    )
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
    if patient.stage not in ("awaiting-implant", "implanted"):  # a re-evaluation before the trial decides anew
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


@dataclass(frozen=True, slots=True)
class RecordTrial:
    """The trial as `evaluate_trial` reads it, the details as entered (kept with the record), and a physician's
    reason for going ahead after an evaluation that needs review."""

    trial: TrialInput
    details: dict[str, Any]
    override_reason: str = ""


def record_trial(s: Session, actor: User, patient_id: int, cmd: RecordTrial, now: datetime) -> Trial:
    """A trial, after the evaluation that allows it (clinic.pathway: a physician may accept one that needs review,
    giving `override_reason`); its doses checked against the library's trial doses for the patient's care area."""
    trial, details, override_reason = cmd.trial, cmd.details, cmd.override_reason
    patient = _writer(s, actor, patient_id, "record-trial")
    outcome = evaluate_trial(trial, library=load_library(), care_area=patient.care_area)  # bad input first (422)
    overridden = through_gate(s, actor, patient.id, "trial", override_reason, (str(trial.drug),))
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
    patient.stage = {"success": "awaiting-implant", "failure": "trial-failed"}.get(outcome.status, "trial")
    s.flush()
    after: dict[str, Any] = {"outcome": outcome.status, "stage": patient.stage, "details": details}
    if overridden is not None:
        after["gate_override"] = record_override(
            s, actor, patient.id, overridden, override_reason, f"trial/{row.id}", now
        )
    _write(s, actor, "record-trial", f"patient/{patient.id}/trial/{row.id}", now, {"stage": before}, after)
    refresh_status(s, patient.id, now)
    return row


# --- implant and programs -----------------------------------------------------------------------------------------
ImplantKind = Literal["implant", "replacement", "revision"]


@dataclass(frozen=True, slots=True)
class RecordImplant:
    """An implant, pump replacement or catheter revision as the surgeon reports it; `program` is the first program
    file (none for a revision), `override_reason` a physician's reason for going past the pathway's gate."""

    pump_model: str
    pump_serial: str
    catheter_model: str
    catheter_length_cm: Fraction
    tip_level: str
    implanted_at: datetime
    surgeon: str
    kind: ImplantKind = "implant"
    notes: str = ""
    program: str | None = None
    override_reason: str = ""

    def record(self) -> dict[str, Any]:
        """The implant's columns (as stored and audited)."""
        return {
            "kind": self.kind,
            "pump_model": self.pump_model,
            "pump_serial": self.pump_serial,
            "catheter_model": self.catheter_model,
            "catheter_length_cm": self.catheter_length_cm,
            "tip_level": self.tip_level,
            "implanted_at": self.implanted_at,
            "surgeon": self.surgeon,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class ImplantRecorded:
    implant: Implant
    program: ProgramVersion | None  # the first program, running now; none for a revision


def record_implant(s: Session, actor: User, patient_id: int, cmd: RecordImplant, now: datetime) -> ImplantRecorded:
    """An implant or pump replacement with its first fill and program (the program file's reservoir is the fill
    at the implant), or a catheter revision (the pump keeps its program). The pathway's gate first: an implant
    after a successful trial (a physician may go ahead without one, giving `override_reason`), never a second
    implant; a replacement or a revision only with a pump in place."""
    patient = _writer(s, actor, patient_id, "record-implant")
    data, first_program, override_reason = cmd.record(), cmd.program, cmd.override_reason
    kind = cmd.kind
    catalog = load_catalog()
    pump = catalog.pump(cmd.pump_model, "pump_model")
    catalog.catheter(cmd.catheter_model, "catheter_model")
    at = cmd.implanted_at
    if at > now:
        raise InputError("implanted_at", "is in the future: record the surgery once it is done")
    latest = decision_instant(s, patient.id, at)
    if latest > at:  # the pump's own record goes on after it: a revision or replacement cannot come before
        raise InputError(
            "implanted_at",
            f"comes before the last record of the pump in place ({latest:%Y-%m-%d %H:%M}Z): give the surgery's instant",
        )
    if kind == "revision":
        if first_program:
            raise InputError("program", "a catheter revision keeps the pump's program: leave the program out")
        through_gate(s, actor, patient.id, "revision", override_reason)
        if active_version(s, patient.id) is None:
            raise Conflict("a revision needs an implanted, programmed pump")
        in_place = s.scalars(
            select(Implant)
            .where(Implant.patient_id == patient.id, Implant.kind.in_(("implant", "replacement")))
            .order_by(Implant.implanted_at.desc(), Implant.id.desc())
            .limit(1)
        ).first()
        if in_place is not None and (in_place.pump_model, in_place.pump_serial) != (pump.id, cmd.pump_serial):
            raise InputError(
                "pump_serial",
                f"a catheter revision keeps the pump in place ({in_place.pump_model}, serial {in_place.pump_serial}):"
                " record a pump replacement to change the pump",
            )
        implant = Implant(patient_id=patient.id, recorded_by=actor.id, recorded_at=now, **data)
        s.add(implant)
        s.flush()
        _write(s, actor, "record-revision", f"patient/{patient.id}/implant/{implant.id}", now, None, data)
        return ImplantRecorded(implant, None)
    if not first_program:
        raise InputError("program", "an implant or pump replacement needs its first program file")
    program = parse(first_program, "program")
    if program.pump.id != pump.id:
        raise InputError("program.pump.model", f"the program is for {program.pump.id}, the implant is {pump.id}")
    if program.reservoir.filled_at != at:
        raise InputError("program.reservoir.filled_at", "the first fill is at the implant: give the implant instant")
    drugs = tuple(i.drug.name for i in program.solution) if kind == "implant" else ()
    overridden = through_gate(s, actor, patient.id, kind, override_reason, drugs)  # bad input first, then the gate
    findings = first_program_findings(s, patient.id, program, at)
    if kind == "implant":
        findings += trial_dose_findings(s, patient.id, program)
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
    closed = []
    for waiting in s.scalars(
        select(ProgramVersion).where(
            ProgramVersion.patient_id == patient.id,
            ProgramVersion.status.in_(("proposed", *WAITING)),
        )
    ):  # written for the old pump: they cannot run in the new one
        waiting.status, waiting.closed_reason = "cancelled", "written for the pump this implant replaced"
        waiting.cancelled_at = now
        closed.append(waiting.number)
    version = new_version(s, patient.id, first_program, findings, [], False, actor, now)
    previous = active_version(s, patient.id)
    if previous is not None and previous.id != version.id:
        previous.status = "superseded"  # the old pump's program ends with the old pump
    version.status, version.confirmed_by, version.confirmed_at = "active", actor.id, now
    version.effective_at = at
    before = patient.stage
    patient.stage = "implanted"
    s.flush()
    after: dict[str, Any] = {**data, "stage": patient.stage, "program": version.id, "programs_closed": sorted(closed)}
    if overridden is not None:
        entity = f"implant/{implant.id}"
        after["gate_override"] = record_override(s, actor, patient.id, overridden, override_reason, entity, now)
    first_fill = first_fill_flag(program.solution)
    if first_fill is not None:
        after["flags"] = [raise_flag(s, actor, patient.id, first_fill, f"implant/{implant.id}", now).id]
    _write(s, actor, "record-implant", f"patient/{patient.id}/implant/{implant.id}", now, {"stage": before}, after)
    refresh_status(s, patient.id, now)
    return ImplantRecorded(implant, version)


# --- follow-ups, interrogations, the remote ------------------------------------------------------------------------
RESOLUTION_MAX = 2000


@dataclass(frozen=True, slots=True)
class RecordFollowUp:
    """The visit as `assess_follow_up` reads it, and what was entered (kept in the audit trail)."""

    visit: FollowUpVisit
    entered: dict[str, Any]


NOTHING_SEEN = (
    "nothing to record: give a pain score (nrs), the Oswestry or PHQ-9 answers, an Ashworth or Penn spasm score, "
    "or an adverse event"
)
NOTHING_READ = "nothing was read: give the reservoir volume (reservoir_ml), the alarms, eri or the drugs reported"


def record_follow_up(s: Session, actor: User, patient_id: int, cmd: RecordFollowUp, now: datetime) -> FollowUp:
    visit, entered = cmd.visit, cmd.entered
    patient = _writer(s, actor, patient_id, "record-follow-up" if actor.role != "patient" else "submit-questionnaire")
    rated = clinician_rated(visit) if actor.role == "patient" else ()
    if rated:
        raise InputError(
            rated[0], "is for the care team to rate: a questionnaire gives pain, Oswestry, PHQ-9 and spasms"
        )
    found = (visit.nrs, visit.oswestry, visit.phq9, visit.ashworth, visit.penn_frequency, visit.penn_severity)
    if all(v is None for v in found) and not visit.adverse_events:  # a baseline alone is a comparison, no finding
        raise InputError("", NOTHING_SEEN)
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
    for flag in row.flags:  # an urgent finding (PHQ-9 item 9, a grade 4 event) reaches a clinician now
        if flag.get("urgent"):
            notify.urgent_flag(s, patient.id, str(flag["code"]), str(flag["message"]), f"follow-up/{row.id}", now)
    _write(
        s,
        actor,
        "record-follow-up",
        f"patient/{patient.id}/follow-up/{row.id}",
        now,
        None,
        {"entered": entered, "urgent": row.urgent},
    )
    refresh_status(s, patient.id, now, state)
    return row


def resolve_follow_up(
    s: Session, actor: User, patient_id: int, follow_up_id: int, resolution: str, now: datetime
) -> FollowUp:
    """A follow-up's urgent flags are seen to, saying what was done (e.g. 'seen by the psychiatrist today; safety
    plan agreed'): resolving them again answers 409."""
    _writer(s, actor, patient_id, "resolve-flag")
    row = s.get(FollowUp, follow_up_id, populate_existing=True)
    if row is None or row.patient_id != patient_id:
        raise NotFound(f"no follow-up {follow_up_id}")
    if row.resolved_at is not None:
        raise Conflict("already resolved")
    text = plain_text(resolution, "resolution", RESOLUTION_MAX)
    refused = resolution_refusal(text, urgent=row.urgent)
    if refused is not None:
        raise InputError("resolution", refused)
    row.resolved_at, row.resolved_by, row.resolution = now, actor.id, text
    _write(
        s,
        actor,
        "resolve-flag",
        f"patient/{patient_id}/follow-up/{row.id}",
        now,
        {"resolved": False},
        {"resolved": True, "resolution": text},
    )
    refresh_status(s, patient_id, now)
    return row


SECOND_REVIEW = frozenset({"refill.unchecked", "refill.discrepancy", "implant.first-fill-unchecked"})


def flag_action(flag: Flag) -> Action:
    """Who may resolve a flag: a fill that had no double check (a refill in an emergency, a compounded first fill)
    and a refill outside its band are reviewed by a second person (not the one who filled it), a pharmacist too;
    any other flag by the care team."""
    return "review-unchecked-refill" if flag.code in SECOND_REVIEW else "resolve-flag"


def resolve_flag(s: Session, actor: User, patient_id: int, flag_id: int, resolution: str, now: datetime) -> Flag:
    """A clinician resolves a flag raised by a use case, saying what was done. Resolving it again answers 409."""
    require(actor, "read-patient", patient_id=patient_id)
    require_role(actor, "resolve-flag", "review-unchecked-refill", patient_id=patient_id)  # before the lookup
    lock_patient(s, patient_id)
    row = s.get(Flag, flag_id, populate_existing=True)
    if row is None or row.patient_id != patient_id:
        raise NotFound(f"no flag {flag_id}")
    require(actor, flag_action(row), patient_id=patient_id, recorded_by=row.raised_by)
    if row.resolved_at is not None:
        raise Conflict("this flag is already resolved")
    text = plain_text(resolution, "resolution", RESOLUTION_MAX)
    refused = resolution_refusal(text, urgent=row.urgent)
    if refused is not None:
        raise InputError("resolution", refused)
    row.resolved_at, row.resolved_by, row.resolution = now, actor.id, text
    s.flush()
    _write(
        s,
        actor,
        flag_action(row),
        f"patient/{patient_id}/flag/{row.id}",
        now,
        {"resolved": False, "code": row.code},
        {"resolved": True, "resolution": text},
    )
    refresh_status(s, patient_id, now)
    return row


@dataclass(frozen=True, slots=True)
class ReportedDrugIn:
    name: str
    concentration: str
    daily_dose: str | None = None


@dataclass(frozen=True, slots=True)
class RecordInterrogation:
    """What the programmer read from the pump: its reservoir figure, alarms, ERI, and the drugs it was told with
    the daily dose it shows."""

    reservoir_ml: Fraction | None = None
    alarms: tuple[str, ...] = ()
    eri: bool = False
    reported: tuple[ReportedDrugIn, ...] = ()


def record_interrogation(
    s: Session, actor: User, patient_id: int, cmd: RecordInterrogation, now: datetime
) -> Interrogation:
    """Against the twin: a reservoir figure outside its band is a discrepancy to review, and a pump that reports
    another program than the running one is an urgent flag."""
    patient = _writer(s, actor, patient_id, "record-follow-up")
    # Refused, not kept as "interrogated, nothing to note": every programmable pump shows its reservoir volume, so an
    # interrogation with nothing read is an empty form sent by mistake, and it would be checked against nothing.
    if cmd.reservoir_ml is None and not cmd.alarms and not cmd.eri and not cmd.reported:
        raise InputError("", NOTHING_READ)
    now = decision_instant(s, patient.id, now)
    state = pump_state(s, patient.id, now)
    reported: list[ReportedDrug] = []
    if state is not None:
        check_volume(state.program.pump, cmd.reservoir_ml or Fraction(0), "reservoir_ml", "the reservoir volume")
        reported = _reported(cmd.reported, state.program)
    elif cmd.reported or cmd.reservoir_ml is not None:
        field = "reported" if cmd.reported else "reservoir_ml"
        raise InputError(field, "no pump is programmed for this patient: nothing to compare with")
    row = Interrogation(
        patient_id=patient.id,
        at=now,
        recorded_by=actor.id,
        reservoir_ml=cmd.reservoir_ml,
        alarms=list(cmd.alarms),
        eri=cmd.eri,
        reported=[{"name": d.name, "concentration": d.concentration, "daily_dose": d.daily_dose} for d in cmd.reported],
    )
    s.add(row)
    s.flush()
    raised = []
    if state is not None:
        entity = f"interrogation/{row.id}"
        if cmd.reservoir_ml is not None:
            found = reservoir_discrepancy(cmd.reservoir_ml, state.twin.expected_residual())
            if found is not None:
                raised.append(raise_flag(s, actor, patient.id, found, entity, now))
        differences = program_differences(state.program, reported) if reported else []
        if differences:
            flag = mismatch_flag(differences, state.program.solution)
            raised.append(raise_flag(s, actor, patient.id, flag, entity, now))
    _write(
        s,
        actor,
        "record-interrogation",
        f"patient/{patient.id}/interrogation/{row.id}",
        now,
        None,
        {
            "reservoir_ml": cmd.reservoir_ml,
            "alarms": list(cmd.alarms),
            "eri": cmd.eri,
            "reported": row.reported,
            "flags": [f.id for f in raised],
        },
    )
    refresh_status(s, patient.id, now)
    return row


def _reported(drugs: tuple[ReportedDrugIn, ...], running: PumpProgram) -> list[ReportedDrug]:
    out = []
    solution = ingredients(tuple((d.name, d.concentration) for d in drugs), running, "reported") if drugs else ()
    for i, (d, ing) in enumerate(zip(drugs, solution, strict=True)):
        dose = None
        if d.daily_dose is not None:
            dose = parse_quantity(d.daily_dose, DOSE_RATE, f"reported[{i}].daily_dose")
        out.append(ReportedDrug(ing, dose))
    return out


def request_bolus(s: Session, actor: User, patient_id: int, now: datetime) -> RemoteRequest:
    """The patient's remote: the twin decides (lockout, daily maximum, reservoir, pump state); every request is kept.

    Serialised on the patient: of requests at once, each is decided on the committed ones before it."""
    patient = _writer(s, actor, patient_id, "request-bolus")
    now = decision_instant(s, patient.id, now)
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
