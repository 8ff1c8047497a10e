"""A patient's pump twin, driven by what the clinic recorded, and the status the dashboard reads."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds.calculations import stability_limit
from openidds.clinic.refill import describe_solution
from openidds.clinic.replacement import ReplacementPlan, replacement_plan
from openidds.data import load_catalog, load_library
from openidds.db.models import Appointment, Implant, Interrogation, PatientStatus, ProgramVersion, Refill, RemoteRequest
from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.programfile import parse_program, program_from_dict
from openidds.programs.clock import DAY_US, from_us, to_us
from openidds.programs.program import Ingredient, PumpProgram
from openidds.service.flags import open_flags
from openidds.service.settings import current_settings
from openidds.service.window import window_for
from openidds.twin import Interrogation as InterrogationEvent
from openidds.twin import ProgramChange, PumpTwin
from openidds.twin import Refill as RefillEvent
from openidds.twin import RemoteRequest as RemoteEvent
from openidds.twin.events import Event
from openidds.twin.records import ALARMS

ACTIVE = ("active", "superseded")  # program versions the pump has run
WAITING = ("awaiting-verification", "awaiting-refill")  # confirmed for another solution, not run yet


@dataclass(frozen=True)
class PumpState:
    twin: PumpTwin
    program: PumpProgram  # the program running now (during a bridge bolus, the one that starts after it)
    implant: Implant


_PARSED: OrderedDict[str, tuple[DrugLibrary, DeviceCatalog, PumpProgram]] = OrderedDict()
_PARSED_MAX = 4096


def program_of(version: ProgramVersion) -> PumpProgram:
    """The version's program file, parsed once per text (versions never change; every replay reads them all)."""
    library, catalog = load_library(), load_catalog()
    hit = _PARSED.get(version.document)
    if hit is not None and hit[0] is library and hit[1] is catalog:
        _PARSED.move_to_end(version.document)
        return hit[2]
    program = parse_program(version.document, library, catalog)
    _PARSED[version.document] = (library, catalog, program)
    if len(_PARSED) > _PARSED_MAX:
        _PARSED.popitem(last=False)
    return program


def solution_json(solution: tuple[Ingredient, ...]) -> list[dict[str, str]]:
    return [{"name": i.drug.name, "concentration": str(i.concentration)} for i in solution]


def pump_state(s: Session, patient_id: int, until: datetime) -> PumpState | None:
    """Replay the implant, every program the pump ran, refills, interrogations and remote requests to `until`.

    None when the patient has no implanted pump with a program yet. Same records, same twin: to the bit.
    """
    implant = s.scalars(  # the pump now in the patient (a catheter revision keeps the pump and its program)
        select(Implant)
        .where(Implant.patient_id == patient_id, Implant.kind != "revision")
        .order_by(Implant.implanted_at.desc())
    ).first()
    if implant is None:
        return None
    versions = list(
        s.scalars(
            select(ProgramVersion)
            .where(ProgramVersion.patient_id == patient_id, ProgramVersion.status.in_(ACTIVE))
            .where(ProgramVersion.effective_at >= implant.implanted_at)
            .order_by(ProgramVersion.effective_at, ProgramVersion.number)
        )
    )
    if not versions:
        return None
    first = program_of(versions[0])
    twin = PumpTwin(first, implanted_at=to_us(implant.implanted_at))
    timed: list[tuple[datetime, int, Event]] = []  # (when, order at equal instants, event)
    programs = [first]
    for v in versions[1:]:
        assert v.effective_at is not None
        reason = "; ".join(f"{code}: {why}" for code, why in v.overrides.items())
        programs.append(program_of(v))
        timed.append((v.effective_at, 1, ProgramChange(to_us(v.effective_at), programs[-1], reason, v.bridge)))
    start = versions[0].effective_at
    assert start is not None
    for r in s.scalars(
        select(Refill).where(Refill.patient_id == patient_id, Refill.status == "completed", Refill.at > start)
    ):
        assert r.at is not None and r.filled_ml is not None  # a completed refill has both
        pocket = r.pocket_ml or Fraction(0)
        refill = RefillEvent(to_us(r.at), r.filled_ml, _solution(r.solution, programs), pocket, pocket_recorded=True)
        timed.append((r.at, 0, refill))
    for q in s.scalars(select(RemoteRequest).where(RemoteRequest.patient_id == patient_id, RemoteRequest.at > start)):
        timed.append((q.at, 2, RemoteEvent(to_us(q.at))))
    for i in s.scalars(select(Interrogation).where(Interrogation.patient_id == patient_id, Interrogation.at > start)):
        timed.append((i.at, 3, InterrogationEvent(to_us(i.at))))
    timed.sort(key=lambda x: (x[0], x[1]))
    end = to_us(until)
    twin.run([e for when, _, e in timed if to_us(when) <= end], max(end, twin.t))
    return PumpState(twin, twin.running_program, implant)


