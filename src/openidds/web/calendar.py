"""The clinic's scheduling pages (issue "Refill operations"): the calendar (a week or a day, per nurse, with each
visit's status changes), the patient's appointments on the chart (their refill window, the next booked refill, the
list and a booking form), the refill planner (CP-SAT beside the greedy baseline, its proposal booked all or in part)
and the clinic's settings (each section edited, reviewed old → new, then saved with a reason).

Every day and time is the clinic's (`settings.timezone`): shown through web/format, typed on the clinic's wall clock
and read with zoneinfo (a time in a DST gap or overlap is refused, web/forms.local_instant). Each page decides
nothing itself: the use cases (service.appointments, service.planning, service.settings) check the role again and
refuse in words, and a refused form is shown again with what was typed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from openidds import display
from openidds.api.schemas import Id
from openidds.clinic.appointments import KIND_WORDS, NEXT, OPEN
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.roles import Action, role_may
from openidds.clinic.settings import SKILLS, VISIT_KINDS, WEEKDAYS, ClinicSettings
from openidds.data import load_clinic_settings, load_library
from openidds.db.models import (
    Appointment,
    AuditRecord,
    ClinicSettingsVersion,
    FollowUp,
    Patient,
    PatientStatus,
    Plan,
    Refill,
    User,
)
from openidds.errors import InputError
from openidds.service import pathway
from openidds.service import settings as settings_service
from openidds.service.access import require
from openidds.service.appointments import (
    BookAppointment,
    ChangeAppointment,
    book,
    calendar_between,
    change,
    patient_appointments,
)
from openidds.service.errors import Conflict, NotFound
from openidds.service.settings import current_settings
from openidds.validation import validation_error
from openidds.web import format as fmt
from openidds.web.forms import local_instant, whole_number
from openidds.web.pages import chart_context, may
from openidds.web.session import Fields, Posted, WebError, Work, render, submit, templates, unit_of_work

router = APIRouter(include_in_schema=False)

STATUS_WORDS = {
    "confirmed": "Confirm",
    "attended": "Attended",
    "missed": "Missed",
    "cancelled": "Cancel",
}
BOOKING_WORDS = {
    "starts_at": "The day and time",
    "kind": "The kind of visit",
    "nurse": "The nurse",
    "note": "The note",
    "override_reason": "Reason to book anyway",
    "minutes": "The length",
}
CHANGE_WORDS = {"reason": "The reason", "status": "The change", "refill_id": "The refill", "follow_up_id": "The visit"}
SOON_DAYS = 7  # the dashboard's warning: not booked and the latest safe day within this many days


# --- the clinic's day ---------------------------------------------------------------------------------------------
def clinic_zone(settings: ClinicSettings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def today_of(settings: ClinicSettings, now: datetime) -> date:
    return now.astimezone(clinic_zone(settings)).date()


def _local_date(value: datetime | str | None, tz: str | None) -> str:
    """The clinic day an instant falls on, as YYYY-MM-DD (for comparing with the window's days)."""
    at = fmt.instant(value)
    return "" if at is None else at.astimezone(fmt.zone(tz)).date().isoformat()


def _days_to(day: str | date | None, now: datetime, tz: str | None) -> int | None:
    """Whole clinic days from today to `day` (0 today, negative when past)."""
    if not day:
        return None
    target = day if isinstance(day, date) else date.fromisoformat(day)
    return (target - now.astimezone(fmt.zone(tz)).date()).days


def _calendar_day(value: date | str | None) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value) if value else None
    return display.calendar_day(value)


# The dashboard and the chart use these (the dashboard's rows carry the window as ISO days).
templates.filters["local_date"] = _local_date
templates.filters["days_to"] = _days_to
templates.filters["calendar_day"] = _calendar_day
templates.filters["fromjson"] = json.loads
templates.globals["may"] = may


def may_role(user: User, action: Action) -> bool:
    """Whether the user's role may ever do a patient-scoped action (the use case checks the patient again)."""
    return user.role != "patient" and role_may(user.role, (action,)).allowed  # type: ignore[arg-type]


