"""The printed records, read from the clinic's records: one function per document. Reads only, no role check.

The caller decides who may read it (the web page, the API route, or the CLI run by whoever holds the database):
`web.printing` and `api.routers.printing` check the role and the patient first, exactly as the record's own pages
do. The numbers come from the code the pages use: the pump twin replayed to the fill (`service.pump`), the
program's settings and doses (`review.settings`, `calculations.project`), the bridge (`service.programs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds import display
from openidds.calculations import project
from openidds.data import load_catalog, load_clinic_settings, load_library
from openidds.db.models import Flag, Implant, Patient, ProgramVersion, Refill, User
from openidds.printing.records import (
    Clinic,
    Device,
    DiffLine,
    DrugDose,
    EmergencyCard,
    PatientId,
    Person,
    ProgramRecord,
    RefillRecord,
    Setting,
    Warning,
)
from openidds.programs.program import PumpProgram
from openidds.review import settings
from openidds.service.errors import NotFound
from openidds.service.programs import active_version, bridge_summary, find_version
from openidds.service.pump import ACTIVE, fill_expiry, pending_text, program_of, project_from, pump_state
from openidds.web.alarms import drug_warnings

MRI_WORDS = {
    "stops-during-exposure": "The pump stops during an MRI scan and restarts after it, possibly late. Tell the pump "
    "clinic before any MRI; have the pump checked (interrogated) after it.",
    "valve-closes-until-reset": "An MRI scan closes the pump's valve: no drug flows until the pump clinic checks "
    "and resets the pump. Tell the pump clinic before any MRI.",
    "no-effect": "An MRI scan does not change this pump's flow. Tell the pump clinic before any MRI all the same.",
}


def clinic() -> Clinic:
    c = load_clinic_settings()
    return Clinic(
        c.clinic_name, c.timezone, c.demo, c.in_hours.number, c.in_hours.hours, c.on_call.number, c.on_call.hours
    )


def patient_id(p: Patient) -> PatientId:
    return PatientId(p.id, p.family_name, p.given_name, p.mrn, p.birth_date, p.sex, p.timezone)


def _people(s: Session, ids: Sequence[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    return {u.id: u for u in s.scalars(select(User).where(User.id.in_(wanted)))} if wanted else {}


def _person(people: dict[int, User], who: int | None, at: datetime | None) -> Person | None:
    if who is None:
        return None
    u = people.get(who)
    return Person(u.full_name, u.role, at) if u is not None else Person("?", "?", at)


def device_at(s: Session, patient_id: int, at: datetime | None) -> Device | None:
    """The pump (latest implant or replacement) and the catheter (latest of any surgery) in place at `at`."""
    query = select(Implant).where(Implant.patient_id == patient_id)
    if at is not None:
        query = query.where(Implant.implanted_at <= at)
    surgeries = list(s.scalars(query.order_by(Implant.implanted_at.desc(), Implant.id.desc())))
    if not surgeries:
        return None
    latest = surgeries[0]
    pump = next((i for i in surgeries if i.kind != "revision"), latest)
    catalog = load_catalog()
    try:
        model = catalog.pump(pump.pump_model)
    except Exception:  # a model the catalog no longer lists: its id, and no MRI words to guess
        return Device(
            pump.pump_model,
            pump.pump_model,
            pump.pump_serial,
            pump.implanted_at,
            latest.catheter_model,
            latest.catheter_length_cm,
            latest.tip_level,
            "Ask the pump clinic before any MRI.",
            "",
        )
    source = catalog.sources.get(model.mri_source)
    return Device(
        model.display_name,
        model.id,
        pump.pump_serial,
        pump.implanted_at,
        latest.catheter_model,
        latest.catheter_length_cm,
        latest.tip_level,
        MRI_WORDS.get(model.mri, "Ask the pump clinic before any MRI."),
        source.title if source is not None else model.mri_source,
    )


def drug_doses(program: PumpProgram) -> list[DrugDose]:
    """Each drug with its concentration and daily dose (the program, and with every allowed patient bolus)."""
    projection = project(program)
    out = []
    for i in program.solution:
        dose = projection.daily_dose.get(i.drug.name)
        unit = i.drug.dose_rate_unit
        out.append(
            DrugDose(
                i.drug.name,
                str(i.concentration),
                display.dose(dose.program, unit) if dose else display.NONE,
                display.dose(dose.worst_case, unit) if dose else display.NONE,
            )
        )
    return out


def _version_at(s: Session, patient_id: int, at: datetime) -> ProgramVersion | None:
    """The program the pump ran from `at` (the one a refill applied at that instant included)."""
    return s.scalars(
        select(ProgramVersion)
        .where(ProgramVersion.patient_id == patient_id, ProgramVersion.status.in_(ACTIVE))
        .where(ProgramVersion.effective_at <= at)
        .order_by(ProgramVersion.effective_at.desc(), ProgramVersion.number.desc())
    ).first()


def _iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def refill_record(s: Session, patient: Patient, refill_id: int) -> RefillRecord:
    r = s.get(Refill, refill_id)
    if r is None or r.patient_id != patient.id:
        raise NotFound(f"no refill {refill_id}")
    tz = patient.timezone
    people = _people(s, [r.prepared_by, r.checked_by, r.recorded_by, r.cancelled_by])
    version: ProgramVersion | None
    low_at = empty_at = None
    due_reason = ""
    program: PumpProgram | None = None
    if r.status == "completed" and r.at is not None:
        version = _version_at(s, patient.id, r.at)
        state = pump_state(s, patient.id, r.at)  # the twin replayed to the fill, the fill included
        if state is not None:
            program = state.program
            _, due_reason, projected = project_from(state.twin, program, fill_expiry(s, patient.id, state.twin))
            alarms = {a["alarm"]: _iso(a["at"]) for a in projected}
            low_at, empty_at = alarms.get("low-reservoir"), alarms.get("empty-reservoir")
    elif r.program_number is not None:
        version = find_version(s, patient.id, r.program_number)
    else:
        version = active_version(s, patient.id)
    if program is None and version is not None:
        program = program_of(version)
    rows: list[Setting] = []
    doses: list[DrugDose] = []
    if program is not None:
        values = settings(program, project(program))
        if r.status == "completed":  # the fill itself, not the program file's first fill
            values["reservoir filled at"] = display.instant(r.at, tz)
            values["reservoir volume"] = display.volume(r.filled_ml)
        rows = [Setting(k, v) for k, v in values.items()]
        doses = drug_doses(program)
    brought = r.program_number is not None
    bridge = ""
    if brought and r.status != "cancelled":
        bridge = bridge_summary(s, find_version(s, patient.id, r.program_number))  # type: ignore[arg-type]
    flags = s.scalars(select(Flag).where(Flag.patient_id == patient.id, Flag.entity == f"refill/{r.id}"))
    return RefillRecord(
        clinic=clinic(),
        patient=patient_id(patient),
        refill_id=r.id,
        status=r.status,
        device=device_at(s, patient.id, r.at or r.prepared_at),
        solution=[(str(d.get("name", "")), str(d.get("concentration", ""))) for d in r.solution],
        lot=r.drug_lot,
        expires_at=r.expires_at,
        volume_prepared_ml=r.volume_ml,
        compounded=r.compounded,
        compounded_reasons=[str(x) for x in r.compounded_reasons],
        prepared=Person(people[r.prepared_by].full_name, people[r.prepared_by].role, r.prepared_at)
        if r.prepared_by in people
        else Person("?", "?", r.prepared_at),
        checked=_person(people, r.checked_by, r.checked_at),
        filled=_person(people, r.recorded_by, r.at),
        cancelled=_person(people, r.cancelled_by, r.cancelled_at),
        cancel_reason=r.cancel_reason,
        emergency_reason=r.emergency_reason,
        expected_ml=r.expected_ml,
        expected_low_ml=r.expected_low_ml,
        expected_high_ml=r.expected_high_ml,
        withdrawn_ml=r.withdrawn_ml,
        filled_ml=r.filled_ml,
        pocket_ml=r.pocket_ml,
        verdict=r.reconciliation,
        discrepancy_ml=r.discrepancy_ml,
        likely_causes=[str(c) for c in r.likely_causes],
        program_number=version.number if version is not None else r.program_number,
        program_brought=brought,
        bridge=bridge,
        doses=doses,
        settings=rows,
        low_alarm_at=low_at,
        empty_at=empty_at,
        next_refill_due=r.next_refill_due,
        next_refill_reason=due_reason,
        flags=[f.message for f in flags],
    )


def program_record(s: Session, patient: Patient, number: int) -> ProgramRecord:
    v = find_version(s, patient.id, number)
    people = _people(s, [v.proposed_by, v.confirmed_by, v.verified_by, v.cancelled_by])
    findings = [f for f in v.findings if isinstance(f, dict)]
    words = {str(f.get("code")): str(f.get("message", "")) for f in findings}
    if v.diff:
        diff = [
            DiffLine(str(d.get("setting", "")), str(d.get("old", "")), str(d.get("new", "")), bool(d.get("changed")))
            for d in v.diff
            if isinstance(d, dict)
        ]
    else:  # the first program: nothing to compare with
        program = program_of(v)
        diff = [DiffLine(k, display.NONE, val, True) for k, val in settings(program, project(program)).items()]
    proposed = _person(people, v.proposed_by, v.proposed_at)
    assert proposed is not None
    return ProgramRecord(
        clinic=clinic(),
        patient=patient_id(patient),
        number=v.number,
        status=v.status,
        based_on=v.based_on,
        needs_second=v.needs_second,
        diff=diff,
        findings=findings,
        overrides=[(display.capitalize_first(words.get(code) or code), str(why)) for code, why in v.overrides.items()],
        bridge=v.bridge,
        bridge_plan=bridge_summary(s, v),
        bridge_off_reason=v.bridge_off_reason,
        proposed=proposed,
        confirmed=_person(people, v.confirmed_by, v.confirmed_at),
        verified=_person(people, v.verified_by, v.verified_at),
        cancelled=_person(people, v.cancelled_by, v.cancelled_at),
        closed_reason=v.closed_reason,
        effective_at=v.effective_at,
        applied_by_refill=v.applied_by,
        doses=drug_doses(program_of(v)),
    )


def emergency_card(s: Session, patient: Patient, now: datetime) -> EmergencyCard:
    """What the pump holds and gives now (the twin replayed to `now`: during a bridge, the program after it)."""
    state = pump_state(s, patient.id, now)
    doses: list[DrugDose] = []
    warnings: list[Warning] = []
    number = None
    due = None
    holds = None
    if state is not None:
        running = active_version(s, patient.id)
        number = running.number if running is not None else None
        doses = drug_doses(state.program)
        holds = state.twin.solution
        found = drug_warnings([i.drug for i in state.twin.solution], load_library().sources)
        warnings = [Warning(w.drug, w.never_empty, w.signs, w.act) for w in found]
        due, _, _ = project_from(state.twin, state.program, fill_expiry(s, patient.id, state.twin))
    return EmergencyCard(
        clinic=clinic(),
        patient=patient_id(patient),
        device=device_at(s, patient.id, now),
        program_number=number,
        doses=doses,
        pending=pending_text(s, patient.id, holds),
        warnings=warnings,
        allergies=[str(a) for a in patient.allergies],
        next_refill_due=due,
        printed_at=now,
    )
