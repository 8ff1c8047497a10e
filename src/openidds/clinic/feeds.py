"""Calendar feeds: the clinic's visits as an iCalendar document (RFC 5545), for a secret, revocable URL.

Pure: events in, VCALENDAR bytes out; no database and no clock (`generated_at` is passed in).

Least detail that works, because a secret URL can leak (forwarded, synced to a personal phone, kept in a proxy's
log): a patient's feed says only "Pump refill at <clinic>" and the clinic's number; the clinic's and clinicians'
feeds say the kind of visit, the MRN and the initials. No feed ever carries a name, a diagnosis, a drug, a dose or a
note (the visit's note can say anything).

Times: DTSTART and DTEND are UTC (`…Z`). An instant in UTC is right on both sides of every clock change whatever
the calendar app's own zone; the app shows it on the reader's clock. (A VTIMEZONE would also work, but the one
icalendar builds from the tz database covers 1970-2038 only, and a wrong rule would move every visit.) The clinic's
zone is given as X-WR-TIMEZONE, a hint some apps use for the calendar's default view.

Updates: each visit keeps one UID (`appointment-{id}@openidds`), and SEQUENCE and LAST-MODIFIED follow the
appointment's version and updated_at, so a calendar app updates the event it has (a moved or cancelled visit)
instead of adding a second one. A cancelled visit stays in the feed as STATUS:CANCELLED, so apps remove it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from icalendar import Calendar, Event

Scope = Literal["clinic", "clinician", "patient"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
PRODID = "-//OpenIDDS//Calendar feed//EN"

# How the care team names a kind of visit (clinic and clinician feeds) and how a patient's feed does.
KIND_TEAM = {
    "refill": "Refill",
    "follow-up": "Follow-up",
    "replacement": "Pump replacement",
    "mri-pre": "MRI check (before)",
    "mri-post": "MRI check (after)",
}
KIND_PATIENT = {
    "refill": "Pump refill",
    "follow-up": "Pump follow-up visit",
    "replacement": "Pump replacement",
    "mri-pre": "Pump check before an MRI",
    "mri-post": "Pump check after an MRI",
}


@dataclass(frozen=True, slots=True)
class Visit:
    """One appointment as a feed needs it, and nothing more."""

    id: int
    kind: str
    starts_at: datetime  # aware; any zone (written in UTC)
    minutes: int
    status: str  # booked, confirmed, attended, missed, cancelled
    version: int
    updated_at: datetime
    mrn: str = ""  # clinic and clinician feeds only
    initials: str = ""


@dataclass(frozen=True, slots=True)
class Clinic:
    name: str
    phone: str  # the in-hours number, as people write it
    phone_hours: str
    timezone: str


def initials(given: str, family: str) -> str:
    """'Jane', 'Doe-Smith' → 'J.D.' (the first letter of each name; nothing when a name is empty)."""
    return "".join(f"{n.strip()[0].upper()}." for n in (given, family) if n.strip())


def uid(appointment_id: int) -> str:
    return f"appointment-{appointment_id}@openidds"


def summary(visit: Visit, scope: Scope, clinic: Clinic) -> str:
    if scope == "patient":
        return f"{KIND_PATIENT.get(visit.kind, 'Pump visit')} at {clinic.name}"
    who = " ".join(p for p in (f"MRN {visit.mrn}" if visit.mrn else "", visit.initials) if p)
    text = f"{KIND_TEAM.get(visit.kind, visit.kind)}: {who}" if who else KIND_TEAM.get(visit.kind, visit.kind)
    return f"{text} (missed)" if visit.status == "missed" else text


def description(visit: Visit, scope: Scope, clinic: Clinic) -> str:
    if scope == "patient":
        return f"{clinic.name}: to change or cancel this visit, call {clinic.phone} ({clinic.phone_hours})."
    return f"{KIND_TEAM.get(visit.kind, visit.kind)}, {visit.minutes} min, {visit.status}."


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: a visit's instant must carry its zone")
    return at.astimezone(UTC)


def calendar(name: str, scope: Scope, clinic: Clinic, visits: Iterable[Visit], generated_at: datetime) -> bytes:
    """The VCALENDAR document: one VEVENT per visit, in UTC, cancelled ones marked STATUS:CANCELLED."""
    if scope not in SCOPES:
        raise ValueError(f"scope: expected one of {', '.join(SCOPES)}, got {scope!r}")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", clinic.timezone)
    stamp = _utc(generated_at)
    for visit in sorted(visits, key=lambda v: (_utc(v.starts_at), v.id)):
        start = _utc(visit.starts_at)
        event = Event()
        event.add("uid", uid(visit.id))
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=visit.minutes))
        event.add("summary", summary(visit, scope, clinic))
        event.add("description", description(visit, scope, clinic))
        event.add("status", "CANCELLED" if visit.status == "cancelled" else "CONFIRMED")
        event.add("sequence", max(visit.version - 1, 0))  # a new appointment is version 1, SEQUENCE 0
        event.add("last-modified", _utc(visit.updated_at))
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return bytes(cal.to_ical())
