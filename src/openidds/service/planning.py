"""The clinic-wide refill plan: every patient's refill window and cycle, the nurses' days, and the planner
(openidds.planning: CP-SAT, with the earliest-deadline-first greedy beside it); the care team books all or some of
the proposal.

Each patient's first visit is planned within their refill window (patient_status: the latest safe day and the
earliest useful day, clinic.window), later ones by the refill cycle of their program after a fill of the volume
last filled (service.window.cycle_for). Refill visits already booked are kept as they are. A nurse's day holds
their visits per day less the other visits already booked with them (follow-ups, checks). A patient whose latest
safe day has passed, or whom capacity cannot reach in time, is an urgent shortfall, named with how many days late;
the clinic lead is told (service.notify). A patient whose last refill visit was missed is planned again like any
other (their window is worked out from the pump as it is now) and marked as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds import display
from openidds.clinic.appointments import OPEN
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.settings import ClinicSettings
from openidds.db.models import Appointment, Patient, PatientStatus, Plan, User
from openidds.errors import InputError
from openidds.planning import Need, NurseDay, compare, plan_cpsat, plan_greedy
from openidds.planning import Plan as Proposal
from openidds.service import audit, notify
from openidds.service.access import actor_name, require, require_role
from openidds.service.appointments import (
    BookAppointment,
    book,
    fill_volume,
    local_days_utc,
    scheduling_of,
    skills_for,
)
from openidds.service.errors import NotFound
from openidds.service.locks import lock_patient
from openidds.service.programs import active_version
from openidds.service.pump import program_of, refresh_status
from openidds.service.settings import current_settings
from openidds.service.window import cycle_for

WEEKS_MAX = 26
SOLVE_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class _Patient:
    id: int
    mrn: str
    name: str
    missed: bool  # their last refill visit was missed


def _refresh_stale(s: Session, now: datetime) -> None:
    """Patients whose status went stale (a projected instant passed, the settings changed) worked out again first,
    one lock at a time in id order: the plan starts from every window as it is now."""
    for pid in s.scalars(
        select(PatientStatus.patient_id).where(PatientStatus.recheck_at <= now).order_by(PatientStatus.patient_id)
    ).all():
        lock_patient(s, pid)
        refresh_status(s, pid, now)


def _index(day: date, first: date) -> int:
    return (day - first).days


def gather(
    s: Session, settings: ClinicSettings, first: date, horizon: int
) -> tuple[list[Need], list[NurseDay], dict[str, _Patient]]:
    """The planner's inputs from the records (module doc)."""
    scheduling = scheduling_of(settings)
    calendar = ClinicCalendar(scheduling)
    zone = ZoneInfo(settings.timezone)
    start, end = local_days_utc(first, zone, horizon)
    users = {u.id: u.username for u in s.scalars(select(User))}
    booked: dict[int, list[tuple[int, str]]] = {}
    other_load: dict[tuple[int, str], int] = {}
    for a in s.scalars(
        select(Appointment).where(
            Appointment.status.in_(OPEN), Appointment.starts_at >= start, Appointment.starts_at < end
        )
    ):
        index = _index(a.starts_at.astimezone(zone).date(), first)
        name = users.get(a.nurse_id, "") if a.nurse_id is not None else ""
        if a.kind == "refill":
            booked.setdefault(a.patient_id, []).append((index, name))
        elif name:
            other_load[(index, name)] = other_load.get((index, name), 0) + 1
    capacity = []
    for i in range(horizon):
        day = first + timedelta(days=i)
        for nurse in calendar.nurses_on(day):
            room = nurse.visits_per_day - other_load.get((i, nurse.username), 0)
            # kept at 0 when other visits fill the day: a refill already booked with that nurse still names them
            capacity.append(NurseDay(i, nurse.username, max(room, 0), frozenset(nurse.skills)))
    needs: list[Need] = []
    people: dict[str, _Patient] = {}
    rows = s.execute(
        select(Patient, PatientStatus)
        .join(PatientStatus, PatientStatus.patient_id == Patient.id)
        .where(PatientStatus.refill_latest.is_not(None))
        .order_by(Patient.id)
    )
    for patient, status in rows:
        version = active_version(s, patient.id)
        if version is None or status.refill_earliest is None or status.refill_latest is None:
            continue
        program = program_of(version)
        cycle = cycle_for(program, settings, fill_volume(s, patient.id, program))
        if cycle is None:
            continue
        replace = None if status.replacement_due is None else status.replacement_due.astimezone(zone).date()
        skills = skills_for(program.solution)
        fixed = _fixed(booked.get(patient.id, []), capacity, skills)
        key = str(patient.id)
        needs.append(
            Need(
                patient_id=key,
                # overdue: the window is [latest, latest] in the past, a shortfall the planner names
                earliest=min(_index(status.refill_earliest, first), _index(status.refill_latest, first)),
                latest=_index(status.refill_latest, first),
                cycle_min=cycle.shortest,
                cycle_max=cycle.longest,
                skills=skills,
                withdrawal_risk=status.withdrawal_risk,
                last_day=None if replace is None else _index(replace, first),
                fixed=tuple(d for d, _ in fixed),
                fixed_nurses=tuple(n for _, n in fixed),
            )
        )
        last = s.scalars(
            select(Appointment.status)
            .where(Appointment.patient_id == patient.id, Appointment.kind == "refill")
            .order_by(Appointment.starts_at.desc())
            .limit(1)
        ).first()
        people[key] = _Patient(
            patient.id, patient.mrn, f"{patient.family_name}, {patient.given_name}", last == "missed"
        )
    return needs, capacity, people


