"""The demo clinic's refill operations: how its patients with a login are reached, a missed baclofen refill visit
(the patient told, on call escalated), then, at the seeding instant, a planned month booked from the planner's
proposal and the reminders it makes due. Seeded through the use cases themselves (checked and audited), in time
order with the rest of the demo (service.demo runs this story beside the patients' own)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from openidds.clinic.calendar import ClinicCalendar
from openidds.db.models import Patient
from openidds.service.appointments import BookAppointment, ChangeAppointment, book, change
from openidds.service.demo_roster import GARCIA, LINDQVIST, OKAFOR, PATIENT_LOGINS
from openidds.service.settings import current_settings

if TYPE_CHECKING:
    from openidds.service.demo import Demo

MISSED_MRN = "DEMO-0026"  # baclofen, refill overdue: the visit booked for it was missed
CONTACTS = {  # the patients with a login: how each chose to be reminded (fictitious addresses and numbers)
    "DEMO-0014": ("email", "t.hale@example.org", None, "en"),
    "DEMO-0015": ("sms", None, "+1 555 555 0142", "en"),
    "DEMO-0027": ("email", "r.silva@example.org", None, "es"),
}
STAFF_EMAIL = {OKAFOR: "a.okafor@example.org", LINDQVIST: "e.lindqvist@example.org", GARCIA: "r.garcia@example.org"}
PLAN_WEEKS = 4


def operations_story(d: Demo) -> Iterator[datetime]:
    """Contacts two weeks ago; a refill visit for the baclofen patient booked a week ago for a clinic day a few days
    ago, and missed that evening."""
    settings = current_settings(d.s)
    scheduling = settings.scheduling
    if scheduling is None or settings.notifications is None:
        return
    zone = ZoneInfo(settings.timezone)
    at = d.day(14, 30)
    yield at
    for login, email in STAFF_EMAIL.items():
        d.user(login).email = email  # where urgent notices reach them (set by the administrator)
    _contacts(d, at)
    calendar = ClinicCalendar(scheduling)
    visit_day = calendar.open_on_or_before((d.now - timedelta(days=3)).astimezone(zone).date())
    at = d.day(7, 45)
    yield at
    patient = d.s.scalars(select(Patient).where(Patient.mrn == MISSED_MRN)).first()
    if patient is None:
        return
    start = datetime.combine(visit_day, time(10, 30), zone)
    cmd = BookAppointment(
        "refill", start, nurse=GARCIA.username, override_reason="the first day the patient could come (transport)"
    )
    visit = book(d.s, d.user(GARCIA), patient.id, cmd, at)
    evening = datetime.combine(visit_day, time(17, 30), zone)
    yield evening
    reason = "did not come; no answer on the phone"
    change(d.s, d.user(GARCIA), patient.id, visit.id, ChangeAppointment("missed", reason), evening)


def _contacts(d: Demo, at: datetime) -> None:
    from openidds.service.contacts import ContactChange, set_contact

    okafor = d.user(OKAFOR).id
    for login in PATIENT_LOGINS.values():
        assert login.patient_mrn is not None
        channel, email, phone, language = CONTACTS[login.patient_mrn]
        patient = d.s.scalars(select(Patient).where(Patient.mrn == login.patient_mrn)).first()
        if patient is None:
            continue
        wish = ContactChange(channel, email, phone, language, okafor)
        set_contact(d.s, d.user(GARCIA), patient.id, wish, at)


def plan_the_month(d: Demo) -> None:
    """At the seeding instant: the planner's proposal for the next four weeks, booked whole by the nurse, and the
    reminders that makes due (the worker sends them)."""
    from openidds.service import notify, planning

    settings = current_settings(d.s)
    if settings.scheduling is None:
        return
    today = d.now.astimezone(ZoneInfo(settings.timezone)).date()
    nurse = d.user(GARCIA)
    # A follow-up for the patient who is reminded by e-mail, three clinic days ahead: its reminder is due now
    calendar = ClinicCalendar(settings.scheduling)
    day = today
    for _ in range(3):
        day = calendar.open_on_or_after(day + timedelta(days=1))
    hale = d.s.scalars(select(Patient).where(Patient.mrn == "DEMO-0014")).first()
    if hale is not None:
        start = datetime.combine(day, time(11, 0), ZoneInfo(settings.timezone))
        book(d.s, nurse, hale.id, BookAppointment("follow-up", start, nurse=GARCIA.username), d.now)
    proposal = planning.propose(d.s, nurse, today, PLAN_WEEKS, d.now, workers=1)  # the same clinic every time
    planning.accept(d.s, nurse, proposal.id, None, d.now)
    notify.queue_reminders(d.s, d.now)
