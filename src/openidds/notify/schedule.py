"""When a notification goes out: the retry back-off, and which visit reminders are due. Pure: `now` is given.

Back-off: a delivery that fails is tried again 1 min, 5 min, 30 min, 2 h and 6 h later; the sixth failure is final
(`failed`, shown on the Outbox page with its last error). About 8.6 hours of retries: long enough to ride out a mail
server's restart or a gateway's outage, short enough that a reminder is not delivered after its visit.

Reminders: a visit booked (or confirmed) gets one reminder for each of the clinic's reminder days (7 and 1 by
default). The reminder `d` days before is due from 09:00 on the clinic's clock on the calendar day `d` days before
the visit's day (a change of clock in between moves nothing: it is the wall clock's 09:00), until the visit starts.
09:00 because a patient reads it in the morning and can still call the clinic that day. A reminder 0 days before a
visit that starts before 09:00 is due from midnight instead. When several reminders' times have passed (a visit
booked 3 days ahead, or a worker that was stopped for a week), only the latest is due: a patient never gets the
7-day reminder and the 1-day one in the same minute. Nothing for a visit cancelled, attended, missed or past.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final, Generic, Protocol, TypeVar

from openidds import display

BACKOFF: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
MAX_ATTEMPTS: Final = len(BACKOFF) + 1  # the first try and one per step of the back-off
REMINDER_AT: Final = time(9, 0)  # the wall-clock time a reminder is due from
OPEN_STATUSES: Final = ("booked", "confirmed")


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """After the `attempts`-th failed delivery (1 for the first), when to try again; None: it has failed for good."""
    if attempts < 1:
        raise ValueError(f"attempts counts failed deliveries from 1, got {attempts}")
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + BACKOFF[attempts - 1]


class Visit(Protocol):
    """What a reminder needs of a booked visit (db.models.Appointment has it)."""

    @property
    def starts_at(self) -> datetime: ...

    @property
    def status(self) -> str: ...


V = TypeVar("V", bound=Visit)


@dataclass(frozen=True, slots=True)
class Due(Generic[V]):
    visit: V
    days: int  # the reminder: this many days before the visit's day
    due_from: datetime  # UTC


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def due_from(starts_at: datetime, days: int, tz: str) -> datetime:
    """The instant (UTC) from which the reminder `days` before the visit is due: 09:00 on the clinic's clock on
    that day (midnight, for a same-day reminder of a visit that starts before 09:00)."""
    where = display.zone(tz)
    start = _utc(starts_at)
    day = start.astimezone(where).date() - timedelta(days=days)
    at = datetime.combine(day, REMINDER_AT, tzinfo=where).astimezone(UTC)
    if at >= start:
        at = datetime.combine(day, time(0, 0), tzinfo=where).astimezone(UTC)
    return at


def due_reminders(visits: Iterable[V], now: datetime, reminder_days: Iterable[int], tz: str) -> list[Due[V]]:
    """The reminders due at `now`: for each open visit still to come, the latest reminder whose time has come."""
    days = sorted(set(reminder_days))  # the nearest the visit first
    moment = _utc(now)
    out: list[Due[V]] = []
    for visit in visits:
        if visit.status not in OPEN_STATUSES or _utc(visit.starts_at) <= moment:
            continue
        for d in days:
            start = due_from(visit.starts_at, d, tz)
            if start <= moment:
                out.append(Due(visit, d, start))
                break
    return out


def days_until(starts_at: datetime, now: datetime, tz: str) -> int:
    """Calendar days from today to the visit's day, on the clinic's clock (0: today, 1: tomorrow)."""
    where = display.zone(tz)
    return (_utc(starts_at).astimezone(where).date() - _utc(now).astimezone(where).date()).days
