"""The clinic dashboard: when each patient's refill is due, and who needs the team first.

Instants are integer microseconds UTC (see programs/clock.py: `to_us(datetime)`); `now` is passed in, never read.

Refill: **overdue** once `now` has reached the due instant; **due-soon** when it is due within 7 days (policy
[U]); **later** otherwise; **none** without a refill date.

Urgency, most urgent first (a patient is ranked by their most urgent concern; every concern is listed):
 1. withdrawal-risk: a withdrawal-risk drug (baclofen) whose refill is overdue or whose pump has a critical
    alarm: abrupt withdrawal can kill within 24-72 h (baclofen label, boxed warning);
 2. urgent-flag: an open urgent clinical flag (respiratory depression, PHQ-9 item 9, infection …);
 3. critical-alarm: a critical pump alarm (empty reservoir, motor stall, end of service);
 4. refill-overdue;
    refill-booking: the latest safe day (clinic.window) has passed, the next refill booked is after it, or the last
    refill visit was missed and nothing is booked since;
 5. alarm: a non-critical pump alarm (low reservoir, elective replacement indicator);
 6. replacement-overdue: the date to plan the pump replacement by has passed (clinic.replacement);
 7. projected-critical: a critical alarm is projected within 7 days;
 8. refill-due-soon;
 9. review-flag: an open flag for review (a refill filled without its check, an interrogation discrepancy);
10. program-awaits-refill: a program for another solution waits for its verification or refill;
11. replacement-due-soon: that date is within 30 days (policy [U]);
12. later: nothing pressing.
Within a level: withdrawal-risk patients first, then the earliest instant that put them there, then patient id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, get_args

from openidds.clinic.citations import Citation, Reason, cite, policy
from openidds.errors import InputError
from openidds.programs.clock import DAY_US, HOUR_US, MINUTE_US, from_us

RefillStatus = Literal["overdue", "due-soon", "later", "none"]
Urgency = Literal[
    "withdrawal-risk",
    "urgent-flag",
    "critical-alarm",
    "refill-overdue",
    "refill-booking",
    "alarm",
    "replacement-overdue",
    "projected-critical",
    "refill-due-soon",
    "review-flag",
    "program-awaits-refill",
    "replacement-due-soon",
    "later",
]
URGENCY_ORDER: tuple[Urgency, ...] = get_args(Urgency)
Priority = Literal["critical", "non-critical"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)

DUE_SOON_US = 7 * DAY_US
DUE_SOON = policy("A 7-day look-ahead for refills and projected alarms: an OpenIDDS choice.")
REPLACEMENT_SOON_US = 30 * DAY_US  # a surgery is booked weeks ahead: the plan-by date itself is months before the stop
REPLACEMENT_SOON = policy(
    "A 30-day look-ahead to the date a pump replacement is planned by (clinic.replacement): an OpenIDDS choice."
)
WITHDRAWAL = cite("baclofen-label", "label", note="Boxed warning: abrupt discontinuation can be fatal.")


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    name: str  # e.g. "empty-reservoir", "low-reservoir" (the twin's alarm names)
    priority: Priority


@dataclass(frozen=True, slots=True)
class ProjectedAlarm:
    name: str
    priority: Priority
    at: int  # µs UTC


@dataclass(frozen=True, slots=True)
class PatientSnapshot:
    patient_id: str
    next_refill_due: int | None  # µs UTC; None without a filled pump
    withdrawal_risk: bool = False  # a drug whose sudden stop is dangerous is in the pump (baclofen)
    active_alarms: tuple[ActiveAlarm, ...] = ()
    projected_alarms: tuple[ProjectedAlarm, ...] = ()
    replacement_due: int | None = None  # µs UTC: plan the pump replacement by (clinic.replacement)
    urgent_flags: tuple[str, ...] = ()  # open urgent flags, in words
    review_flags: tuple[str, ...] = ()  # open flags for review, in words
    pending_program: str = ""  # a program waiting for its verification or refill, in words
    end_of_service: int | None = None  # µs UTC: the pump stops (named beside the replacement)
    booked_late: str = ""  # the next refill booked falls after the latest safe day, in words ("" when not)
    past_latest: str = ""  # the latest safe day has passed, in words ("" when not)
    missed: str = ""  # the last refill visit was missed and nothing is booked since, in words ("" when not)


@dataclass(frozen=True, slots=True)
class Concern:
    level: Urgency
    message: str
    at: int | None = None  # the instant behind it (sorting within a level)
    citation: Citation | None = None


@dataclass(frozen=True, slots=True)
class DashboardRow:
    patient_id: str
    refill: RefillStatus
    urgency: Urgency
    concerns: tuple[Concern, ...]  # most urgent first
    withdrawal_risk: bool

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(Reason(f"dashboard.{c.level}", c.message, c.citation) for c in self.concerns)

    def as_json(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "refill": self.refill,
            "urgency": self.urgency,
            "withdrawal_risk": self.withdrawal_risk,
            "reasons": [r.as_json() for r in self.reasons],
        }


def _instant(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, f"expected an instant in integer microseconds UTC, got {value!r}")
    return value


When = Callable[[int], str]  # an instant (µs UTC) in words: UTC here; the clinic's zone from the service


@lru_cache(maxsize=1 << 16)  # a dashboard names the same due instants on every read
def when(us: int) -> str:
    """'2027-01-25 14:05 UTC'."""
    return f"{from_us(us):%Y-%m-%d %H:%M} UTC"


def span(us: int) -> str:
    """A duration in words, to the minute: '2 days 3 h', '45 min'."""
    days, rest = divmod(abs(us), DAY_US)
    hours, rest = divmod(rest, HOUR_US)
    minutes = rest // MINUTE_US
    parts = []
    if days:
        parts.append(f"{days} day" if days == 1 else f"{days} days")
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return " ".join(parts) or "less than a minute"


def refill_status(next_refill_due: int | None, now: int) -> tuple[RefillStatus, str]:
    """Overdue / due within 7 days / later / none, with the reason in words."""
    refill = _refill(next_refill_due, now)
    return refill, _refill_text(refill, next_refill_due, now)


def _refill(next_refill_due: int | None, now: int) -> RefillStatus:
    now = _instant(now, "now")
    if next_refill_due is None:
        return "none"
    due = _instant(next_refill_due, "next_refill_due")
    if now >= due:
        return "overdue"
    return "due-soon" if due - now <= DUE_SOON_US else "later"


def _refill_text(refill: RefillStatus, due: int | None, now: int, *, at: When = when) -> str:
    if due is None:
        return "no refill date (no filled pump)"
    if refill == "overdue":
        return f"refill overdue by {span(now - due)} (due {at(due)})"
    return f"refill due in {span(due - now)} ({at(due)})"


# A concern before its words: (level, instant, citation, words). The words are a string, or what makes them
# (a function and its arguments), so that the dashboard words only the rows it shows: ranking 5,000 patients
# needs each one's levels and instants, not their sentences.
_Words = str | tuple[Any, ...]
_Pending = tuple[Urgency, int | None, Citation | None, _Words]
_RANK: dict[str, int] = {level: i for i, level in enumerate(URGENCY_ORDER)}


def _withdrawal_text(
    overdue: tuple[RefillStatus, int | None, int] | None, critical: tuple[str, ...], *, at: When = when
) -> str:
    what = [_refill_text(*overdue, at=at)] if overdue is not None else []
    what += [name if name.startswith("past the latest") else f"critical alarm: {name}" for name in critical]
    return f"withdrawal risk (baclofen): {'; '.join(what)}: restore delivery before withdrawal starts"


def _stops(eos: int | None, now: int, at: When) -> str:
    if eos is None:
        return ""
    return f"; end of service {'was ' if eos <= now else ''}{at(eos)}"


def _replacement_overdue_text(replace: int, eos: int | None, now: int, *, at: When = when) -> str:
    return f"pump replacement: plan it now (planned by {at(replace)}{_stops(eos, now, at)})"


def _replacement_soon_text(replace: int, eos: int | None, now: int, *, at: When = when) -> str:
    return f"pump replacement to plan within {span(replace - now)} (by {at(replace)}{_stops(eos, now, at)})"


def _projected_text(name: str, instant: int, now: int, *, at: When = when) -> str:
    text = f"in {span(instant - now)}" if instant > now else "now"
    return f"critical alarm {name} projected {text} ({at(instant)})"


def _words(words: _Words, at: When = when) -> str:
    if isinstance(words, str):
        return words
    text: str = words[0](*words[1:], at=at)
    return text


def _assess(patient: PatientSnapshot, now: int) -> tuple[RefillStatus, list[_Pending]]:
    """The refill status and every concern, most urgent first, checked but not yet in words."""
    refill = _refill(patient.next_refill_due, now)
    found: list[_Pending] = []
    if not isinstance(patient.withdrawal_risk, bool):
        raise InputError("withdrawal_risk", f"expected true or false, got {patient.withdrawal_risk!r}")
    alarms = _alarms(patient.active_alarms)
    critical = [a for a in alarms if a.priority == "critical"] if alarms else []
    due = patient.next_refill_due

    in_withdrawal_concern = patient.withdrawal_risk and (
        refill == "overdue" or bool(critical) or bool(patient.past_latest)
    )
    if in_withdrawal_concern:
        found.append(
            (
                "withdrawal-risk",
                due if refill == "overdue" else now,
                WITHDRAWAL,
                (
                    _withdrawal_text,
                    (refill, due, now) if refill == "overdue" else None,
                    tuple(a.name for a in critical)
                    + ((patient.past_latest,) if patient.past_latest and refill != "overdue" else ()),
                ),
            )
        )
    if patient.urgent_flags:
        for i, flag in enumerate(patient.urgent_flags):
            if not isinstance(flag, str) or not flag.strip():
                raise InputError(f"urgent_flags[{i}]", f"expected the flag in words, got {flag!r}")
            found.append(("urgent-flag", now, None, f"urgent: {flag}"))
    if not in_withdrawal_concern:  # otherwise already named in the withdrawal concern
        for a in critical:
            found.append(("critical-alarm", now, None, f"critical alarm: {a.name}"))
        if refill == "overdue":
            found.append(("refill-overdue", due, None, (_refill_text, refill, due, now)))
    if patient.past_latest and not in_withdrawal_concern and refill != "overdue":  # else already said
        found.append(("refill-booking", now, None, patient.past_latest))
    if patient.missed:
        found.append(("refill-booking", now, None, patient.missed))
    if patient.booked_late:
        found.append(("refill-booking", now, None, patient.booked_late))
    for a in alarms:
        if a.priority == "non-critical":
            found.append(("alarm", now, None, f"alarm: {a.name}"))
    if patient.replacement_due is not None:
        replace = _instant(patient.replacement_due, "replacement_due")
        eos = patient.end_of_service
        if now >= replace:
            found.append(("replacement-overdue", replace, None, (_replacement_overdue_text, replace, eos, now)))
        elif replace - now <= REPLACEMENT_SOON_US:
            found.append(
                ("replacement-due-soon", replace, REPLACEMENT_SOON, (_replacement_soon_text, replace, eos, now))
            )
    for i, p in enumerate(patient.projected_alarms):
        if not isinstance(p, ProjectedAlarm) or p.priority not in PRIORITIES:
            raise InputError(f"projected_alarms[{i}]", f"expected a name, a priority and an instant, got {p!r}")
        at = p.at
        if isinstance(at, bool) or not isinstance(at, int):
            _instant(at, f"projected_alarms[{i}].at")  # raises, naming the alarm
        if p.priority == "critical" and at - now <= DUE_SOON_US:
            found.append(("projected-critical", at, DUE_SOON, (_projected_text, p.name, at, now)))
    if refill == "due-soon":
        found.append(("refill-due-soon", due, DUE_SOON, (_refill_text, refill, due, now)))
    for i, flag in enumerate(patient.review_flags):
        if not isinstance(flag, str) or not flag.strip():
            raise InputError(f"review_flags[{i}]", f"expected the flag in words, got {flag!r}")
        found.append(("review-flag", now, None, f"review: {flag}"))
    if patient.pending_program:
        found.append(("program-awaits-refill", now, None, patient.pending_program))
    if not found:
        found.append(("later", due, None, (_refill_text, refill, due, now)))
    elif len(found) > 1:
        found.sort(key=lambda c: _RANK[c[0]])  # stable: keeps the order within a level
    return refill, found


def concerns(patient: PatientSnapshot, now: int, at: When = when) -> tuple[RefillStatus, tuple[Concern, ...]]:
    """The refill status and everything that needs the team, most urgent first (`at`: an instant in words)."""
    refill, found = _assess(patient, now)
    return refill, tuple(Concern(level, _words(words, at), t, citation) for level, t, citation, words in found)


def _alarms(alarms: Sequence[ActiveAlarm]) -> Sequence[ActiveAlarm]:
    if alarms:
        for i, a in enumerate(alarms):
            if not isinstance(a, ActiveAlarm) or a.priority not in PRIORITIES:
                raise InputError(
                    f"active_alarms[{i}]", f"expected a name and a priority (critical or non-critical), got {a!r}"
                )
    return alarms


@dataclass(frozen=True, slots=True)
class Ranking:
    """The order of a list of patients, worked out at `at`, and the instant `until` which it holds.

    Between two instants the order and every patient's levels change only where a comparison with the instant
    changes: a refill falling due or coming within 7 days, a replacement's plan-by date passing or coming within 30
    days, a critical alarm projected within 7 days,
    and (for a withdrawal-risk patient, ranked by the due instant once overdue, against others ranked by the instant
    itself) the microsecond after a refill falls due. `until` is the first of those after `at`, so `triage` at any
    instant in [at, until) gives the same rows in the same order; only the words (how long until or since) change,
    and those are worked out for each call."""

    at: int
    until: int
    order: tuple[int, ...]  # positions in the patients list, most urgent first

    def holds(self, now: int) -> bool:
        return self.at <= now < self.until


def rank(patients: Sequence[PatientSnapshot], now: int) -> Ranking:
    """Check every patient and rank them at `now` (the order in the module doc), with how long the order holds."""
    return _rank(patients, now, keep=False)[0]


def _rank(
    patients: Sequence[PatientSnapshot], now: int, keep: bool
) -> tuple[Ranking, list[tuple[RefillStatus, list[_Pending]]]]:
    _instant(now, "now")
    kept: list[tuple[RefillStatus, list[_Pending]]] = []
    keys: list[tuple[int, int, int, str, int]] = []
    seen: set[str] = set()
    until = 1 << 62
    for i, p in enumerate(patients):
        if not isinstance(p, PatientSnapshot):
            raise InputError(f"patients[{i}]", f"expected a patient snapshot, got {p!r}")
        if not isinstance(p.patient_id, str) or not p.patient_id:
            raise InputError(f"patients[{i}].patient_id", f"expected an id, got {p.patient_id!r}")
        if p.patient_id in seen:
            raise InputError(f"patients[{i}].patient_id", f"patient {p.patient_id} is listed twice")
        seen.add(p.patient_id)
        assessed = _assess(p, now)  # checks the instants used below
        level, at = assessed[1][0][:2]
        # no instant (no refill date) sorts last within its level; the ids are unique, so `i` never decides
        keys.append((_RANK[level], 0 if p.withdrawal_risk else 1, at if at is not None else 1 << 62, p.patient_id, i))
        if keep:
            kept.append(assessed)
        due, replace = p.next_refill_due, p.replacement_due
        for t in (
            () if due is None else (due - DUE_SOON_US, due, due + 1),
            () if replace is None else (replace - REPLACEMENT_SOON_US, replace),
            tuple(a.at - DUE_SOON_US for a in p.projected_alarms if a.priority == "critical"),
        ):
            for threshold in t:
                if now < threshold < until:
                    until = threshold
    keys.sort()
    return Ranking(now, until, tuple(key[4] for key in keys)), kept


def triage(
    patients: Sequence[PatientSnapshot],
    now: int,
    limit: int | None = None,
    ranking: Ranking | None = None,
    at: When = when,
) -> list[DashboardRow]:
    """Every patient with their refill status and concerns, most urgent first (order in the module doc); only the
    first `limit` rows when given: every patient is still checked and ranked, but only those rows are put in words
    (ranking thousands of patients needs each one's levels and instants, not their sentences).

    `ranking`: a `rank` of these same patients, used when it holds at `now` (else they are ranked again). `at`
    puts an instant in words (UTC by default; the service passes the clinic's zone)."""
    _instant(now, "now")
    kept: list[tuple[RefillStatus, list[_Pending]]] = []
    if ranking is None or not ranking.holds(now):
        ranking, kept = _rank(patients, now, keep=limit is None or limit >= len(patients))
    order = ranking.order if limit is None else ranking.order[: max(limit, 0)]
    rows = []
    for i in order:
        p = patients[i]
        refill, found = kept[i] if kept else _assess(p, now)
        rows.append(
            DashboardRow(
                p.patient_id,
                refill,
                found[0][0],
                tuple(Concern(level, _words(words, at), t, citation) for level, t, citation, words in found),
                p.withdrawal_risk,
            )
        )
    return rows
