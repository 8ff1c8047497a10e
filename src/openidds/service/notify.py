"""Notifications, written to the outbox in the same transaction as the event that causes them.

The event functions (`missed_visit`, `urgent_flag`, `capacity_shortfall`) are called by the use cases inside their
own transaction, so a message exists if and only if its event committed; the worker (openidds.worker) delivers it
later, with retries. Each message has a dedupe key: writing the same event twice leaves one row (`enqueue` inserts
with ON CONFLICT DO NOTHING, which never breaks the caller's transaction). Queuing a message is not audited: the
outbox row is itself the record (what, to whom, when sent, what the receiver answered); the event is audited by its
use case, and a change of contact preferences here is audited.

Whom: a patient by the channel they chose (e-mail, SMS, or none: then nothing), in their language; an urgent flag
to the patient's responsible clinician (their User.email), else to the on-call contact; a missed refill of a pump
with a withdrawal-risk drug (baclofen) escalated to the on-call contact, by e-mail and SMS; a capacity shortfall to
the clinic lead. With no `[notifications]` in the clinic's settings nothing is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from openidds.clinic.settings import ClinicSettings, Contact, Notifications
from openidds.db.models import Appointment, OutboxMessage, Patient, PatientContact, PatientStatus, User
from openidds.notify import Language, choose, days_until, due_reminders, render
from openidds.notify.templates import part
from openidds.service.settings import current_settings

log = logging.getLogger(__name__)
Channel = Literal["email", "sms"]
KEY_MAX = 200  # OutboxMessage.dedupe_key


def enqueue(
    s: Session,
    *,
    key: str,
    event: str,
    channel: Channel,
    address: str,
    subject: str,
    body: str,
    language: str,
    now: datetime,
    patient_id: int | None = None,
    user_id: int | None = None,
) -> int | None:
    """One message in the outbox, pending from `now`, in the caller's transaction: its id, or None when a message
    with this dedupe key is there already (then nothing is written, and the transaction goes on unharmed)."""
    if len(key) > KEY_MAX:
        raise ValueError(f"dedupe key longer than {KEY_MAX} characters: {key[:60]}…")
    values: dict[str, Any] = {
        "dedupe_key": key,
        "event": event,
        "patient_id": patient_id,
        "user_id": user_id,
        "channel": channel,
        "address": address,
        "language": language,
        "subject": subject,
        "body": body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "last_error": "",
        "receipt": "",
    }
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    found = s.execute(stmt.returning(OutboxMessage.id)).scalar()
    return None if found is None else int(found)


# --- what the messages say -----------------------------------------------------------------------------------------
def _visit_values(settings: ClinicSettings, lang: Language, visit: Appointment, now: datetime) -> dict[str, object]:
    """A visit for a patient: the least that works (the clinic, the day, the time, the kind in plain words and the
    numbers to call), nothing clinical."""
    tz = settings.timezone
    return {
        "clinic_name": settings.clinic_name,
        "kind": lang.kind(visit.kind),
        "day": lang.day(visit.starts_at, tz),
        "time": _clock(visit.starts_at, tz),
        "when": lang.when(days_until(visit.starts_at, now, tz)),
        "phone": settings.in_hours.number,
        "hours": settings.in_hours.hours,
        "on_call_phone": settings.on_call.number,
    }


def _clock(at: datetime, tz: str) -> str:
    from openidds import display

    return display.clock(at, tz)


def _patient_values(patient: Patient | None) -> dict[str, object]:
    if patient is None:
        return {"mrn": "?", "patient_name": "(no such patient)"}
    return {"mrn": patient.mrn, "patient_name": f"{patient.given_name} {patient.family_name}"}


def _to_contact(contact: Contact) -> Iterator[tuple[Channel, str]]:
    """A clinic contact's addresses: e-mail and SMS, each when given."""
    if contact.email:
        yield "email", contact.email
    if contact.phone:
        yield "sms", contact.phone


