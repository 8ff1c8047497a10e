"""Appointments: what a visit may become, and whether a booking may stand (each decision with its reasons).

A visit is booked, then confirmed (the patient said they will come), then attended (linked to the refill or
follow-up recorded), or missed, or cancelled; attended and cancelled are final (a new time is a new booking), and
a missed visit may still be corrected to attended (its refill was recorded after the day was closed).

A booking is refused outright when the clinic is closed that day, the time is outside its hours, the
nurse does not work that day or lacks a skill the visit needs, or the time has passed. It is refused unless a reason
is given (recorded, shown) when a refill falls outside the patient's refill window (before the earliest useful day:
drug thrown away; after the latest safe day: the reservoir may reach its alarm level at the worst case) or the
nurse's day is full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal, get_args

from openidds import display
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.citations import Reason
from openidds.clinic.settings import Nurse, VisitKind
from openidds.clinic.window import RefillWindow

Status = Literal["booked", "confirmed", "attended", "missed", "cancelled"]
STATUSES: tuple[Status, ...] = get_args(Status)
OPEN: tuple[Status, ...] = ("booked", "confirmed")  # still to happen
NEXT: Mapping[Status, frozenset[Status]] = MappingProxyType(
    {
        "booked": frozenset({"confirmed", "attended", "missed", "cancelled"}),
        "confirmed": frozenset({"attended", "missed", "cancelled"}),
        "attended": frozenset(),
        "missed": frozenset({"attended"}),  # a correction: the visit was recorded after its day was closed
        "cancelled": frozenset(),
    }
)
KIND_WORDS: Mapping[VisitKind, str] = MappingProxyType(
    {
        "refill": "refill visit",
        "follow-up": "follow-up visit",
        "replacement": "pump replacement surgery",
        "mri-pre": "pump check before an MRI",
        "mri-post": "pump check after an MRI",
    }
)


def may_become(current: str, new: Status) -> tuple[bool, str]:
    """May an appointment in `current` become `new`? With the reason in words."""
    allowed = NEXT.get(current, frozenset())  # type: ignore[call-overload]
    if new in allowed:
        return True, f"{current} → {new}"
    if not allowed:
        return False, f"the appointment is already {current}: book a new one instead"
    return False, f"a {current} appointment cannot become {new} (it can become {', '.join(sorted(allowed))})"


@dataclass(frozen=True, slots=True)
class Booking:
    kind: VisitKind
    start: datetime  # in the clinic's zone (aware)
    minutes: int
    nurse: Nurse | None  # None: not given to a nurse yet (surgery, an MRI check)
    needs: frozenset[str]  # skills the visit needs
    nurse_booked: int  # visits the nurse already has that day (not counting this one)
    window: RefillWindow | None  # the patient's refill window (refills)
    now: datetime  # aware
    nurse_busy: tuple[tuple[datetime, datetime], ...] = ()  # the nurse's other open visits that day (start, end)
    patient_busy: tuple[tuple[datetime, datetime], ...] = ()  # the patient's other open visits that day
    empty_at: datetime | None = None  # the reservoir projected empty (worst case), aware


@dataclass(frozen=True, slots=True)
class BookingDecision:
    refused: tuple[Reason, ...]  # never allowed
    needs_reason: tuple[Reason, ...]  # allowed with a reason, recorded

    @property
    def clear(self) -> bool:
        return not self.refused and not self.needs_reason


def check_booking(booking: Booking, calendar: ClinicCalendar) -> BookingDecision:
    refused: list[Reason] = []
    needs: list[Reason] = []
    day = booking.start.date()
    end = booking.start + timedelta(minutes=booking.minutes)
    closed = calendar.closed_why(day)
    hours = calendar.scheduling
    if booking.start <= booking.now:
        refused.append(Reason("booking.past", f"{display.calendar_day(day)} {booking.start:%H:%M} has passed"))
    if closed is not None:
        refused.append(Reason("booking.closed", f"the clinic is closed on {display.calendar_day(day)}: {closed}"))
    elif booking.start.time() < hours.opens or end.time() > hours.closes or end.date() != day:
        refused.append(
            Reason(
                "booking.hours",
                f"{booking.start:%H:%M}–{end:%H:%M} is outside the clinic's hours "
                f"({hours.opens:%H:%M}–{hours.closes:%H:%M})",
            )
        )
    for begin, finish in booking.patient_busy:
        if begin < end and booking.start < finish:
            refused.append(
                Reason("booking.patient-overlap", f"the patient already has a visit {begin:%H:%M}–{finish:%H:%M}")
            )
            break
    nurse = booking.nurse
    if nurse is not None:
        if closed is None and nurse not in calendar.nurses_on(day):
            refused.append(Reason("booking.nurse-day", f"{nurse.username} does not see patients on that day"))
        missing = sorted(booking.needs - set(nurse.skills))
        if missing:
            refused.append(
                Reason(
                    "booking.skill", f"{nurse.username} is not listed for {', '.join(missing)}: choose a nurse who is"
                )
            )
        for begin, finish in booking.nurse_busy:
            if begin < end and booking.start < finish:
                refused.append(
                    Reason(
                        "booking.overlap",
                        f"{nurse.username} already has a visit {begin:%H:%M}–{finish:%H:%M}: choose another time",
                    )
                )
                break
        if booking.nurse_booked >= nurse.visits_per_day:
            needs.append(
                Reason(
                    "booking.capacity",
                    f"{nurse.username} already has {booking.nurse_booked} visits that day "
                    f"(capacity {nurse.visits_per_day})",
                )
            )
    window = booking.window
    if booking.kind == "refill" and booking.empty_at is not None and booking.start >= booking.empty_at:
        needs.append(
            Reason(
                "booking.after-empty",
                f"the pump is projected EMPTY on {display.calendar_day(booking.empty_at.date())} "
                f"{booking.empty_at:%H:%M} (every allowed bolus taken): the patient would be without the drug",
            )
        )
    if booking.kind == "refill" and window is not None:
        if window.overdue:
            if day > window.earliest:
                needs.append(
                    Reason(
                        "booking.overdue",
                        f"the latest safe day ({display.calendar_day(window.latest)}) has passed: refill on the "
                        f"first open day ({display.calendar_day(window.earliest)})",
                    )
                )
        elif day > window.latest:
            needs.append(
                Reason(
                    "booking.after-latest",
                    f"after the latest safe day ({display.calendar_day(window.latest)}): the reservoir may reach its "
                    f"alarm level first at the worst case ({window.limit})",
                )
            )
        elif day < window.earliest:
            needs.append(
                Reason(
                    "booking.before-earliest",
                    f"before the earliest useful day ({display.calendar_day(window.earliest)}"
                    f"{'; ' + window.limit if window.limit.startswith('the refill cycle') else ''}): more drug is "
                    "thrown away than the clinic accepts",
                )
            )
    return BookingDecision(tuple(refused), tuple(needs))
