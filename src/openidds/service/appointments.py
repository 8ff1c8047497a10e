"""Appointments: book, confirm, attend, miss, cancel (clinic.appointments decides), the clinic's calendar, and the
sweep that closes the day (a visit still open after the clinic's closing time is attended when its refill or
follow-up was recorded that day, else missed).

Every change serialises on the patient (service.locks), is audited, and refreshes the patient's status (the
dashboard shows the next booked refill against the refill window). A missed visit queues its notices in the same
transaction (service.notify).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from openidds import display
from openidds.clinic.appointments import KIND_WORDS, OPEN, Booking, Status, check_booking, may_become
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.refill import compounded
from openidds.clinic.settings import ClinicSettings, Nurse, Scheduling, VisitKind
from openidds.clinic.window import RefillWindow
from openidds.db import writers
from openidds.db.models import Appointment, FollowUp, Patient, PatientStatus, Refill, User
from openidds.errors import InputError
from openidds.programs.program import Ingredient, PumpProgram
from openidds.service import audit, notify
from openidds.service.access import actor_name, require, require_role
from openidds.service.errors import Conflict, NotFound
from openidds.service.locks import lock_patient
from openidds.service.pump import pump_state, refresh_status
from openidds.service.settings import NURSE_ROLES, current_settings
from openidds.service.window import cycle_for
from openidds.validation import plain_text

log = logging.getLogger(__name__)
NOTE_MAX = 2000
SYSTEM = "openidds worker (system)"


@dataclass(frozen=True, slots=True)
class BookAppointment:
    kind: VisitKind
    starts_at: datetime  # aware
    minutes: int | None = None  # None: the clinic's length for the kind
    nurse: str | None = None  # a username from the clinic's nurses; None: the first free nurse who can (refills)
    home_visit: bool = False
    note: str = ""
    override_reason: str = ""  # outside the refill window or over a nurse's capacity: why


@dataclass(frozen=True, slots=True)
class ChangeAppointment:
    status: Status
    reason: str = ""  # cancelled or missed: why
    refill_id: int | None = None  # attended: the refill recorded at the visit
    follow_up_id: int | None = None  # attended: the follow-up recorded at the visit


def scheduling_of(settings: ClinicSettings) -> Scheduling:
    if settings.scheduling is None:
        raise Conflict("the clinic has no scheduling settings yet: an administrator sets its hours and nurses first")
    return settings.scheduling


def skills_for(solution: tuple[Ingredient, ...] | None, home_visit: bool = False) -> frozenset[str]:
    """What a refill of this solution needs of the nurse: a compounded solution, ziconotide, a home visit."""
    needs = set()
    if solution:
        if compounded(solution).value:
            needs.add("compounded")
        if any(i.drug.name == "ziconotide" for i in solution):
            needs.add("ziconotide")
    if home_visit:
        needs.add("home-visit")
    return frozenset(needs)


def window_of(s: Session, patient_id: int) -> RefillWindow | None:
    status = s.get(PatientStatus, patient_id)
    if status is None or status.refill_window is None or status.refill_latest is None:
        return None
    w = status.refill_window
    return RefillWindow(
        date.fromisoformat(w["earliest"]), date.fromisoformat(w["latest"]), w["overdue"], w["limit"], ()
    )


def local_days_utc(first: date, zone: ZoneInfo, days: int = 1) -> tuple[datetime, datetime]:
    """The UTC instants at which `days` clinic days from `first` begin and end (a DST day is 23 or 25 hours)."""
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(first + timedelta(days=days), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _nurse_load(s: Session, user_id: int, day: date, zone: ZoneInfo, leave_out: int | None = None) -> int:
    start, end = local_days_utc(day, zone)
    query = select(func.count(Appointment.id)).where(
        Appointment.nurse_id == user_id,
        Appointment.status.in_((*OPEN, "attended")),
        Appointment.starts_at >= start,
        Appointment.starts_at < end,
    )
    if leave_out is not None:
        query = query.where(Appointment.id != leave_out)
    return s.scalar(query) or 0


def _patient_busy(s: Session, patient_id: int, day: date, zone: ZoneInfo) -> tuple[tuple[datetime, datetime], ...]:
    return _busy(s, Appointment.patient_id == patient_id, day, zone)


def _nurse_busy(s: Session, user_id: int, day: date, zone: ZoneInfo) -> tuple[tuple[datetime, datetime], ...]:
    return _busy(s, Appointment.nurse_id == user_id, day, zone)


def _busy(s: Session, whose: Any, day: date, zone: ZoneInfo) -> tuple[tuple[datetime, datetime], ...]:
    start, end = local_days_utc(day, zone)
    found = s.scalars(
        select(Appointment).where(
            whose,
            Appointment.status.in_(OPEN),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
    )
    return tuple(
        (a.starts_at.astimezone(zone), (a.starts_at + timedelta(minutes=a.minutes)).astimezone(zone)) for a in found
    )


def _lock_user(s: Session, user_id: int) -> None:
    """The nurse's row, locked for this transaction on PostgreSQL (SQLite: the writer holds the database's lock)."""
    if s.get_bind().dialect.name != "sqlite":
        s.execute(select(User.id).where(User.id == user_id).with_for_update())


def _user(s: Session, username: str) -> User | None:
    """The clinic's active nurse or physician of that login (a nurse in the settings is no other kind of login)."""
    return s.scalars(
        select(User).where(User.username == username, User.active.is_(True), User.role.in_(NURSE_ROLES))
    ).first()


