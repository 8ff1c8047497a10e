"""The clinic's scheduling pages (issue "Refill operations"): the calendar (a week or a day, per nurse, with each
visit's status changes), the patient's appointments on the chart (their refill window, the next booked refill, the
list and a booking form). The planner's pages are web/planner.py, the clinic's settings web/clinic_settings.py.

Every day and time is the clinic's (`settings.timezone`): shown through web/format, typed on the clinic's wall clock
and read with zoneinfo (a time in a DST gap or overlap is refused, web/forms.local_instant). Each page decides
nothing itself: the use cases (service.appointments, service.planning, service.settings) check the role again and
refuse in words, and a refused form is shown again with what was typed.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from openidds import display
from openidds.api.schemas import Id
from openidds.clinic.appointments import KIND_WORDS, NEXT, OPEN
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.roles import Action, role_may
from openidds.clinic.settings import VISIT_KINDS, ClinicSettings
from openidds.db.models import (
    Appointment,
    FollowUp,
    Patient,
    PatientStatus,
    Refill,
    User,
)
from openidds.errors import InputError
from openidds.service import pathway
from openidds.service.access import require
from openidds.service.appointments import (
    BookAppointment,
    ChangeAppointment,
    book,
    calendar_between,
    change,
    patient_appointments,
)
from openidds.service.errors import NotFound
from openidds.service.settings import current_settings
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
        words = refusal_words(err, CHANGE_WORDS)
        values = {"appointment": str(appointment_id), **form.as_dict()}
        refused = WebError(err.status, words, err.field, err.said)
        if back_to_chart:
            return _chart_again(request, w, patient_id, refused, {}, values)
        return _calendar_page(request, w, back_day, back_view or "day", refused, values)

    return submit(request, write, show_again)


def refusal_words(err: WebError, labels: dict[str, str]) -> str:
    """A refusal in the form's own words: the field named by its label (one rule for the scheduling pages)."""
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
        words = refusal_words(err, BOOKING_WORDS)
        return _chart_again(request, w, patient_id, WebError(err.status, words, err.field, err.said), values)

    return submit(request, write, show_again)
