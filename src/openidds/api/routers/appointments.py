"""Appointments, the clinic's calendar, a patient's refill window and the clinic's settings."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from openidds.api.answers import Day, Instant, Out, UserId
from openidds.api.deps import Actor, Now, Once, OnceOnly, Tx
from openidds.api.routers.common import READS, WRITES, Json
from openidds.api.schemas import Code, Count, Id, In, Label, Level, Name, Note, RecordId, Text, Username, YesNo
from openidds.api.schemas import Instant as InstantIn
from openidds.clinic.appointments import Status
from openidds.clinic.settings import VisitKind
from openidds.db.models import PatientStatus
from openidds.service import appointments as service
from openidds.service import pathway
from openidds.service.access import require
from openidds.service.appointments import BookAppointment, ChangeAppointment, appointment_json
from openidds.service.settings import current_settings, save_settings, settings_json

router = APIRouter(prefix="/api/v1")


# --- what it takes ----------------------------------------------------------------------------------------------------
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Skill = Literal["compounded", "ziconotide", "home-visit"]


class BookIn(In):
    """A visit to book. A refill outside the patient's refill window, or over the nurse's capacity, needs
    `override_reason`; a closed day, a time outside the clinic's hours, a nurse who does not work that day or lacks
    a skill the visit needs is refused."""

    kind: VisitKind
    starts_at: InstantIn = Field(description="when the visit starts")
    minutes: Count | None = Field(default=None, ge=5, le=600, description="default: the clinic's length for the kind")
    nurse: Username | None = Field(default=None, description="one of the clinic's nurses (default: the first free)")
    home_visit: YesNo = False
    note: Note = ""
    override_reason: Text = ""

    def to_command(self) -> BookAppointment:
        return BookAppointment(
            self.kind, self.starts_at, self.minutes, self.nurse, self.home_visit, self.note, self.override_reason
        )


class ChangeIn(In):
    """Attended (with the refill or follow-up recorded at the visit), or why it was cancelled or missed."""

    reason: Text = ""
    refill_id: RecordId | None = None
    follow_up_id: RecordId | None = None


class PhoneIn(In):
    number: Label
    hours: Name


class ContactIn(In):
    name: Name
    email: Name | None = None
    phone: Label | None = None


class CitedIn(In):
    """A number with its source (a key of `sources`), its basis and whether it is confirmed."""

    value: Label = Field(examples=["4 days", "25 %"])
    source: Code
    basis: Literal["label", "consensus", "literature", "derived", "policy"]
    unconfirmed: YesNo = False
    note: Text = ""


class NurseIn(In):
    username: Username
    visits_per_day: Count = Field(ge=1, le=60)
    days: list[Weekday] = Field(default=["monday", "tuesday", "wednesday", "thursday", "friday"], max_length=7)
    skills: list[Skill] = Field(default=[], max_length=3)


class ClosureIn(In):
    day: date
    why: Name


class MarginsIn(In):
    default: CitedIn
    drugs: dict[Code, CitedIn] = Field(default={}, max_length=20)


class SchedulingIn(In):
    country: Level
    subdivision: Level | None = None
    open_days: list[Weekday] = Field(max_length=7)
    opens: Label = Field(examples=["08:00"], description="the clinic's wall time, HH:MM")
    closes: Label = Field(examples=["17:00"])
    closures: list[ClosureIn] = Field(default=[], max_length=366)
    visit_minutes: dict[VisitKind, Count]
    nurses: list[NurseIn] = Field(max_length=200)
    margins: MarginsIn
    max_waste: CitedIn
    source: Code


class NotificationsIn(In):
    reminder_days: list[Count] = Field(default=[7, 1], max_length=10)
    languages: list[Level] = Field(default=["en"], max_length=10)
    sender: Name
    lead: ContactIn
    on_call: ContactIn


class SourceIn(In):
    title: Text
    url: Text


class SettingsDocumentIn(In):
    """The editable parts; each one given replaces the part in force, the others stay."""

    clinic_name: Name | None = None
    in_hours: PhoneIn | None = None
    on_call: PhoneIn | None = None
    scheduling: SchedulingIn | None = None
    notifications: NotificationsIn | None = None
    sources: dict[Code, SourceIn] | None = Field(default=None, max_length=200)


class SettingsIn(In):
    """A new version of the editable settings: see GET /clinic/settings for what is in force."""

    document: SettingsDocumentIn
    reason: Text

    def parts(self) -> dict[str, Any]:
        return self.document.model_dump(mode="json", exclude_unset=True)


# --- what it answers --------------------------------------------------------------------------------------------------
class AppointmentOut(Out):
    id: int
    patient_id: int
    kind: VisitKind
    kind_text: str
    starts_at: Instant
    minutes: int
    status: Status
    nurse_id: UserId | None
    skills: list[str] = Field(description="what the visit needs of the nurse")
    note: str
    window_override: str = Field(description="booked outside the refill window or over capacity: what and why")
    refill_id: int | None
    follow_up_id: int | None
    plan_id: int | None = Field(description="booked from this planner proposal")
    status_reason: str
    created_by: UserId
    created_at: Instant
    updated_at: Instant


class CalendarEntryOut(AppointmentOut):
    mrn: str
    name: str


class PhoneOut(Out):
    number: str
    hours: str


class ClinicSettingsOut(Out):
    """The settings in force: the newest an administrator saved, else the settings file (`file`)."""

    demo: bool = Field(description="fictitious values (the pages say so)")
    timezone: str = Field(description="the clinic's zone (the settings file's; not edited here)")
    clinic_name: str
    in_hours: PhoneOut
    on_call: PhoneOut
    scheduling: dict[str, Any] | None = Field(description="hours, holidays, closures, nurses, margins, waste share")
    notifications: dict[str, Any] | None = Field(description="reminder days, languages, sender, lead, on-call")
    sources: dict[str, Any]
    file: dict[str, str] = Field(description="the settings file the clinic started from: name, version, sha256")


class ReasonOut(Out):
    code: str
    message: str
    citation: dict[str, Any] | None = None


class WindowOut(Out):
    patient_id: int
    earliest: Day | None = Field(description="earliest useful day (the clinic's day)")
    latest: Day | None = Field(description="latest safe day")
    overdue: bool
    words: str
    limit: str | None = Field(description="what sets the latest safe day")
    reasons: list[ReasonOut]
    missed_on: Day | None = Field(default=None, description="the last refill visit was missed that day (none since)")


# --- routes -----------------------------------------------------------------------------------------------------------
@router.get("/appointments", tags=["appointments"], response_model=list[CalendarEntryOut], responses=READS)
def clinic_calendar(
    s: Tx,
    at: Now,
    actor: Actor,
    first: Annotated[
        date | None, Query(alias="from", description="the first day (default: today, the clinic's)")
    ] = None,
    days: Annotated[int, Query(ge=1, le=62)] = 7,
    nurse: Annotated[Username | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
) -> list[Json]:
    """The clinic's visits from `from` for `days` days, with each patient's MRN and name."""
    found = service.calendar_between(s, actor, first, days, nurse, status, now=at)
    return [{**appointment_json(a), "mrn": p.mrn, "name": f"{p.family_name}, {p.given_name}"} for a, p in found]


@router.get(
    "/patients/{patient_id}/appointments", tags=["appointments"], response_model=list[AppointmentOut], responses=READS
)
def patient_appointments(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    return [appointment_json(a) for a in service.patient_appointments(s, actor, patient_id)]


@router.post(
    "/patients/{patient_id}/appointments",
    status_code=201,
    tags=["appointments"],
    response_model=AppointmentOut,
    responses=WRITES,
)
def book(patient_id: Id, body: BookIn, once: OnceOnly) -> Json:
    """Book a visit (refused outside the refill window unless `override_reason` says why)."""
    return once.run(
        body, 201, lambda: appointment_json(service.book(once.s, once.actor, patient_id, body.to_command(), once.at))
    )


def _change(patient_id: int, appointment_id: int, body: ChangeIn | None, status: Status, once: Once) -> Json:
    cmd = ChangeAppointment(
        status,
        "" if body is None else body.reason,
        None if body is None else body.refill_id,
        None if body is None else body.follow_up_id,
    )
    answer: Json = once.run(
        body,
        200,
        lambda: appointment_json(service.change(once.s, once.actor, patient_id, appointment_id, cmd, once.at)),
    )
    return answer


@router.post(
    "/patients/{patient_id}/appointments/{appointment_id}/confirm",
    tags=["appointments"],
    response_model=AppointmentOut,
    responses=WRITES,
)
def confirm(patient_id: Id, appointment_id: Id, once: OnceOnly) -> Json:
    """The patient said they will come."""
    return _change(patient_id, appointment_id, None, "confirmed", once)


@router.post(
    "/patients/{patient_id}/appointments/{appointment_id}/attend",
    tags=["appointments"],
    response_model=AppointmentOut,
    responses=WRITES,
)
def attend(patient_id: Id, appointment_id: Id, body: ChangeIn, once: OnceOnly) -> Json:
    """The visit happened: link the refill or follow-up recorded at it."""
    return _change(patient_id, appointment_id, body, "attended", once)


@router.post(
    "/patients/{patient_id}/appointments/{appointment_id}/miss",
    tags=["appointments"],
    response_model=AppointmentOut,
    responses=WRITES,
)
def miss(patient_id: Id, appointment_id: Id, body: ChangeIn, once: OnceOnly) -> Json:
    """The patient did not come (`reason`): the patient is told, a baclofen refill is escalated to on call."""
    return _change(patient_id, appointment_id, body, "missed", once)


@router.post(
    "/patients/{patient_id}/appointments/{appointment_id}/cancel",
    tags=["appointments"],
    response_model=AppointmentOut,
    responses=WRITES,
)
def cancel(patient_id: Id, appointment_id: Id, body: ChangeIn, once: OnceOnly) -> Json:
    return _change(patient_id, appointment_id, body, "cancelled", once)


@router.get("/patients/{patient_id}/refill-window", tags=["appointments"], response_model=WindowOut, responses=READS)
def refill_window(patient_id: Id, s: Tx, actor: Actor) -> Json:
    """Book the next refill between `earliest` and `latest` (the clinic's days), with the reasons."""
    pathway.read_patient(s, actor, patient_id)
    status = s.get(PatientStatus, patient_id)
    window = None if status is None else status.refill_window
    if window is None:
        words = "no refill window (no filled pump, or the clinic has no scheduling settings)"
        return {"patient_id": patient_id, "earliest": None, "latest": None, "overdue": False, "words": words,
                "limit": None, "reasons": []}  # fmt: skip
    return {"patient_id": patient_id, **window}


@router.get("/clinic/settings", tags=["clinic"], response_model=ClinicSettingsOut, responses=READS)
def read_settings(s: Tx, actor: Actor) -> Json:
    """The settings in force: hours, holidays, nurses, margins, contacts (the time zone is the settings file's)."""
    if actor.role == "patient":
        require(actor, "read-dashboard")  # refuses, in the matrix's words
    return settings_json(current_settings(s))


@router.put("/clinic/settings", tags=["clinic"], response_model=ClinicSettingsOut, responses=WRITES)
def write_settings(body: SettingsIn, once: OnceOnly) -> Json:
    """Save a new version of the settings (an administrator), with why; audited with what changed."""
    return once.run(
        body, 200, lambda: settings_json(save_settings(once.s, once.actor, body.parts(), body.reason, once.at))
    )