def book(
    s: Session, actor: User, patient_id: int, cmd: BookAppointment, now: datetime, plan_id: int | None = None
) -> Appointment:
    """Book a visit. InputError naming the field when it is refused, or when it needs a reason and has none."""
    require(actor, "book-appointment", patient_id=patient_id)
    patient = lock_patient(s, patient_id)
    settings = current_settings(s)
    scheduling = scheduling_of(settings)
    zone = ZoneInfo(settings.timezone)
    calendar = ClinicCalendar(scheduling)
    minutes = cmd.minutes if cmd.minutes is not None else scheduling.visit_minutes[cmd.kind]
    if not 5 <= minutes <= 600:
        raise InputError("minutes", f"expected 5 to 600 minutes, got {minutes}")
    note = plain_text(cmd.note, "note", NOTE_MAX)
    why = plain_text(cmd.override_reason, "override_reason", NOTE_MAX)
    start = cmd.starts_at.astimezone(zone)
    state = pump_state(s, patient.id, now) if cmd.kind == "refill" else None
    needs = skills_for(None if state is None else state.twin.solution, cmd.home_visit)
    nurse, user = _pick_nurse(s, calendar, cmd, start, needs, zone)
    if user is not None:
        _lock_user(s, user.id)  # bookings with one nurse are decided one after the other (capacity, overlaps)
    load = 0 if user is None else _nurse_load(s, user.id, start.date(), zone)
    busy = () if user is None else _nurse_busy(s, user.id, start.date(), zone)
    own = _patient_busy(s, patient.id, start.date(), zone)
    # A refill after another refill already booked is for the next fill: checked against the refill cycle after
    # that one (the planner places later visits by the same cycle), not against the current fill's window
    if state is not None:
        refresh_status(s, patient.id, now, state)  # the window as the pump and the settings in force say now
    window = window_of(s, patient.id)
    earlier = None
    if cmd.kind == "refill" and state is not None:
        earlier = _refill_booked_before(s, patient.id, cmd.starts_at, now)
        if earlier is not None:
            window = _next_fill_window(s, settings, calendar, patient.id, state.program, earlier, zone)
    # the current fill's empty day (a visit for a later fill is after a refill already booked)
    empty = _projected_empty(s, patient.id, zone) if cmd.kind == "refill" and earlier is None else None
    decision = check_booking(
        Booking(cmd.kind, start, minutes, nurse, needs, load, window, now.astimezone(zone), busy, own, empty), calendar
    )
    if decision.refused:
        first = decision.refused[0]
        field = "nurse" if first.code in ("booking.nurse-day", "booking.skill") else "starts_at"
        raise InputError(field, "; ".join(r.message for r in decision.refused), tuple(r.code for r in decision.refused))
    if decision.needs_reason and not why:
        words = "; ".join(r.message for r in decision.needs_reason)
        raise InputError(
            "override_reason", f"{words}: give a reason to book it anyway", tuple(r.code for r in decision.needs_reason)
        )
    override = "" if not decision.needs_reason else f"{'; '.join(r.message for r in decision.needs_reason)} — {why}"
    appointment = Appointment(
        patient_id=patient.id,
        kind=cmd.kind,
        starts_at=cmd.starts_at.astimezone(UTC),
        minutes=minutes,
        status="booked",
        nurse_id=None if user is None else user.id,
        skills=sorted(needs),
        note=note,
        window_override=override,
        plan_id=plan_id,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    s.add(appointment)
    s.flush()
    audit.record(
        s, actor_name(actor), "book-appointment", _entity(appointment), now, None, appointment_json(appointment)
    )
    refresh_status(s, patient.id, now, state if state is not None else "replay")
    return appointment


def _projected_empty(s: Session, patient_id: int, zone: ZoneInfo) -> datetime | None:
    status = s.get(PatientStatus, patient_id)
    if status is None:
        return None
    for a in status.projected_alarms:
        if a["alarm"] == "empty-reservoir":
            return datetime.fromisoformat(a["at"]).astimezone(zone)
    return None


def _refill_booked_before(s: Session, patient_id: int, start: datetime, now: datetime) -> datetime | None:
    """The latest refill visit still to come that is booked before `start` (None: none)."""
    return s.scalar(
        select(func.max(Appointment.starts_at)).where(
            Appointment.patient_id == patient_id,
            Appointment.kind == "refill",
            Appointment.status.in_(OPEN),
            Appointment.starts_at >= now,
            Appointment.starts_at < start,
        )
    )


def fill_volume(s: Session, patient_id: int, program: PumpProgram) -> Fraction:
    """The volume the patient's pump is filled with: the last refill's, else the program's."""
    filled = s.scalar(
        select(Refill.filled_ml)
        .where(Refill.patient_id == patient_id, Refill.status == "completed")
        .order_by(Refill.at.desc())
        .limit(1)
    )
    return filled if filled is not None else program.reservoir.volume.to("mL")


def _next_fill_window(
    s: Session,
    settings: ClinicSettings,
    calendar: ClinicCalendar,
    patient_id: int,
    program: PumpProgram,
    earlier: datetime,
    zone: ZoneInfo,
) -> RefillWindow | None:
    cycle = cycle_for(program, settings, fill_volume(s, patient_id, program))
    if cycle is None:
        return None
    day = earlier.astimezone(zone).date()
    latest = calendar.open_on_or_before(day + timedelta(days=cycle.longest))
    earliest = min(day + timedelta(days=cycle.shortest), latest)
    limit = f"the refill cycle after the refill booked on {display.calendar_day(day)}"
    return RefillWindow(earliest, latest, False, limit, ())


def _pick_nurse(
    s: Session, calendar: ClinicCalendar, cmd: BookAppointment, start: datetime, needs: frozenset[str], zone: ZoneInfo
) -> tuple[Nurse | None, User | None]:
    scheduling = calendar.scheduling
    listed = {n.username: n for n in scheduling.nurses}
    if cmd.nurse is not None:
        nurse = listed.get(cmd.nurse)
        if nurse is None:
            raise InputError("nurse", f"'{cmd.nurse}' is not one of the clinic's nurses ({', '.join(listed)})")
        user = _user(s, nurse.username)
        if user is None:
            raise InputError("nurse", f"'{cmd.nurse}' has no active login")
        return nurse, user
    if cmd.kind not in ("refill", "follow-up"):
        return None, None  # surgery and MRI checks are not a nurse's visit slots
    # The first nurse who works that day, has the skills and has room; else the first who could (the check says
    # they are full)
    fits = [n for n in calendar.nurses_on(start.date()) if needs <= set(n.skills)]
    for nurse in fits:
        user = _user(s, nurse.username)
        if user is not None and _nurse_load(s, user.id, start.date(), zone) < nurse.visits_per_day:
            return nurse, user
    for nurse in fits:
        user = _user(s, nurse.username)
        if user is not None:
            return nurse, user
    if calendar.is_open(start.date()):
        what = f" with {', '.join(sorted(needs))}" if needs else ""
        raise InputError("nurse", f"no nurse{what} sees patients on that day")
    return None, None


def change(
    s: Session, actor: User, patient_id: int, appointment_id: int, cmd: ChangeAppointment, now: datetime
) -> Appointment:
    """Confirm, attend, miss or cancel a visit (clinic.appointments.may_become)."""
    require_role(actor, "book-appointment", patient_id=patient_id)
    require(actor, "book-appointment", patient_id=patient_id)
    patient = lock_patient(s, patient_id)
    appointment = s.get(Appointment, appointment_id, populate_existing=True)
    if appointment is None or appointment.patient_id != patient.id:
        raise NotFound("no such appointment")
    return _change(s, actor_name(actor), appointment, cmd, now)


def _change(s: Session, who: str, appointment: Appointment, cmd: ChangeAppointment, now: datetime) -> Appointment:
    ok, why = may_become(appointment.status, cmd.status)
    if not ok:
        raise Conflict(why, "status")
    reason = plain_text(cmd.reason, "reason", NOTE_MAX)
    if cmd.status in ("cancelled", "missed") and not reason:
        raise InputError("reason", f"say why the visit is {cmd.status}")
    before = appointment_json(appointment)
    early = appointment.starts_at > now
    if early and (cmd.status == "missed" or (cmd.status == "attended" and not (cmd.refill_id or cmd.follow_up_id))):
        # attended early only with what was recorded at it that day (a refill done before its slot)
        raise InputError("status", f"a visit is {cmd.status} at or after its start, not before")
    if cmd.status == "attended":
        _link(s, appointment, cmd)
    appointment.status = cmd.status
    appointment.status_reason = reason
    appointment.updated_at = now
    s.flush()
    audit.record(s, who, f"appointment-{cmd.status}", _entity(appointment), now, before, appointment_json(appointment))
    if cmd.status == "missed":
        _missed(s, appointment, now)
    refresh_status(s, appointment.patient_id, now)
    return appointment


def attend_refill_visit(s: Session, who: str, refill: Refill, now: datetime) -> Appointment | None:
    """A completed refill closes the patient's open refill visit of that day as attended, linked to it (the refill
    may be done before the slot): the next booked refill is then the one after it."""
    zone = ZoneInfo(current_settings(s).timezone)
    assert refill.at is not None
    start, end = local_days_utc(refill.at.astimezone(zone).date(), zone)
    visit = s.scalars(
        select(Appointment)
        .where(
            Appointment.patient_id == refill.patient_id,
            Appointment.kind == "refill",
            Appointment.status.in_(OPEN),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at)
    ).first()
    if visit is None:
        return None
    return _change(s, who, visit, ChangeAppointment("attended", "", refill_id=refill.id), now)


def _link(s: Session, appointment: Appointment, cmd: ChangeAppointment) -> None:
    """The refill or follow-up recorded at the visit: the patient's, on the visit's own day, linked to no other
    visit (a refill to a refill visit)."""
    zone = ZoneInfo(current_settings(s).timezone)
    day = appointment.starts_at.astimezone(zone).date()
    if cmd.refill_id is not None:
        refill = s.get(Refill, cmd.refill_id)
        if refill is None or refill.patient_id != appointment.patient_id or refill.status != "completed":
            raise InputError("refill_id", "no completed refill of this patient has that id")
        if appointment.kind != "refill":
            raise InputError("refill_id", f"a refill is recorded at a refill visit, not at a {appointment.kind} visit")
        _same_day(refill.at, day, zone, "refill_id", "the refill")
        taken = s.scalar(
            select(Appointment.id).where(Appointment.refill_id == refill.id, Appointment.id != appointment.id)
        )
        if taken is not None:
            raise InputError("refill_id", f"that refill is already linked to appointment {taken}")
        appointment.refill_id = refill.id
    if cmd.follow_up_id is not None:
        visit = s.get(FollowUp, cmd.follow_up_id)
        if visit is None or visit.patient_id != appointment.patient_id:
            raise InputError("follow_up_id", "no follow-up of this patient has that id")
        _same_day(visit.at, day, zone, "follow_up_id", "the follow-up")
        taken = s.scalar(
            select(Appointment.id).where(Appointment.follow_up_id == visit.id, Appointment.id != appointment.id)
        )
        if taken is not None:
            raise InputError("follow_up_id", f"that follow-up is already linked to appointment {taken}")
        appointment.follow_up_id = visit.id


def _same_day(at: datetime | None, day: date, zone: ZoneInfo, field: str, what: str) -> None:
    if at is None or at.astimezone(zone).date() != day:
        recorded = "never" if at is None else at.astimezone(zone).date().isoformat()
        raise InputError(field, f"{what} was recorded on {recorded}, the visit is on {day.isoformat()}")


def _missed(s: Session, appointment: Appointment, now: datetime) -> None:
    """Queue the missed-visit notices (the patient's; a baclofen refill's escalation) in this transaction."""
    notify.missed_visit(s, appointment, now)


def _entity(a: Appointment) -> str:
    return f"appointment/{a.id}"


def appointment_json(a: Appointment) -> dict[str, Any]:
    return {
        "id": a.id,
        "patient_id": a.patient_id,
        "kind": a.kind,
        "kind_text": KIND_WORDS.get(a.kind, a.kind),  # type: ignore[call-overload]
        "starts_at": a.starts_at.isoformat(),
        "minutes": a.minutes,
        "status": a.status,
        "nurse_id": a.nurse_id,
        "skills": list(a.skills),
        "note": a.note,
        "window_override": a.window_override,
        "refill_id": a.refill_id,
        "follow_up_id": a.follow_up_id,
        "plan_id": a.plan_id,
        "status_reason": a.status_reason,
        "created_by": a.created_by,
        "created_at": a.created_at.isoformat(),
        "updated_at": a.updated_at.isoformat(),
    }


def patient_appointments(s: Session, actor: User, patient_id: int) -> list[Appointment]:
    require(actor, "read-patient", patient_id=patient_id)
    if s.get(Patient, patient_id) is None:
        raise NotFound("no such patient")
    return list(
        s.scalars(select(Appointment).where(Appointment.patient_id == patient_id).order_by(Appointment.starts_at))
    )


def calendar_between(
    s: Session,
    actor: User,
    first: date | None,
    days: int,
    nurse: str | None = None,
    status: str | None = None,
    now: datetime | None = None,
) -> list[tuple[Appointment, Patient]]:
    """The clinic's visits from `first` (None: today at `now`) for `days` days (local), with their patients."""
    require(actor, "read-dashboard")
    if not 1 <= days <= 62:
        raise InputError("days", f"expected 1 to 62 days, got {days}")
    zone = ZoneInfo(current_settings(s).timezone)
    if first is None:
        first = (now or datetime.now(UTC)).astimezone(zone).date()
    start, end = local_days_utc(first, zone, days)
    query = (
        select(Appointment, Patient)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(Appointment.starts_at >= start, Appointment.starts_at < end)
        .order_by(Appointment.starts_at, Appointment.id)
    )
    if nurse is not None:
        user = _user(s, nurse)
        if user is None:
            raise InputError("nurse", f"no active login '{nurse}'")
        query = query.where(Appointment.nurse_id == user.id)
    if status is not None:
        query = query.where(Appointment.status == status)
    return [(a, p) for a, p in s.execute(query)]


def sweep_missed(engine: Engine, now: datetime, limit: int = 200) -> int:
    """Close the day: a booked or confirmed visit whose day ended (the clinic's closing time has passed) becomes
    attended when its refill (a refill visit) or follow-up was recorded that local day, else missed (its notices
    queued). Each in its own transaction, serialised on the patient. Returns how many were closed."""
    make = writers(engine)
    with make() as s:
        settings = current_settings(s)
        if settings.scheduling is None:
            return 0
        zone = ZoneInfo(settings.timezone)
        closes = settings.scheduling.closes
        # a visit is due for closing once its local day's closing time has passed: any visit that started more
        # than a day ago, or today's before the closing time when that has passed
        local_now = now.astimezone(zone)
        cutoff_day = local_now.date() if local_now.time() >= closes else local_now.date() - timedelta(days=1)
        _, cutoff = local_days_utc(cutoff_day, zone)
        due = list(
            s.scalars(
                select(Appointment.id)
                .where(Appointment.status.in_(OPEN), Appointment.starts_at < cutoff)
                .order_by(Appointment.starts_at)
                .limit(limit)
            )
        )
    closed = 0
    for appointment_id in due:
        with make() as s:
            found = s.get(Appointment, appointment_id)
            if found is None:
                continue
            lock_patient(s, found.patient_id)
            s.refresh(found)
            if found.status not in OPEN:
                continue
            start, end = local_days_utc(found.starts_at.astimezone(zone).date(), zone)
            cmd = _what_happened(s, found, start, end)
            _change(s, SYSTEM, found, cmd, now)
            s.commit()
            closed += 1
    return closed


def _what_happened(s: Session, a: Appointment, start: datetime, end: datetime) -> ChangeAppointment:
    if a.kind == "refill":
        refill = s.scalars(
            select(Refill)
            .where(Refill.patient_id == a.patient_id, Refill.status == "completed", Refill.at >= start, Refill.at < end)
            .order_by(Refill.at.desc())
        ).first()
        if refill is not None:
            return ChangeAppointment("attended", "", refill_id=refill.id)
    if a.kind == "follow-up":
        visit = s.scalars(
            select(FollowUp).where(FollowUp.patient_id == a.patient_id, FollowUp.at >= start, FollowUp.at < end)
        ).first()
        if visit is not None:
            return ChangeAppointment("attended", "", follow_up_id=visit.id)
    return ChangeAppointment("missed", "not marked attended by the end of the clinic's day (closed by the system)")