_DAY = re.compile(r"\bday (-?[0-9]+)\b")


def _fixed(booked: list[tuple[int, str]], capacity: list[NurseDay], skills: frozenset[str]) -> list[tuple[int, str]]:
    """A patient's refills already booked, one a day, each with its nurse when that nurse works that day and has the
    skills (else "": any suitable nurse, the planner says when none has room)."""
    works = {(c.day, c.nurse): c.skills for c in capacity}
    out: dict[int, str] = {}
    for day, nurse in sorted(booked):
        has = works.get((day, nurse))
        out.setdefault(day, nurse if has is not None and skills <= has else "")
    return sorted(out.items())


def _json(p: Proposal, first: date, people: dict[str, _Patient]) -> dict[str, Any]:
    def day(i: int | None) -> str | None:
        return None if i is None else (first + timedelta(days=i)).isoformat()

    def words(text: str) -> str:
        """The core counts days from the plan's first day; people read dates."""
        return _DAY.sub(lambda m: display.calendar_day(first + timedelta(days=int(m.group(1)))), text)

    def who(pid: str) -> dict[str, Any]:
        found = people[pid]
        return {"patient_id": found.id, "mrn": found.mrn, "name": found.name, "missed_before": found.missed}

    return {
        "method": p.method,
        "status": p.status,
        "seconds": round(p.seconds, 3),
        "visits": p.visits,
        "late_in_window": p.late_in_window,
        "max_daily_load": p.max_daily_load,
        "reasons": [words(r) for r in p.reasons],
        "bookings": [
            {
                "key": f"{b.patient_id}@{day(b.day)}",
                **who(b.patient_id),
                "day": day(b.day),
                "nurse": b.nurse,
                "earliest": day(b.earliest),
                "latest": day(b.latest),
                "fixed": b.fixed,
            }
            for b in p.bookings
        ],
        "shortfalls": [
            {
                **who(f.patient_id),
                "latest": day(f.latest),
                "day": day(f.day),
                "days_late": f.days_late,
                "withdrawal_risk": f.withdrawal_risk,
                "reason": words(f.reason),
            }
            for f in p.shortfalls
        ],
    }


