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
 5. alarm: a non-critical pump alarm (low reservoir, elective replacement indicator);
 6. replacement-overdue: the planned pump replacement date has passed;
 7. projected-critical: a critical alarm is projected within 7 days;
 8. refill-due-soon;
 9. replacement-due-soon: replacement due within 7 days;
10. later: nothing pressing.
Within a level: withdrawal-risk patients first, then the earliest instant that put them there, then patient id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    "alarm",
    "replacement-overdue",
    "projected-critical",
    "refill-due-soon",
    "replacement-due-soon",
    "later",
]
URGENCY_ORDER: tuple[Urgency, ...] = get_args(Urgency)
Priority = Literal["critical", "non-critical"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)

DUE_SOON_US = 7 * DAY_US
DUE_SOON = policy("A 7-day look-ahead for refills, replacements and projected alarms: an OpenIDDS choice.")
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
    replacement_due: int | None = None  # µs UTC: the planned pump replacement (elective replacement indicator)
    urgent_flags: tuple[str, ...] = ()  # open urgent flags, in words


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
    now = _instant(now, "now")
    if next_refill_due is None:
        return "none", "no refill date (no filled pump)"
    due = _instant(next_refill_due, "next_refill_due")
    if now >= due:
        return "overdue", f"refill overdue by {span(now - due)} (due {when(due)})"
    if due - now <= DUE_SOON_US:
        return "due-soon", f"refill due in {span(due - now)} ({when(due)})"
    return "later", f"refill due in {span(due - now)} ({when(due)})"


def concerns(patient: PatientSnapshot, now: int) -> tuple[RefillStatus, tuple[Concern, ...]]:
    """The refill status and everything that needs the team, most urgent first."""
    refill, refill_text = refill_status(patient.next_refill_due, now)
    found: list[Concern] = []
    if not isinstance(patient.withdrawal_risk, bool):
        raise InputError("withdrawal_risk", f"expected true or false, got {patient.withdrawal_risk!r}")
    critical = [a for a in _alarms(patient.active_alarms) if a.priority == "critical"]
    non_critical = [a for a in _alarms(patient.active_alarms) if a.priority == "non-critical"]
    due = patient.next_refill_due

    in_withdrawal_concern = patient.withdrawal_risk and (refill == "overdue" or bool(critical))
    if in_withdrawal_concern:
        what = [refill_text] if refill == "overdue" else []
        what += [f"critical alarm: {a.name}" for a in critical]
        found.append(
            Concern(
                "withdrawal-risk",
                f"withdrawal risk (baclofen): {'; '.join(what)}: restore delivery before withdrawal starts",
                due if refill == "overdue" else now,
                WITHDRAWAL,
            )
        )
    for i, flag in enumerate(patient.urgent_flags):
        if not isinstance(flag, str) or not flag.strip():
            raise InputError(f"urgent_flags[{i}]", f"expected the flag in words, got {flag!r}")
        found.append(Concern("urgent-flag", f"urgent: {flag}", now))
    if not in_withdrawal_concern:  # otherwise already named in the withdrawal concern
        for a in critical:
            found.append(Concern("critical-alarm", f"critical alarm: {a.name}", now))
        if refill == "overdue":
            found.append(Concern("refill-overdue", refill_text, due))
    for a in non_critical:
        found.append(Concern("alarm", f"alarm: {a.name}", now))
    if patient.replacement_due is not None:
        replace = _instant(patient.replacement_due, "replacement_due")
        if now >= replace:
            found.append(Concern("replacement-overdue", f"pump replacement overdue since {when(replace)}", replace))
        elif replace - now <= DUE_SOON_US:
            found.append(
                Concern(
                    "replacement-due-soon",
                    f"pump replacement due in {span(replace - now)} ({when(replace)})",
                    replace,
                    DUE_SOON,
                )
            )
    for i, p in enumerate(patient.projected_alarms):
        if not isinstance(p, ProjectedAlarm) or p.priority not in PRIORITIES:
            raise InputError(f"projected_alarms[{i}]", f"expected a name, a priority and an instant, got {p!r}")
        at = _instant(p.at, f"projected_alarms[{i}].at")
        if p.priority == "critical" and at - now <= DUE_SOON_US:
            text = f"in {span(at - now)}" if at > now else "now"
            found.append(
                Concern("projected-critical", f"critical alarm {p.name} projected {text} ({when(at)})", at, DUE_SOON)
            )
    if refill == "due-soon":
        found.append(Concern("refill-due-soon", refill_text, due, DUE_SOON))
    if not found:
        found.append(Concern("later", refill_text, due))
    found.sort(key=lambda c: URGENCY_ORDER.index(c.level))  # stable: keeps the order within a level
    return refill, tuple(found)


def _alarms(alarms: Sequence[ActiveAlarm]) -> list[ActiveAlarm]:
    for i, a in enumerate(alarms):
        if not isinstance(a, ActiveAlarm) or a.priority not in PRIORITIES:
            raise InputError(
                f"active_alarms[{i}]", f"expected a name and a priority (critical or non-critical), got {a!r}"
            )
    return list(alarms)


def triage(patients: Sequence[PatientSnapshot], now: int) -> list[DashboardRow]:
    """Every patient with their refill status and concerns, most urgent first (order in the module doc)."""
    _instant(now, "now")
    rows: list[tuple[tuple[int, int, int, str], DashboardRow]] = []
    seen: set[str] = set()
    for i, p in enumerate(patients):
        if not isinstance(p, PatientSnapshot):
            raise InputError(f"patients[{i}]", f"expected a patient snapshot, got {p!r}")
        if not isinstance(p.patient_id, str) or not p.patient_id:
            raise InputError(f"patients[{i}].patient_id", f"expected an id, got {p.patient_id!r}")
        if p.patient_id in seen:
            raise InputError(f"patients[{i}].patient_id", f"patient {p.patient_id} is listed twice")
        seen.add(p.patient_id)
        refill, found = concerns(p, now)
        top = found[0]
        # no instant (no refill date) sorts last within its level
        key = (
            URGENCY_ORDER.index(top.level),
            0 if p.withdrawal_risk else 1,
            top.at if top.at is not None else 1 << 62,
            p.patient_id,
        )
        rows.append((key, DashboardRow(p.patient_id, refill, top.level, found, p.withdrawal_risk)))
    rows.sort(key=lambda r: r[0])
    return [row for _, row in rows]