# --- the calendar ---------------------------------------------------------------------------------------------------
def _parse_day(text: str, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError("day", f"expected a day such as '2027-01-05', got {text[:40]!r}") from None


def _visit(
    a: Appointment, p: Patient, zone: ZoneInfo, names: dict[int, str], links: list[tuple[str, str]]
) -> dict[str, Any]:
    start = a.starts_at.astimezone(zone)
    return {
        "id": a.id,
        "patient_id": p.id,
        "mrn": p.mrn,
        "name": f"{p.family_name}, {p.given_name}",
        "kind": a.kind,
        "kind_text": KIND_WORDS.get(a.kind, a.kind),  # type: ignore[call-overload]
        "status": a.status,
        "starts_at": a.starts_at,
        "time": f"{start:%H:%M}",
        "ends": f"{start + timedelta(minutes=a.minutes):%H:%M}",
        "minutes": a.minutes,
        "nurse": names.get(a.nurse_id, "") if a.nurse_id is not None else "",
        "skills": list(a.skills),
        "note": a.note,
        "window_override": a.window_override,
        "status_reason": a.status_reason,
        "next": sorted(NEXT.get(a.status, frozenset()), key=list(STATUS_WORDS).index),  # type: ignore[call-overload]
        "links": links,
    }


Links = dict[tuple[int, date], list[tuple[str, str]]]


def _records_by_day(s: Session, patient_ids: set[int], start: datetime, end: datetime, zone: ZoneInfo) -> Links:
    """The completed refills and follow-ups of these patients in [start, end), by (patient, local day): what an
    attended visit is linked to."""
    out: Links = {}
    if not patient_ids:
        return out
    for r in s.scalars(
        select(Refill).where(
            Refill.patient_id.in_(patient_ids), Refill.status == "completed", Refill.at >= start, Refill.at < end
        )
    ):
        if r.at is None:
            continue
        local = r.at.astimezone(zone)
        out.setdefault((r.patient_id, local.date()), []).append((f"refill:{r.id}", f"refill at {local:%H:%M}"))
    for f in s.scalars(
        select(FollowUp).where(FollowUp.patient_id.in_(patient_ids), FollowUp.at >= start, FollowUp.at < end)
    ):
        local = f.at.astimezone(zone)
        out.setdefault((f.patient_id, local.date()), []).append((f"follow-up:{f.id}", f"follow-up at {local:%H:%M}"))
    return out


def _calendar_page(
    request: Request,
    w: Work,
    day_text: str,
    view: str,
    error: WebError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    require(w.user, "read-dashboard")
    settings = current_settings(w.s)
    zone = clinic_zone(settings)
    today = today_of(settings, w.now)
    day = _parse_day(day_text, today)
    view = "day" if view == "day" else "week"
    first = day if view == "day" else day - timedelta(days=day.weekday())
    count = 1 if view == "day" else 7
    step = timedelta(days=count)
    context: dict[str, Any] = {
        "view": view,
        "day": day,
        "first": first,
        "today": today,
        "prev_day": (day - step).isoformat(),
        "next_day": (day + step).isoformat(),
        "zone": settings.timezone,
        "scheduled": settings.scheduling is not None,
        "days": [],
        "may_change": may_role(w.user, "book-appointment"),
        "error": error,
        "values": values or {},
        "status_words": STATUS_WORDS,
        "done": request.query_params.get("done", ""),
    }
    if settings.scheduling is None:
        return render(request, "calendar.html", error.status if error else 200, user=w.user, **context)
    calendar = ClinicCalendar(settings.scheduling)
    entries = calendar_between(w.s, w.user, first, count)
    nurse_ids = {a.nurse_id for a, _ in entries if a.nurse_id is not None}
    names = dict(w.s.execute(select(User.id, User.username).where(User.id.in_(nurse_ids))).all()) if nurse_ids else {}
    full = {n.username: n for n in settings.scheduling.nurses}
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(first + step, time(0), zone).astimezone(UTC)
    records = _records_by_day(w.s, {p.id for _, p in entries}, start, end, zone) if view == "day" else {}
    by_day: dict[date, list[dict[str, Any]]] = {}
    for a, p in entries:
        local = a.starts_at.astimezone(zone).date()
        by_day.setdefault(local, []).append(_visit(a, p, zone, names, records.get((p.id, local), [])))
    for i in range(count):
        d = first + timedelta(days=i)
        visits = by_day.get(d, [])
        working = calendar.nurses_on(d)
        nurses: list[dict[str, Any]] = []
        for n in working:
            theirs = [v for v in visits if v["nurse"] == n.username]
            used = sum(1 for v in theirs if v["status"] in (*OPEN, "attended"))
            nurses.append(
                {
                    "username": n.username,
                    "skills": list(n.skills),
                    "used": used,
                    "total": n.visits_per_day,
                    "visits": theirs,
                }
            )
        listed = {n.username for n in working}
        # visits with no nurse (surgery, MRI checks) or with one not working that day (booked before a change)
        others = [v for v in visits if v["nurse"] not in listed]
        for v in others:
            if v["nurse"] and v["nurse"] not in full:
                v["nurse_note"] = "no longer listed as a nurse"
        context["days"].append(
            {
                "date": d,
                "iso": d.isoformat(),
                "words": display.calendar_day(d),
                "is_today": d == today,
                "closed": calendar.closed_why(d),
                "nurses": nurses,
                "others": others,
                "visits": visits,
                "used": sum(n["used"] for n in nurses),
                "capacity": calendar.capacity(d),
            }
        )
    return render(request, "calendar.html", error.status if error else 200, user=w.user, **context)


@router.get("/calendar")
def calendar_page(request: Request, day: str = "", view: str = "week") -> Response:
    with unit_of_work(request) as w:
        if w.user.role == "patient":
            raise NotFound("no such page")
        return _calendar_page(request, w, day.strip(), view)


@router.post("/patients/{patient_id}/appointments/{appointment_id}/status")
def change_status(request: Request, patient_id: Id, appointment_id: Id, form: Posted) -> Response:
    back_day, back_view = form.get("day"), form.get("view")
    back_to_chart = form.get("back") == "chart"

    def write(w: Work) -> str:
        wanted = form.get("status")
        if wanted not in STATUS_WORDS:
            raise InputError("status", "choose confirm, attended, missed or cancel")
        refill_id = follow_up_id = None
        link = form.get("link")
        if wanted == "attended" and link:
            what, _, number = link.partition(":")
            value = whole_number(number)
            if not isinstance(value, int):
                raise InputError("status", "choose the refill or follow-up recorded at the visit")
            refill_id, follow_up_id = (value, None) if what == "refill" else (None, value)
        reason = form.get("reason") if wanted in ("missed", "cancelled") else ""
        cmd = ChangeAppointment(wanted, reason, refill_id, follow_up_id)  # type: ignore[arg-type]
        change(w.s, w.user, patient_id, appointment_id, cmd, w.now)
        if back_to_chart:
            return f"/patients/{patient_id}?done=appointment#appointments"
        query = urlencode({"day": back_day, "view": "week" if back_view == "week" else "day", "done": appointment_id})
        return f"/calendar?{query}#visit-{appointment_id}"

    def show_again(w: Work, err: WebError) -> Response:
        words = _words(err, CHANGE_WORDS)
        values = {"appointment": str(appointment_id), **form.as_dict()}
        refused = WebError(err.status, words, err.field, err.said)
        if back_to_chart:
            return _chart_again(request, w, patient_id, refused, {}, values)
        return _calendar_page(request, w, back_day, back_view or "day", refused, values)

    return submit(request, write, show_again)


def _words(err: WebError, labels: dict[str, str]) -> str:
    return display.message(InputError(err.field, err.said), labels) if err.field else err.message


# --- the patient's appointments (a partial of the chart) ------------------------------------------------------------
def appointments_panel(patient: Patient, user: User, now: datetime) -> dict[str, Any]:
    """What the chart's appointments section shows. Called by the template while the chart's unit of work is open
    (the patient's own session): the refill window, the next booked refill, the visits and the booking choices."""
    s = object_session(patient)
    if s is None:  # not rendered inside a unit of work: nothing to read
        return {"ready": False}
    settings = current_settings(s)
    zone = settings.timezone
    status = s.get(PatientStatus, patient.id)
    window = None if status is None else status.refill_window
    booked_at = None if status is None else status.booked_refill_at
    visits = patient_appointments(s, user, patient.id)
    names = dict(s.execute(select(User.id, User.username).where(User.id.in_({a.nurse_id for a in visits}))).all())
    upcoming = [a for a in visits if a.status in OPEN and a.starts_at >= now]
    past = [a for a in visits if a not in upcoming]
    past.reverse()
    today = today_of(settings, now)
    calendar = None if settings.scheduling is None else ClinicCalendar(settings.scheduling)
    latest = window.get("latest") if window else None
    earliest = window.get("earliest") if window else None
    days_left = _days_to(latest, now, zone) if latest else None
    # The status row is refreshed by the worker at the clinic's midnight: until then a latest safe day that has just
    # passed is shown as what it is (overdue: the first open day from today), never as "in -1 days".
    overdue = bool(window and (window.get("overdue") or (days_left is not None and days_left < 0)))
    first_open = today if calendar is None else calendar.open_on_or_after(today)
    if window and overdue and not window.get("overdue"):
        earliest = first_open.isoformat()
    default_day = today + timedelta(days=1)
    if window and overdue and earliest:
        default_day = date.fromisoformat(earliest)
    elif window and earliest:
        default_day = max(date.fromisoformat(earliest), default_day)
    if calendar is not None:  # the first day the clinic is open
        default_day = calendar.open_on_or_after(default_day)
    default_time = "09:00"
    local_now = now.astimezone(clinic_zone(settings))
    if default_day == today and settings.scheduling is not None:  # the next half hour, within the clinic's hours
        slot = (local_now + timedelta(minutes=30 - local_now.minute % 30)).replace(second=0, microsecond=0)
        default_time = f"{max(slot.time(), settings.scheduling.opens):%H:%M}"
    return {
        "ready": True,
        "zone": zone,
        "window": window,
        "overdue": overdue,
        "earliest": earliest,
        "latest": latest,
        "window_days_left": days_left,
        "booked_at": booked_at,
        # after the latest safe day (overdue: after the first open day, the earliest it can be)
        "booked_late": bool(booked_at and latest and _local_date(booked_at, zone) > max(latest, earliest or latest)),
        "upcoming": upcoming,
        "past": past,
        "names": names,
        "kinds": [(k, KIND_WORDS[k]) for k in VISIT_KINDS],
        "nurses": [] if settings.scheduling is None else [n.username for n in settings.scheduling.nurses],
        "scheduled": settings.scheduling is not None,
        "may_book": may(user, "book-appointment", patient.id),
        "default_day": default_day.isoformat(),
        "default_time": default_time,
        "next_of": lambda a: sorted(NEXT.get(a.status, frozenset()), key=list(STATUS_WORDS).index),
    }


templates.globals["appointments_panel"] = appointments_panel


def _chart_again(
    request: Request,
    w: Work,
    patient_id: int,
    error: WebError,
    booking: dict[str, str],
    change_values: dict[str, str] | None = None,
) -> Response:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    return render(
        request,
        "chart.html",
        error.status,
        user=w.user,
        done="",
        booking_error=error,
        booking_values=booking,
        change_values=change_values or {},
        **chart_context(w.s, w.user, patient, w.now),
    )


def _booking(form: Fields, tz: str) -> BookAppointment:
    kind = form.get("kind") or "refill"
    if kind not in VISIT_KINDS:
        raise InputError("kind", f"choose one of: {', '.join(KIND_WORDS.values())}")
    day, clock = form.get("day"), form.get("time")
    if not day or not clock:
        raise InputError("starts_at", "give the day and the time (on the clinic's clock)")
    starts_at = local_instant(f"{day}T{clock}", tz, "starts_at")
    return BookAppointment(
        kind,
        starts_at,
        None,
        form.get("nurse") or None,
        form.checked("home_visit"),
        form.get("note"),
        form.get("override_reason"),
    )


@router.post("/patients/{patient_id}/appointments")
def book_appointment(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        pathway.read_patient(w.s, w.user, patient_id)
        cmd = _booking(form, current_settings(w.s).timezone)
        a = book(w.s, w.user, patient_id, cmd, w.now)
        return f"/patients/{patient_id}?done=booked#appointment-{a.id}"

    def show_again(w: Work, err: WebError) -> Response:
        values = {**form.as_dict(), "home_visit": "on" if form.checked("home_visit") else ""}
        if err.field == "override_reason":
            values["needs_reason"] = "1"
            said = err.said.removesuffix(": give a reason to book it anyway")
            values["reasons"] = json.dumps([r.strip() for r in said.split("; ") if r.strip()])
        words = _words(err, BOOKING_WORDS)
        return _chart_again(request, w, patient_id, WebError(err.status, words, err.field, err.said), values)

    return submit(request, write, show_again)


# --- the planner --------------------------------------------------------------------------------------------------
def _planning() -> Any:
    from openidds.service import planning  # written beside this page (the planner service)

    return planning


def _planner_form(request: Request, w: Work, values: dict[str, str], error: WebError | None = None) -> Response:
    require(w.user, "plan-refills")
    settings = current_settings(w.s)
    recent = []
    for p in w.s.scalars(select(Plan).order_by(Plan.id.desc()).limit(10)):
        best = p.document.get("cp_sat", {})
        recent.append(
            {
                "id": p.id,
                "created_at": p.created_at,
                "first_day": p.first_day,
                "weeks": p.weeks,
                "visits": best.get("visits"),
                "shortfalls": len(best.get("shortfalls", [])),
                "accepted": len(p.accepted),
            }
        )
    today = today_of(settings, w.now)
    return render(
        request,
        "planner.html",
        error.status if error else 200,
        user=w.user,
        mode="form",
        values={"first_day": today.isoformat(), "weeks": "4", **values},
        error=error,
        recent=recent,
        zone=settings.timezone,
        scheduled=settings.scheduling is not None,
    )


@router.get("/planner")
def planner_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        return _planner_form(request, w, {})


@router.post("/planner")
def run_planner(request: Request, form: Posted) -> Response:
    def write(w: Work) -> str:
        require(w.user, "plan-refills")
        text = form.get("first_day")
        try:
            first = date.fromisoformat(text)
        except ValueError:
            raise InputError("first_day", f"expected a day such as '2027-01-04', got {text[:40]!r}") from None
        weeks = whole_number(form.get("weeks"))
        if not isinstance(weeks, int):
            raise InputError("weeks", f"expected a whole number of weeks from 1 to 26, got {str(weeks)[:20]!r}")
        plan = _planning().propose(w.s, w.user, first, weeks, w.now)
        return f"/planner/{plan.id}"

    def show_again(w: Work, err: WebError) -> Response:
        words = _words(err, {"first_day": "From (day)", "weeks": "Weeks"})
        return _planner_form(request, w, form.as_dict(), WebError(err.status, words, err.field, err.said))

    return submit(request, write, show_again)


def _by_day(bookings: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    days: dict[str, list[dict[str, Any]]] = {}
    for b in sorted(bookings, key=lambda b: (b["day"], b.get("nurse") or "", b["name"])):
        days.setdefault(b["day"], []).append(b)
    return list(days.items())


def _plan_page(
    request: Request, w: Work, plan_id: int, error: WebError | None = None, chosen: list[str] | None = None
) -> Response:
    plan = _planning().find_plan(w.s, w.user, plan_id)
    doc = plan.document
    best, greedy = doc["cp_sat"], doc["greedy"]
    accepted = set(plan.accepted)
    proposed = [b for b in best["bookings"] if not b["fixed"]]
    shortfalls = sorted(best["shortfalls"], key=lambda f: (not f.get("withdrawal_risk"), -int(f.get("days_late") or 0)))
    return render(
        request,
        "planner.html",
        error.status if error else 200,
        user=w.user,
        mode="plan",
        plan=plan,
        best=best,
        greedy=greedy,
        comparison=doc.get("comparison", {}),
        shortfalls=shortfalls,
        days=_by_day(proposed),
        kept=[b for b in best["bookings"] if b["fixed"]],
        accepted=accepted,
        open_count=sum(1 for b in proposed if b["key"] not in accepted),
        chosen=None if chosen is None else set(chosen),
        error=error,
        zone=current_settings(w.s).timezone,
        may_book=may_role(w.user, "book-appointment"),
    )


@router.get("/planner/{plan_id}")
def plan_page(request: Request, plan_id: Id) -> Response:
    with unit_of_work(request) as w:
        return _plan_page(request, w, plan_id)


@router.post("/planner/{plan_id}/accept")
def accept_plan(request: Request, plan_id: Id, form: Posted) -> Response:
    keys = form.getlist("key")

    def write(w: Work) -> str:
        if not keys:
            raise InputError("keys", "tick at least one proposed visit to book")
        _planning().accept(w.s, w.user, plan_id, keys, w.now)
        sequence = w.s.scalar(
            select(func.max(AuditRecord.sequence)).where(
                AuditRecord.entity == f"plan/{plan_id}", AuditRecord.action == "accept-plan"
            )
        )
        return f"/planner/{plan_id}/result?record={sequence}"

    def show_again(w: Work, err: WebError) -> Response:
        words = _words(err, {"keys": "The visits to book"})
        return _plan_page(request, w, plan_id, WebError(err.status, words, err.field, err.said), keys)

    return submit(request, write, show_again)


@router.get("/planner/{plan_id}/result")
def plan_result(request: Request, plan_id: Id, record: int = 0) -> Response:
    with unit_of_work(request) as w:
        plan = _planning().find_plan(w.s, w.user, plan_id)
        found = w.s.get(AuditRecord, record)
        if found is None or found.entity != f"plan/{plan_id}" or found.action != "accept-plan":
            raise NotFound("no such booking of this plan")
        after = found.after or {}
        ids = list(after.get("booked", []))
        rows = (
            w.s.execute(
                select(Appointment, Patient)
                .join(Patient, Patient.id == Appointment.patient_id)
                .where(Appointment.id.in_(ids))
                .order_by(Appointment.starts_at)
            ).all()
            if ids
            else []
        )
        names = dict(w.s.execute(select(User.id, User.username)).all())
        return render(
            request,
            "planner.html",
            user=w.user,
            mode="result",
            plan=plan,
            booked=[(a, p, names.get(a.nurse_id, "") if a.nurse_id else "") for a, p in rows],
            refused=list(after.get("refused", [])),
            zone=current_settings(w.s).timezone,
            error=None,
        )


# --- the clinic's settings ----------------------------------------------------------------------------------------
SECTIONS = {
    "clinic": "Clinic and phone numbers",
    "hours": "Hours, open days and holidays",
    "closures": "Closures",
    "nurses": "Nurses",
    "margins": "Booking margins and waste",
    "notifications": "Notifications",
}
SETTINGS_WORDS = {"reason": "Why the settings change", "version": "The settings"}
BASES = ("literature", "consensus", "label", "policy", "guideline")


def _cited_days(cited: dict[str, Any]) -> str:
    """'4 days' → '4' (the form asks for whole days)."""
    return str(cited["value"]).split()[0]


def settings_fields(doc: dict[str, Any]) -> dict[str, str]:
    """The settings document (JSON form) as the editor's field values."""
    v: dict[str, str] = {"clinic_name": doc.get("clinic_name", "")}
    for key in ("in_hours", "on_call"):
        phone = doc.get(key) or {}
        v[f"{key}.number"], v[f"{key}.hours"] = phone.get("number", ""), phone.get("hours", "")
    sch = doc.get("scheduling")
    if sch:
        v["opens"], v["closes"] = sch["opens"][:5], sch["closes"][:5]
        v["country"], v["subdivision"] = sch["country"], sch.get("subdivision") or ""
        for d in WEEKDAYS:
            v[f"open.{d}"] = "on" if d in sch["open_days"] else ""
        for k in VISIT_KINDS:
            v[f"minutes.{k}"] = str(sch["visit_minutes"].get(k, ""))
        v["closure_rows"] = str(len(sch["closures"]))
        for i, c in enumerate(sch["closures"]):
            v[f"closure.{i}.day"], v[f"closure.{i}.why"] = c["day"], c["why"]
        v["nurse_rows"] = str(len(sch["nurses"]))
        for i, n in enumerate(sch["nurses"]):
            v[f"nurse.{i}.username"], v[f"nurse.{i}.visits"] = n["username"], str(n["visits_per_day"])
            for d in WEEKDAYS:
                v[f"nurse.{i}.day.{d}"] = "on" if d in n["days"] else ""
            for sk in SKILLS:
                v[f"nurse.{i}.skill.{sk}"] = "on" if sk in n["skills"] else ""
        margins = sch["margins"]
        v["margin.default"] = _cited_days(margins["default"])
        v["margin_rows"] = str(len(margins["drugs"]))
        for i, (drug, cited) in enumerate(sorted(margins["drugs"].items())):
            v[f"margin.{i}.drug"], v[f"margin.{i}.days"] = drug, _cited_days(cited)
        v["max_waste"] = str(sch["max_waste"]["value"]).replace(" %", "").replace("%", "")
    notes = doc.get("notifications")
    if notes:
        v["reminder_days"] = ", ".join(str(d) for d in notes["reminder_days"])
        v["languages"] = ", ".join(notes["languages"])
        v["sender"] = notes["sender"]
        for key in ("lead", "on_call_contact"):
            c = notes["lead" if key == "lead" else "on_call"]
            v[f"{key}.name"], v[f"{key}.email"], v[f"{key}.phone"] = (
                c["name"],
                c.get("email") or "",
                c.get("phone") or "",
            )
    return v


def _rows(form: Fields, name: str) -> int:
    count = whole_number(form.get(f"{name}_rows") or "0")
    return min(count, 200) if isinstance(count, int) else 0


def _numbers(text: str, field: str) -> list[int]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        value = whole_number(part)
        if not isinstance(value, int):
            raise InputError(field, f"expected whole numbers separated by commas, got {part[:20]!r}")
        out.append(value)
    return out


def section_document(section: str, form: Fields, before: dict[str, Any]) -> dict[str, Any]:
    """The posted section on top of the settings in force: the editable document to save (its top-level keys)."""
    doc: dict[str, Any] = json.loads(
        json.dumps({k: before.get(k) for k in settings_service.EDITABLE if before.get(k) is not None})
    )
    sch = doc.get("scheduling")
    if section == "clinic":
        doc["clinic_name"] = form.get("clinic_name")
        for key in ("in_hours", "on_call"):
            doc[key] = {"number": form.get(f"{key}.number"), "hours": form.get(f"{key}.hours")}
        return doc
    if section == "notifications":
        if doc.get("notifications") is None:
            raise Conflict("the clinic has no notification settings in its file: they start there")
        doc["notifications"] = {
            "reminder_days": _numbers(form.get("reminder_days"), "notifications.reminder_days"),
            "languages": [p.strip() for p in form.get("languages").split(",") if p.strip()],
            "sender": form.get("sender"),
            "lead": _contact(form, "lead"),
            "on_call": _contact(form, "on_call_contact"),
        }
        return doc
    if sch is None:
        raise Conflict("the clinic has no scheduling settings in its file: they start there")
    if section == "hours":
        sch["opens"], sch["closes"] = form.get("opens"), form.get("closes")
        sch["country"], sch["subdivision"] = form.get("country"), form.get("subdivision") or None
        sch["open_days"] = [d for d in WEEKDAYS if form.checked(f"open.{d}")]
        sch["visit_minutes"] = {k: whole_number(form.get(f"minutes.{k}")) for k in VISIT_KINDS}
    elif section == "closures":
        rows = []
        for i in range(_rows(form, "closure")):
            if form.checked(f"closure.{i}.remove"):
                continue
            day, why = form.get(f"closure.{i}.day"), form.get(f"closure.{i}.why")
            if day or why:
                rows.append({"day": day, "why": why})
        sch["closures"] = sorted(rows, key=lambda r: r["day"])
    elif section == "nurses":
        nurses: list[dict[str, Any]] = []
        for i in range(_rows(form, "nurse")):
            name = form.get(f"nurse.{i}.username")
            if form.checked(f"nurse.{i}.remove") or not name:
                continue
            nurses.append(
                {
                    "username": name,
                    "visits_per_day": whole_number(form.get(f"nurse.{i}.visits")),
                    "days": [d for d in WEEKDAYS if form.checked(f"nurse.{i}.day.{d}")],
                    "skills": [sk for sk in SKILLS if form.checked(f"nurse.{i}.skill.{sk}")],
                }
            )
        sch["nurses"] = nurses
    elif section == "margins":
        old = sch["margins"]
        sch["margins"] = {"default": _days(old["default"], form.get("margin.default")), "drugs": {}}
        for i in range(_rows(form, "margin")):
            drug = form.get(f"margin.{i}.drug")
            if form.checked(f"margin.{i}.remove") or not drug:
                continue
            kept = old["drugs"].get(drug) or {"source": sch["source"], "basis": "policy", "unconfirmed": True}
            sch["margins"]["drugs"][drug] = _days(kept, form.get(f"margin.{i}.days"))
        waste = form.get("max_waste")
        sch["max_waste"] = {**sch["max_waste"], "value": f"{waste} %"}
    else:
        raise NotFound("no such section of the settings")
    return doc


def _days(cited: dict[str, Any], text: str) -> dict[str, Any]:
    return {**cited, "value": f"{text} days" if text else ""}


def _contact(form: Fields, key: str) -> dict[str, Any]:
    return {
        "name": form.get(f"{key}.name"),
        "email": form.get(f"{key}.email") or None,
        "phone": form.get(f"{key}.phone") or None,
    }


def check_document(doc: dict[str, Any]) -> ClinicSettings:
    """The document validated as service.settings validates it on saving (InputError naming the field)."""
    base = load_clinic_settings()
    merged = base.model_dump(mode="json", exclude={"sha256"})
    merged.update(doc)
    try:
        return ClinicSettings.model_validate(merged)
    except ValidationError as exc:
        where, message = validation_error(exc)
        raise InputError(where or "settings", message) from None


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A settings document as dotted paths to text (for the old → new review)."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        for i, v in enumerate(value):
            key = v.get("username") or v.get("day") or str(i)
            out.update(flatten(v, f"{prefix}[{key}]"))
    elif isinstance(value, list):
        out[prefix] = ", ".join(str(x) for x in value) or "(none)"
    else:
        out[prefix] = "(none)" if value is None else str(value)
    return out


_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")  # a name, or a row's key in brackets (a username, a day)


def setting_words(path: str) -> str:
    """A dotted settings path in words: 'scheduling.nurses[nora].visits_per_day' → 'nurses nora: visits per day'."""
    parts = [key or name.replace("_", " ") for name, key in _SEGMENT.findall(path.removeprefix("scheduling."))]
    return parts[-1] if len(parts) == 1 else f"{' '.join(parts[:-1])}: {parts[-1]}"


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each changed setting as (its name in words, old, new)."""
    old, new = flatten(before), flatten(after)
    keys = sorted(set(old) | set(new))
    return [
        (setting_words(k), old.get(k, "(none)"), new.get(k, "(removed)" if k in old else "(none)"))
        for k in keys
        if old.get(k) != new.get(k)
    ]


def _editable(settings: ClinicSettings) -> dict[str, Any]:
    dumped = settings.model_dump(mode="json")
    return {k: dumped[k] for k in settings_service.EDITABLE if dumped.get(k) is not None}


def _version(s: Session) -> int:
    return int(s.scalar(select(func.max(ClinicSettingsVersion.id))) or 0)


def _settings_page(
    request: Request,
    w: Work,
    values: dict[str, str] | None = None,
    section: str = "",
    error: WebError | None = None,
    review: dict[str, Any] | None = None,
) -> Response:
    require(w.user, "edit-clinic-settings")
    settings = current_settings(w.s)
    doc = _editable(settings)
    shown = {**settings_fields(doc), **(values or {})}
    sch = settings.scheduling
    holidays: list[tuple[str, str]] = []
    if sch is not None:
        calendar = ClinicCalendar(sch)
        day = today_of(settings, w.now)
        for _ in range(800):  # two years at most
            why = calendar.closed_why(day)
            if why is not None and why.startswith("public holiday: "):
                holidays.append((display.calendar_day(day), why.removeprefix("public holiday: ")))
                if len(holidays) == 10:
                    break
            day += timedelta(days=1)
    return render(
        request,
        "settings.html",
        error.status if error else 200,
        user=w.user,
        settings=settings,
        doc=doc,
        values=shown,
        section=section,
        sections=SECTIONS,
        error=error,
        review=review,
        holidays=holidays,
        weekdays=WEEKDAYS,
        skills=SKILLS,
        kinds=[(k, KIND_WORDS[k]) for k in VISIT_KINDS],
        drugs=[d.name for d in load_library().drugs],
        version=_version(w.s),
        saved=request.query_params.get("saved") == "1",
        extra_rows=1,
    )


@router.get("/admin/settings")
def settings_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        return _settings_page(request, w)


@router.post("/admin/settings/review")
def review_settings(request: Request, form: Posted) -> Response:
    """A section's changes, old → new, before anything is saved (nothing is written here)."""
    section = form.get("section")
    try:
        with unit_of_work(request) as w:
            require(w.user, "edit-clinic-settings")
            if section not in SECTIONS:
                raise NotFound("no such section of the settings")
            before = _editable(current_settings(w.s))
            try:
                after = section_document(section, form, before)
                check_document(after)
            except InputError as exc:
                err = WebError(422, display.message(exc, SETTINGS_WORDS), exc.field, exc.message)
                return _settings_page(request, w, form.as_dict(), section, err)
            listed = changes(before, after)
            review = {
                "section": section,
                "title": SECTIONS[section],
                "changes": listed,
                "document": json.dumps(after, separators=(",", ":")),
            }
            return _settings_page(request, w, form.as_dict(), section, None, review)
    except WebError as err:
        if err.status in (401, 403, 404):
            raise
        with unit_of_work(request) as w:
            return _settings_page(request, w, form.as_dict(), section, err)


@router.post("/admin/settings")
def save_settings(request: Request, form: Posted) -> Response:
    def write(w: Work) -> str:
        require(w.user, "edit-clinic-settings")
        if str(_version(w.s)) != form.get("version"):
            raise Conflict("the settings were saved by someone else since you reviewed them: review your change again")
        try:
            doc = json.loads(form.get("document"))
        except ValueError:
            raise InputError("document", "the reviewed settings were damaged in transit: review again") from None
        if not isinstance(doc, dict):
            raise InputError("document", "the reviewed settings were damaged in transit: review again")
        settings_service.save_settings(w.s, w.user, doc, form.get("reason"), w.now)
        return "/admin/settings?saved=1"

    def show_again(w: Work, err: WebError) -> Response:
        words = _words(err, SETTINGS_WORDS)
        section = form.get("section")
        before = _editable(current_settings(w.s))
        try:
            after = json.loads(form.get("document"))
            review = {
                "section": section,
                "title": SECTIONS.get(section, ""),
                "changes": changes(before, after),
                "document": form.get("document"),
                "reason": form.get("reason"),
            }
        except ValueError:
            review = None
        return _settings_page(request, w, {}, section, WebError(err.status, words, err.field, err.said), review)

    return submit(request, write, show_again)
