"""How a patient is reached (the channel for reminders, the addresses, the language, the responsible clinician), and
the outbox as the care team reads it.

A patient sets their own preferences; a nurse or physician sets any patient's (`set-contact`). An e-mail channel
needs an e-mail address, an SMS channel a phone number; the language is one the clinic sends in. Every change is
audited with before and after. The outbox is read clinic-wide by an admin, physician or nurse (`read-outbox`); an
admin sees no clinical record, so the admin's view leaves out each message's subject and body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openidds import display
from openidds.clinic.settings import WEEKDAYS, Phone, check_email
from openidds.db.models import Appointment, OutboxMessage, Patient, PatientContact, User
from openidds.errors import InputError
from openidds.notify.templates import available
from openidds.service import audit
from openidds.service.access import actor_name, require
from openidds.service.locks import lock_patient
from openidds.service.pathway import read_patient
from openidds.service.settings import current_settings

ContactChannel = Literal["email", "sms", "none"]
CHANNELS: tuple[ContactChannel, ...] = ("email", "sms", "none")
STATUSES = ("pending", "sending", "sent", "failed")
CLINICIANS = ("physician", "nurse")
OUTBOX_LIMIT = 500
PHONE_MAX = 40  # PatientContact.phone


@dataclass(frozen=True, slots=True)
class ContactChange:
    channel: str
    email: str | None = None
    phone: str | None = None
    language: str | None = None  # None: the clinic's default
    responsible_user_id: int | None = None


def languages(s: Session) -> tuple[str, ...]:
    """The languages the clinic sends in (the first is its default); with no notifications set, those shipped."""
    notes = current_settings(s).notifications
    return notes.languages if notes is not None else available()


def contact_json(s: Session, patient_id: int) -> dict[str, Any]:
    row = s.get(PatientContact, patient_id)
    if row is None:
        return {
            "patient_id": patient_id,
            "channel": "none",
            "email": None,
            "phone": None,
            "language": languages(s)[0],
            "responsible_user_id": None,
            "updated_at": None,
        }
    return {
        "patient_id": row.patient_id,
        "channel": row.channel,
        "email": row.email,
        "phone": row.phone,
        "language": row.language,
        "responsible_user_id": row.responsible_user_id,
        "updated_at": row.updated_at.isoformat(),
    }


def read_contact(s: Session, actor: User, patient_id: int) -> dict[str, Any]:
    """A patient's contact preferences, for whoever may read the patient (a patient: their own)."""
    read_patient(s, actor, patient_id)
    return contact_json(s, patient_id)


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return check_email(value)
    except ValueError as exc:
        raise InputError("email", str(exc)) from None


