"""The refill window: the clinic days between which a patient's next refill is booked, with its reasons.

*Latest safe day*: the earliest of
  - the low-reservoir alarm level reached at the top of the pump's accuracy band, with every allowed patient bolus
    (the pump's own alarm is computed from the programmed rate, not measured: a pump that over-infuses empties
    with no alarm, Medtronic FA596), counted from the lowest residual the band allows today;
  - the end of the fill's stability in the pump;
  - the solution's expiry or beyond-use date;
  - the date the pump's replacement is planned by;
less the booking margin of the drugs in the pump (the largest of theirs: baclofen's is larger), then moved back to
the last day the clinic is open.

*Earliest useful day*: the first clinic day from which refilling throws away at most the clinic's waste share of the
last fill more than refilling at the latest safe day would (the residual expected at the programmed rate, no
boluses: the most that may be left). A refill withdraws the residual and throws it away; when stability or a date
comes before the reservoir empties, some is thrown away whenever the refill is, and only the extra counts. The
service works out that instant from the twin (service.window); this module turns it into a clinic day.

When the earliest useful day is after the latest safe day, safety wins: the window is the latest safe day alone, and
the reasons say how much will be wasted. When the latest safe day is already past, the window is today (or the next
open day) and the patient is `overdue`.

Pure: instants are integer microseconds UTC, days are the clinic's own (its zone), `today` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openidds import display
from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.citations import Citation, Reason
from openidds.errors import InputError
from openidds.programs.clock import from_us


@dataclass(frozen=True, slots=True)
class WindowInputs:
    today: date  # the clinic's day now
    zone: str
    alarm_worst_at: int | None  # µs UTC: low-reservoir level at the top of the accuracy band, every bolus
    accuracy: str  # the band in words, e.g. "±15 %"
    stability_until: int | None  # µs UTC
    expires_at: int | None  # µs UTC: the solution's expiry or beyond-use date
    replacement_by: int | None  # µs UTC: plan the pump replacement by
    useful_from: int | None  # µs UTC: the expected residual falls to the waste share (None: never)
    waste_share: str  # e.g. "25 %"
    margin_days: int
    margin_why: str  # e.g. "baclofen: 7 days (policy, … [U])"
    margin_citation: Citation | None = None
    replacement_words: str = "the pump replacement is planned by"


@dataclass(frozen=True, slots=True)
class RefillWindow:
    earliest: date
    latest: date
    overdue: bool  # the latest safe day has passed: book now
    limit: str  # what sets the latest safe day, in words
    reasons: tuple[Reason, ...]

    def words(self) -> str:
        """'book between Tue 1 Dec 2026 and Fri 4 Dec 2026' (or 'book now: …')."""
        if self.overdue:
            return f"book now: the latest safe day was {display.calendar_day(self.latest)}"
        if self.earliest == self.latest:
            return f"book on {display.calendar_day(self.latest)}"
        return f"book between {display.calendar_day(self.earliest)} and {display.calendar_day(self.latest)}"

    def contains(self, day: date) -> bool:
        return self.earliest <= day <= self.latest

    def as_json(self) -> dict[str, Any]:
        return {
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
            "overdue": self.overdue,
            "limit": self.limit,
            "words": self.words(),
            "reasons": [r.as_json() for r in self.reasons],
        }


def _day(us: int, zone: ZoneInfo) -> date:
    return from_us(us).astimezone(zone).date()


def refill_window(inputs: WindowInputs, calendar: ClinicCalendar) -> RefillWindow:
    """The window and its reasons (module doc). InputError when there is nothing to bound it."""
    if inputs.margin_days < 0:
        raise InputError("margin_days", f"expected 0 or more days, got {inputs.margin_days}")
    zone = ZoneInfo(inputs.zone)
    limits = [
        (inputs.alarm_worst_at, "low-reservoir alarm level at the top of the accuracy band", "window.alarm"),
        (inputs.stability_until, "drug stability in the pump runs out", "window.stability"),
        (inputs.expires_at, "the solution's expiry or beyond-use date", "window.expiry"),
        (inputs.replacement_by, inputs.replacement_words, "window.replacement"),
    ]
    known = [(at, what, code) for at, what, code in limits if at is not None]
    if not known:
        raise InputError("inputs", "no alarm, stability, expiry or replacement date bounds the refill")
    at, what, _ = min(known)
    reasons = []
    for t, words, code in sorted(known):
        detail = f" (accuracy {inputs.accuracy}, every allowed bolus)" if code == "window.alarm" else ""
        reasons.append(Reason(code, f"{words}{detail}: {display.instant(from_us(t), zone)}"))
    limit_day = _day(at, zone)
    latest = calendar.open_on_or_before(limit_day - timedelta(days=inputs.margin_days))
    reasons.append(
        Reason(
            "window.margin",
            f"booked {inputs.margin_days} days before that ({inputs.margin_why}), on a day the clinic is open: "
            f"latest safe day {display.calendar_day(latest)}",
            inputs.margin_citation,
        )
    )
    today_open = calendar.open_on_or_after(inputs.today)
    if latest < inputs.today:
        reasons.append(
            Reason("window.overdue", f"the latest safe day has passed ({(inputs.today - latest).days} days ago)")
        )
        return RefillWindow(today_open, latest, True, what, tuple(reasons))
    if inputs.useful_from is None:
        earliest_raw = latest
        reasons.append(Reason("window.useful", "the residual never falls to the waste share at this rate"))
    else:
        earliest_raw = max(_day(inputs.useful_from, zone), inputs.today)
        reasons.append(
            Reason(
                "window.useful",
                f"useful from {display.calendar_day(earliest_raw)}: from then on, refilling throws away at most "
                f"{inputs.waste_share} of the last fill more than refilling on the latest safe day would (at the "
                "programmed rate)",
            )
        )
    earliest = calendar.open_on_or_after(earliest_raw)
    if earliest > latest:
        reasons.append(
            Reason(
                "window.waste-accepted",
                f"the latest safe day comes before the refill is useful: refill on {display.calendar_day(latest)} "
                f"and throw away more than {inputs.waste_share} of the fill (safety first)",
            )
        )
        earliest = latest
    return RefillWindow(earliest, latest, False, what, tuple(reasons))