def _patient_address(contact: PatientContact | None) -> tuple[Channel, str] | None:
    """Where a patient's messages go: their chosen channel's address, or None (none chosen, or no address)."""
    if contact is None:
        return None
    if contact.channel == "email" and contact.email:
        return "email", contact.email
    if contact.channel == "sms" and contact.phone:
        return "sms", contact.phone
    return None


def _send(
    s: Session,
    key: str,
    event: str,
    template: str,
    lang: Language,
    values: Mapping[str, object],
    to: tuple[Channel, str],
    now: datetime,
    patient_id: int | None = None,
    user_id: int | None = None,
) -> int:
    """Render `template` and queue it to one address (the SMS text for an SMS); 1 if queued, 0 if already there.
    `key` is the dedupe key: a message to several addresses of one contact adds the channel to it."""
    texts = render(lang, template, values)
    channel, address = to
    body = texts.sms if channel == "sms" else texts.body
    found = enqueue(
        s,
        key=key,
        event=event,
        channel=channel,
        address=address,
        subject=texts.subject,
        body=body,
        language=texts.language,
        now=now,
        patient_id=patient_id,
        user_id=user_id,
    )
    return 0 if found is None else 1


def _notifications(s: Session) -> tuple[ClinicSettings, Notifications] | None:
    settings = current_settings(s)
    return None if settings.notifications is None else (settings, settings.notifications)


# --- the events ----------------------------------------------------------------------------------------------------
def missed_visit(s: Session, appointment: Appointment, now: datetime) -> int:
    """A visit marked missed: the patient's notice (by their channel, if any) and, for a refill of a pump holding a
    withdrawal-risk drug, an escalation to the on-call contact. Call it in the transaction that marks it missed.
    Returns the number of messages queued."""
    found = _notifications(s)
    if found is None:
        return 0
    settings, notes = found
    pid = appointment.patient_id
    queued = 0
    contact = s.get(PatientContact, pid)
    to = _patient_address(contact)
    if contact is not None and to is not None:
        lang = choose(contact.language, notes.languages)
        values = _visit_values(settings, lang, appointment, now)
        key = f"missed-visit:{appointment.id}"
        queued += _send(s, key, "missed-visit", "missed-visit", lang, values, to, now, patient_id=pid)
    status = s.get(PatientStatus, pid)
    if appointment.kind == "refill" and status is not None and status.withdrawal_risk:
        lang = choose(None, notes.languages)
        values = {**_visit_values(settings, lang, appointment, now), **_patient_values(s.get(Patient, pid))}
        key = f"missed-refill-escalation:{appointment.id}"
        event = "missed-refill-escalation"
        for address in _to_contact(notes.on_call):
            queued += _send(s, f"{key}:{address[0]}", event, event, lang, values, address, now, patient_id=pid)
    return queued


def urgent_flag(s: Session, patient_id: int, code: str, message: str, entity: str, now: datetime) -> int:
    """An urgent flag raised: a notice to the patient's responsible clinician (their e-mail), or, when none is set
    or they have no e-mail, to the on-call contact (e-mail and SMS). Call it in the transaction that raises it;
    `entity` names the record ('flag/12', 'follow-up/3') and makes the notice once per flag."""
    found = _notifications(s)
    if found is None:
        return 0
    settings, notes = found
    lang = choose(None, notes.languages)
    values = {
        "clinic_name": settings.clinic_name,
        "code": code,
        "message": message,
        "raised": lang.day(now, settings.timezone) + " " + _clock(now, settings.timezone),
        **_patient_values(s.get(Patient, patient_id)),
    }
    key = f"urgent-flag:{entity}:{code}"
    contact = s.get(PatientContact, patient_id)
    clinician = (
        None if contact is None or contact.responsible_user_id is None else s.get(User, contact.responsible_user_id)
    )
    if clinician is not None and clinician.active and clinician.email:
        to: tuple[Channel, str] = ("email", clinician.email)
        return _send(s, key, "urgent-flag", "urgent-flag", lang, values, to, now, patient_id, clinician.id)
    return sum(
        _send(s, f"{key}:{address[0]}", "urgent-flag", "urgent-flag", lang, values, address, now, patient_id)
        for address in _to_contact(notes.on_call)
    )