def propose(s: Session, actor: User, first_day: date, weeks: int, now: datetime, workers: int = 2) -> Plan:
    """Plan `weeks` weeks from `first_day` (the clinic's day, not before today): CP-SAT beside the greedy; the
    proposal is kept (a Plan row) to be booked all or in part, and any shortfall is sent to the clinic lead.
    `workers`: CP-SAT's search workers (1: the same answer every time, for the demo clinic)."""
    require(actor, "plan-refills")
    if not 1 <= weeks <= WEEKS_MAX:
        raise InputError("weeks", f"expected 1 to {WEEKS_MAX} weeks, got {weeks}")
    settings = current_settings(s)
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    if first_day < today:
        raise InputError("first_day", f"plans start today ({today.isoformat()}) or later, got {first_day.isoformat()}")
    if first_day > today + timedelta(days=366):
        raise InputError("first_day", "plans start within a year")
    horizon = weeks * 7
    _refresh_stale(s, now)
    needs, capacity, people = gather(s, settings, first_day, horizon)
    greedy = plan_greedy(needs, capacity, horizon)
    best = plan_cpsat(needs, capacity, horizon, time_limit_s=SOLVE_SECONDS, workers=workers, seed=0)
    best_json = _json(best, first_day, people)
    document = {
        "first_day": first_day.isoformat(),
        "weeks": weeks,
        "patients": len(needs),
        "cp_sat": best_json,
        "greedy": _json(greedy, first_day, people),
        "comparison": {k: list(v) if isinstance(v, tuple) else v for k, v in compare(best, greedy).items()},
    }
    plan = Plan(created_at=now, created_by=actor.id, first_day=first_day, weeks=weeks, document=document, accepted=[])
    s.add(plan)
    s.flush()
    summary = {k: best_json[k] for k in ("status", "visits", "late_in_window", "max_daily_load")}
    summary["shortfalls"] = len(best_json["shortfalls"])
    audit.record(s, actor_name(actor), "propose-plan", f"plan/{plan.id}", now, None, summary)
    shortfalls = best_json["shortfalls"]
    if shortfalls:
        _tell_lead(s, plan.id, shortfalls, now)
    return plan


def _tell_lead(s: Session, plan_id: int, shortfalls: list[dict[str, Any]], now: datetime) -> None:
    notify.capacity_shortfall(s, plan_id, shortfalls, now)


def find_plan(s: Session, actor: User, plan_id: int) -> Plan:
    require(actor, "plan-refills")
    plan = s.get(Plan, plan_id)
    if plan is None:
        raise NotFound("no such plan")
    return plan


@dataclass(frozen=True, slots=True)
class Accepted:
    booked: list[Appointment]
    refused: list[dict[str, str]]  # key, patient, why