def _phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value.strip()) > PHONE_MAX:
        raise InputError("phone", f"at most {PHONE_MAX} characters")
    try:
        return Phone(number=value, hours="-").number
    except ValidationError as exc:
        raise InputError("phone", str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


def _responsible(s: Session, actor: User, wanted: int | None, current: int | None) -> int | None:
    if actor.role == "patient":  # the care team chooses who looks after a patient
        if wanted not in (None, current):
            raise InputError("responsible_user_id", "is chosen by the care team, not by the patient")
        return current
    if wanted is None:
        return None
    user = s.get(User, wanted)
    if user is None or not user.active or user.role not in CLINICIANS:
        raise InputError("responsible_user_id", f"expected an active physician's or nurse's user id, got {wanted}")
    return user.id


def set_contact(s: Session, actor: User, patient_id: int, change: ContactChange, now: datetime) -> dict[str, Any]:
    """Replace a patient's contact preferences (validated, audited). The channel's address is required: e-mail
    needs `email`, SMS needs `phone`. The addresses are kept whatever the channel (switching back is one click)."""
    require(actor, "set-contact", patient_id=patient_id)
    patient: Patient = lock_patient(s, patient_id)
    if change.channel not in CHANNELS:
        raise InputError("channel", f"expected one of {', '.join(CHANNELS)}, got '{change.channel}'")
    email, phone = _email(change.email), _phone(change.phone)
    if change.channel == "email" and email is None:
        raise InputError("email", "is required to be reminded by e-mail")
    if change.channel == "sms" and phone is None:
        raise InputError("phone", "is required to be reminded by SMS")
    offered = languages(s)
    language = change.language or offered[0]
    if language not in offered:
        raise InputError("language", f"expected one of the clinic's languages ({', '.join(offered)}), got '{language}'")
    row = s.get(PatientContact, patient.id)
    before = None if row is None else contact_json(s, patient.id)
    responsible = _responsible(s, actor, change.responsible_user_id, None if row is None else row.responsible_user_id)
    if row is None:
        row = PatientContact(patient_id=patient.id, updated_at=now)
        s.add(row)
    row.channel, row.email, row.phone, row.language = change.channel, email, phone, language
    row.responsible_user_id, row.updated_at = responsible, now
    s.flush()
    after = contact_json(s, patient.id)
    audit.record(s, actor_name(actor), "set-contact", f"patient/{patient.id}/contact", now, before, after)
    return after


# --- the outbox ----------------------------------------------------------------------------------------------------
def list_outbox(
    s: Session, actor: User, status: str | None = None, limit: int = 100, patient_id: int | None = None
) -> list[OutboxMessage]:
    """The newest messages first (`status`: only those; `patient_id`: one patient's)."""
    require(actor, "read-outbox")
    if status is not None and status not in STATUSES:
        raise InputError("status", f"expected one of {', '.join(STATUSES)}, got '{status}'")
    if not 1 <= limit <= OUTBOX_LIMIT:
        raise InputError("limit", f"expected 1 to {OUTBOX_LIMIT}, got {limit}")
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if patient_id is not None:
        query = query.where(OutboxMessage.patient_id == patient_id)
    return list(s.scalars(query))


def outbox_counts(s: Session, actor: User) -> dict[str, int]:
    require(actor, "read-outbox")
    rows = s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    found = {str(status): int(count) for status, count in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def shows_bodies(actor: User) -> bool:
    """Whether a reader of the outbox sees what messages say: not the admin (no clinical record)."""
    return actor.role != "admin"


def outbox_json(m: OutboxMessage, bodies: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id,
        "event": m.event,
        "patient_id": m.patient_id,
        "user_id": m.user_id,
        "channel": m.channel,
        "address": m.address,
        "language": m.language,
        "status": m.status,
        "attempts": m.attempts,
        "next_attempt_at": m.next_attempt_at.isoformat(),
        "created_at": m.created_at.isoformat(),
        "sent_at": None if m.sent_at is None else m.sent_at.isoformat(),
        "last_error": m.last_error,
        "receipt": m.receipt,
    }
    if bodies:
        out["subject"], out["body"] = m.subject, m.body
    return out


# --- the demo ------------------------------------------------------------------------------------------------------
DEMO_DOMAIN = "patients.example.org"  # reserved for documentation (RFC 2606): no real mailbox


def demo_contacts(s: Session, now: datetime) -> int:
    """The demo clinic's patients reminded by e-mail at fictitious addresses (mrn@patients.example.org), each
    looked after by the demo's first physician, so the demo's mail catcher shows reminders. Only patients with no
    preferences yet; not audited (demo seeding). Returns how many were set."""
    physician = s.scalars(select(User).where(User.role == "physician", User.active).order_by(User.id)).first()
    taken = set(s.scalars(select(PatientContact.patient_id)))
    count = 0
    for patient in s.scalars(select(Patient).order_by(Patient.id)):
        if patient.id in taken:
            continue
        local = "".join(c for c in patient.mrn.lower() if c.isalnum() or c in "-.") or f"patient{patient.id}"
        s.add(
            PatientContact(
                patient_id=patient.id,
                channel="email",
                email=f"{local}@{DEMO_DOMAIN}",
                language=languages(s)[0],
                responsible_user_id=None if physician is None else physician.id,
                updated_at=now - timedelta(seconds=1),
            )
        )
        count += 1
    s.flush()
    return count


def demo_visit(s: Session, now: datetime) -> Appointment | None:
    """When the demo has no visit booked in the coming week, one refill visit for its first implanted patient, on
    the clinic's first open day from two days ahead, at 10:00 clinic time: its 7-day reminder is due at once
    (notify.schedule), so a new user sees one arrive in the demo's mailbox. Booked as a row (demo seeding, not
    audited). None when a visit is booked already (or there is no implanted patient)."""
    week = now + timedelta(days=7)
    booked = select(Appointment.id).where(
        Appointment.status.in_(("booked", "confirmed")), Appointment.starts_at > now, Appointment.starts_at < week
    )
    if s.scalars(booked.limit(1)).first() is not None:
        return None
    patient = s.scalars(select(Patient).where(Patient.stage == "implanted").order_by(Patient.id).limit(1)).first()
    staff = {u.role: u for u in s.scalars(select(User).where(User.role.in_(CLINICIANS), User.active).order_by(User.id))}
    nurse = staff.get("nurse") or staff.get("physician")
    if patient is None or nurse is None:
        return None
    settings = current_settings(s)
    tz = display.zone(settings.timezone)
    local_day = now.astimezone(tz).date() + timedelta(days=2)
    plan = settings.scheduling
    if plan is not None:  # an open day, not one of the clinic's closures (at most a week on)
        closed = {c.day for c in plan.closures}
        for _ in range(7):
            if WEEKDAYS[local_day.weekday()] in plan.open_days and local_day not in closed:
                break
            local_day += timedelta(days=1)
    starts = datetime.combine(local_day, time(10, 0), tzinfo=tz).astimezone(UTC)
    visit = Appointment(
        patient_id=patient.id,
        kind="refill",
        starts_at=starts,
        minutes=30,
        status="booked",
        nurse_id=nurse.id,
        note="demo: booked so that its reminder shows in the demo mailbox",
        created_by=nurse.id,
        created_at=now,
        updated_at=now,
    )
    s.add(visit)
    s.flush()
    return visit