def _solution(raw: list[dict[str, str]], programs: list[PumpProgram]) -> tuple[Ingredient, ...]:
    """The refill's solution as ingredients: always given, so a refill back to an earlier solution is one too.

    A refill is recorded only with the solution of a program, so it is one of the programs' own; otherwise it is
    read as the program file reads drugs."""
    for program in programs:
        if raw == solution_json(program.solution):
            return program.solution
    return read_solution(raw, programs[0])


def read_solution(drugs: list[dict[str, str]], program: PumpProgram) -> tuple[Ingredient, ...]:
    """`drugs` ([{name, concentration}]) read as the program file reads them (the library's drugs and units), for
    `program`'s pump. InputError naming `drugs[i]…` when one cannot be read."""
    doc = {
        "pump": {"model": program.pump.id},
        "reservoir": {
            "filled_at": program.reservoir.filled_at,
            "timezone": program.reservoir.zone.key,
            "volume": str(program.reservoir.volume),
            "low_alarm": str(program.reservoir.low_alarm),
        },
        "drugs": drugs,
        "program": {"mode": "stopped"},
        # Facts the parser requires with some drugs; they decide nothing about what the solution is.
        "context": {"care_area": program.context.care_area, "opioid_naive": True, "psychosis_history": True},
    }
    return program_from_dict(doc, load_library(), load_catalog()).solution


def refresh_status(
    s: Session, patient_id: int, now: datetime, state: PumpState | Literal["replay"] | None = "replay"
) -> PatientStatus:
    """Work out what the dashboard shows for this patient, from the twin at `now`.

    `state`: the twin already replayed to `now` by the caller (None: no pump), so it is not replayed twice."""
    status = s.get(PatientStatus, patient_id)
    if status is None:
        status = PatientStatus(patient_id=patient_id, updated_at=now)
        s.add(status)
    flags = open_flags(s, patient_id)
    status.urgent_flags = sum(1 for f in flags if f["urgent"])
    status.flags = flags
    status.updated_at = now
    if state == "replay":
        state = pump_state(s, patient_id, now)
    status.pending_program = pending_text(s, patient_id, None if state is None else state.twin.solution)
    if state is None:
        status.reservoir_ml = None
        status.next_refill_due = None
        status.refill_reason = "no pump programmed"
        status.active_alarms, status.projected_alarms = [], []
        status.replacement_due = status.eri_at = status.end_of_service = None
        status.withdrawal_risk = False
        status.refill_earliest = status.refill_latest = status.refill_window = status.booked_refill_at = None
        status.recheck_at = None
        return status
    twin, program = state.twin, state.program
    status.reservoir_ml = twin.reservoir
    status.active_alarms = [
        {"alarm": a.name, "priority": a.priority, "raised_at": from_us(a.raised_at).isoformat()}
        for a in twin.alarms
        if a.cleared_at is None
    ]
    reported = s.scalars(
        select(Interrogation)
        .where(Interrogation.patient_id == patient_id, Interrogation.at >= from_us(twin.recorded_fill_at))
        .order_by(Interrogation.at.desc(), Interrogation.id.desc())
    ).first()
    if reported is not None:  # what the pump itself said at the last interrogation since the fill
        known = {a["alarm"] for a in status.active_alarms}
        status.active_alarms = status.active_alarms + [
            {"alarm": name, "priority": ALARMS.get(name, "non-critical"), "raised_at": reported.at.isoformat()}
            for name in reported.alarms
            if name not in known
        ]
    status.withdrawal_risk = any(i.drug.withdrawal_risk is not None for i in twin.solution)
    due, reason, projected = project_from(twin, program, fill_expiry(s, patient_id, twin))
    status.next_refill_due, status.refill_reason, status.projected_alarms = due, reason, projected
    eri = twin.eri_at if twin.eri_at is not None else twin.eri_due
    if reported is not None and reported.eri:  # the pump reported ERI: replace it now, whatever the model says
        eri = min(eri, to_us(reported.at)) if eri is not None else to_us(reported.at)
    plan = replacement_plan(program.pump.battery, eri)
    status.replacement_due = None if plan is None else from_us(plan.plan_by)
    status.eri_at = None if plan is None else from_us(plan.eri)
    status.end_of_service = None if plan is None or plan.end_of_service is None else from_us(plan.end_of_service)
    settings = current_settings(s)
    window = window_for(twin, program, settings, now, fill_expiry(s, patient_id, twin), *plan_by(plan, now))
    status.refill_earliest = None if window is None else window.earliest
    status.refill_latest = None if window is None else window.latest
    status.refill_window = None if window is None else window.as_json()
    status.booked_refill_at = s.scalar(
        select(func.min(Appointment.starts_at)).where(
            Appointment.patient_id == patient_id,
            Appointment.kind == "refill",
            Appointment.status.in_(("booked", "confirmed")),
            Appointment.starts_at >= from_us(twin.recorded_fill_at),
        )
    )
    if status.refill_window is not None and status.booked_refill_at is None:
        last = s.scalars(
            select(Appointment)
            .where(
                Appointment.patient_id == patient_id,
                Appointment.kind == "refill",
                Appointment.starts_at >= from_us(twin.recorded_fill_at),
            )
            .order_by(Appointment.starts_at.desc())
        ).first()
        if last is not None and last.status == "missed":  # nothing booked since the missed visit
            day = last.starts_at.astimezone(ZoneInfo(settings.timezone)).date()
            status.refill_window = {**status.refill_window, "missed_on": day.isoformat()}
    status.recheck_at = _recheck_at(status, now, settings.timezone)
    return status