def accept(s: Session, actor: User, plan_id: int, keys: list[str] | None, now: datetime) -> Accepted:
    """Book the proposal's visits named by `keys` (None: all of them). A visit that can no longer be booked (its
    window moved, a nurse's day filled since) is refused with the reason, the others are booked; a visit past the
    latest safe day (a shortfall) is booked with the planner's reason recorded as the override."""
    require(actor, "plan-refills")
    require_role(actor, "book-appointment")
    plan = find_plan(s, actor, plan_id)
    if s.get_bind().dialect.name != "sqlite":  # one acceptance of a plan at a time (SQLite: the writer's lock)
        s.execute(select(Plan.id).where(Plan.id == plan.id).with_for_update())
        s.refresh(plan)
    settings = current_settings(s)
    scheduling = scheduling_of(settings)
    zone = ZoneInfo(settings.timezone)
    proposed = {b["key"]: b for b in plan.document["cp_sat"]["bookings"] if not b["fixed"]}
    wanted = list(proposed) if keys is None else keys
    unknown = [k for k in wanted if k not in proposed]
    if unknown:
        raise InputError("keys", f"not a proposed booking of plan {plan_id}: {', '.join(unknown[:5])}")
    late = {(f["patient_id"], f["day"]): f for f in plan.document["cp_sat"]["shortfalls"]}
    booked: list[Appointment] = []
    refused: list[dict[str, str]] = []
    for key in sorted(set(wanted) - set(plan.accepted), key=lambda k: (proposed[k]["day"], proposed[k]["patient_id"])):
        b = proposed[key]
        day = date.fromisoformat(b["day"])
        start = _free_slot(s, settings, zone, b["nurse"], day, now)  # sees the visits booked above (same transaction)
        covered = _booked_within(
            s, b["patient_id"], date.fromisoformat(b["earliest"]), date.fromisoformat(b["latest"]), zone
        )
        if covered is not None:
            refused.append({"key": key, "patient": f"{b['mrn']} {b['name']}", "why": f"already booked on {covered}"})
            continue
        short = late.get((b["patient_id"], b["day"]))
        why = "" if short is None else f"accepted from plan {plan_id}: {short['reason']}"
        cmd = BookAppointment(
            "refill", start, scheduling.visit_minutes["refill"], b["nurse"] or None, override_reason=why
        )
        try:
            with s.begin_nested():
                booked.append(book(s, actor, b["patient_id"], cmd, now, plan_id=plan.id))
        except (InputError, NotFound) as exc:
            refused.append({"key": key, "patient": f"{b['mrn']} {b['name']}", "why": getattr(exc, "message", str(exc))})
            continue
        plan.accepted = [*plan.accepted, key]
    audit.record(
        s,
        actor_name(actor),
        "accept-plan",
        f"plan/{plan.id}",
        now,
        None,
        {"booked": [a.id for a in booked], "refused": refused},
    )
    return Accepted(booked, refused)


def _booked_within(s: Session, patient_id: int, first: date, last: date, zone: ZoneInfo) -> str | None:
    """The day of an open refill visit the patient already has in [first, last] (another plan booked it), or None."""
    start, end = local_days_utc(first, zone, (last - first).days + 1)
    found = s.scalar(
        select(func.min(Appointment.starts_at)).where(
            Appointment.patient_id == patient_id,
            Appointment.kind == "refill",
            Appointment.status.in_(OPEN),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
    )
    return None if found is None else found.astimezone(zone).date().isoformat()


def _free_slot(s: Session, settings: ClinicSettings, zone: ZoneInfo, nurse: str, day: date, now: datetime) -> datetime:
    """The nurse's first free visit slot that day from the clinic's opening, or from now when that is later
    (visits of the refill length, one after another)."""
    scheduling = scheduling_of(settings)
    length = timedelta(minutes=scheduling.visit_minutes["refill"])
    opens = datetime.combine(day, scheduling.opens, zone)
    closes = datetime.combine(day, scheduling.closes, zone)
    user = s.scalars(select(User).where(User.username == nurse)).first() if nurse else None
    busy: list[tuple[datetime, datetime]] = []
    if user is not None:
        for a in s.scalars(
            select(Appointment).where(
                Appointment.nurse_id == user.id,
                Appointment.status.in_(OPEN),
                Appointment.starts_at >= opens.astimezone(UTC),
                Appointment.starts_at < closes.astimezone(UTC),
            )
        ):
            begin = a.starts_at.astimezone(zone)
            busy.append((begin, begin + timedelta(minutes=a.minutes)))
    t = opens
    while t + length <= closes:
        if t > now and not any(b < t + length and t < e for b, e in busy):
            return t
        t += length
    return opens  # the day is full (or over): the booking check says so, with the reason


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "created_at": plan.created_at.isoformat(),
        "created_by": plan.created_by,
        "first_day": plan.first_day.isoformat(),
        "weeks": plan.weeks,
        "accepted": list(plan.accepted),
        **{k: plan.document[k] for k in ("patients", "cp_sat", "greedy", "comparison")},
    }