def capacity_shortfall(s: Session, plan_id: int, shortfalls: list[dict[str, object]], now: datetime) -> int:
    """A planner run that could not book every refill in time: one notice to the clinic lead (e-mail and SMS),
    listing each patient by MRN and name with their latest safe day. Once per plan."""
    found = _notifications(s)
    if found is None or not shortfalls:
        return 0
    settings, notes = found
    lang = choose(None, notes.languages)
    lines = []
    for item in shortfalls:
        day = item.get("day")
        booked_values = {"day": _calendar(lang, day), "days_late": item.get("days_late", "?")}
        booked = part(lang, "capacity-shortfall", "booked" if day else "unbooked", booked_values)
        risk = part(lang, "capacity-shortfall", "risk", {}) if item.get("withdrawal_risk") else ""
        values = {
            "mrn": item.get("mrn", "?"),
            "patient_name": item.get("name", ""),
            "latest": _calendar(lang, item.get("latest")),
            "booked": booked,
            "risk": risk,
            "reason": item.get("reason", ""),
        }
        lines.append(" ".join(part(lang, "capacity-shortfall", "line", values).split()))
    values = {
        "clinic_name": settings.clinic_name,
        "plan_id": plan_id,
        "count": len(shortfalls),
        "lines": "\n".join(lines),
    }
    key = f"capacity-shortfall:plan/{plan_id}"
    return sum(
        _send(s, f"{key}:{address[0]}", "capacity-shortfall", "capacity-shortfall", lang, values, address, now)
        for address in _to_contact(notes.lead)
    )


def _calendar(lang: Language, value: object) -> str:
    """A date given as ISO text (or a date) as the language writes a day; anything else as it is."""
    if isinstance(value, date):
        return lang.day(value, "UTC")
    try:
        return lang.day(date.fromisoformat(str(value)), "UTC")
    except ValueError:
        return str(value)


def queue_reminders(s: Session, now: datetime) -> int:
    """The visit reminders due at `now` (notify.schedule: 7 and 1 days before each booked or confirmed visit, from
    09:00 clinic time), to each patient by their channel. The dedupe key holds the visit, the days and the visit's
    start: a repeat run adds nothing, and a visit moved to another time gets fresh reminders. Returns how many."""
    found = _notifications(s)
    if found is None or not found[1].reminder_days:
        return 0
    settings, notes = found
    horizon = now + timedelta(days=max(notes.reminder_days) + 2)
    rows = s.execute(
        select(Appointment, PatientContact)
        .join(PatientContact, PatientContact.patient_id == Appointment.patient_id)
        .where(
            Appointment.status.in_(("booked", "confirmed")),
            Appointment.starts_at > now,
            Appointment.starts_at < horizon,
            PatientContact.channel != "none",
        )
        .order_by(Appointment.starts_at, Appointment.id)
    ).all()
    contacts = {visit.id: contact for visit, contact in rows}
    queued = 0
    for due in due_reminders([visit for visit, _ in rows], now, notes.reminder_days, settings.timezone):
        visit, contact = due.visit, contacts[due.visit.id]
        to = _patient_address(contact)
        if to is None:
            continue
        lang = choose(contact.language, notes.languages)
        values = _visit_values(settings, lang, visit, now)
        key = f"reminder:{visit.id}:{due.days}d:{visit.starts_at:%Y%m%dT%H%M}"
        event = f"visit-reminder-{due.days}d"
        queued += _send(s, key, event, "reminder", lang, values, to, now, patient_id=visit.patient_id)
    return queued