def plan_by(plan: ReplacementPlan | None, now: datetime) -> tuple[int | None, str]:
    """What the replacement bounds a refill by: the date it is planned by while that is ahead; once it has passed
    (the replacement is overdue, named on the dashboard), the end of service, when the pump stops."""
    if plan is None:
        return None, ""
    if plan.plan_by > to_us(now):
        return plan.plan_by, "the pump replacement is planned by"
    return plan.end_of_service, "the pump stops (end of service; its replacement is overdue)"


def _recheck_at(status: PatientStatus, now: datetime, zone_name: str) -> datetime | None:
    """The next instant at which this row goes stale without a write: a projected alarm (low or empty reservoir),
    the refill falling due (stability, expiry, the worst-case alarm), ERI, the end of service, the replacement date,
    or, with a refill window, the clinic's next midnight (the window's days are counted from today: a latest safe
    day passes at midnight). The worker re-evaluates the patient then."""
    instants = [datetime.fromisoformat(a["at"]) for a in status.projected_alarms]
    instants += [t for t in (status.next_refill_due, status.replacement_due, status.eri_at, status.end_of_service) if t]
    if status.refill_latest is not None:
        zone = ZoneInfo(zone_name)
        tomorrow = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(0), zone)
        instants.append(tomorrow.astimezone(UTC))
    future = [t for t in instants if t > now]
    return min(future) if future else None


def pending_text(s: Session, patient_id: int, holds: tuple[Ingredient, ...] | None) -> str:
    """Programs written for another solution that have not run yet, in words: what they wait for, what they are
    written for and what the pump holds ("" when none waits)."""
    waiting = s.scalars(
        select(ProgramVersion)
        .where(
            ProgramVersion.patient_id == patient_id,
            ProgramVersion.status.in_(WAITING),
        )
        .order_by(ProgramVersion.number)
    ).all()
    pump = "nothing yet" if holds is None else describe_solution(holds)
    parts = []
    for v in waiting:
        what = "its refill" if v.status == "awaiting-refill" else "its second-person verification, then its refill"
        parts.append(
            f"program v{v.number} awaits {what}: written for {describe_solution(program_of(v).solution)}, "
            f"pump holds {pump}"
        )
    return "; ".join(parts)


def project_from(
    twin: PumpTwin, program: PumpProgram, expires_at: datetime | None = None
) -> tuple[datetime, str, list[dict[str, Any]]]:
    """Next refill due and the projected alarms, from the twin's reservoir now, with every allowed patient bolus
    (the worst case), capped by the stability of the fill in the pump and by the solution's expiry or beyond-use
    date (`expires_at`, when the refill recorded one). A pump without alarms projects the same levels, marked
    silent: nobody is warned when it gets there."""
    low = program.reservoir.low_alarm.to("mL")
    left = twin.reservoir
    silent = not program.pump.has_alarms
    projected: list[dict[str, Any]] = []
    if left > low:
        low_at = twin.projected_at(left - low)
    else:  # already at or below the alarm level: due since the alarm sounded, not since whoever wrote last
        low_at = next((a.raised_at for a in twin.alarms if a.name == "low-reservoir" and a.cleared_at is None), twin.t)
    empty_at = twin.projected_at(left) if left > 0 else twin.t
    for name, priority, at in (("low-reservoir", "non-critical", low_at), ("empty-reservoir", "critical", empty_at)):
        if at is not None and at > twin.t:
            entry: dict[str, Any] = {"alarm": name, "priority": priority, "at": from_us(at).isoformat()}
            if silent:
                entry["silent"] = True
            projected.append(entry)
    fill_at = twin.recorded_fill_at
    stable_until = fill_at + int(stability_limit(program).value.to("day") * DAY_US)
    candidates = [(stable_until, "drug stability in the pump runs out")]
    if expires_at is not None:
        candidates.append((to_us(expires_at), "the solution's expiry or beyond-use date"))
    if low_at is not None:
        why = "worst-case low-reservoir level (this pump has no alarm)" if silent else "worst-case low-reservoir alarm"
        candidates.append((low_at, why))
    at, reason = min(candidates)
    return from_us(at), reason, projected


def fill_expiry(s: Session, patient_id: int, twin: PumpTwin) -> datetime | None:
    """The expiry or beyond-use date of the solution in the pump, as its refill recorded it (None: not known)."""
    return s.scalar(
        select(Refill.expires_at)
        .where(
            Refill.patient_id == patient_id, Refill.status == "completed", Refill.at == from_us(twin.recorded_fill_at)
        )
        .order_by(Refill.id.desc())
        .limit(1)
    )
