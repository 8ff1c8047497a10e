"""The alert banner at the top of a patient's chart and of the refill and program forms: what must be in front of
whoever opens the record, in words, most severe first.

- an open urgent flag (PHQ-9 item 9, respiratory depression, a suspected pocket fill …);
- a critical pump alarm;
- the refill overdue (with why: the reservoir, drug stability or the solution's expiry), or due within 7 days;
- baclofen (a withdrawal-risk drug) in the pump: never let it run empty;
- the elective replacement indicator (ERI), reached or near, with the end of service and the date to plan the
  replacement by (clinic.replacement);
- a program that waits for its verification or its refill (the pump runs the old one until then);
- open flags for review, and discrepancies to acknowledge with a note.

Pure: the patient's status comes in with `now` (µs UTC), the alerts go out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from openidds.clinic.dashboard import DUE_SOON_US, REPLACEMENT_SOON_US, span
from openidds.clinic.dashboard import when as utc_when

Level = Literal["hard", "soft", "info"]
DISCREPANCY_CODES = ("refill.discrepancy", "interrogation.reservoir-discrepancy")


@dataclass(frozen=True, slots=True)
class PatientStatusFacts:
    next_refill_due: int | None = None
    refill_reason: str = ""
    withdrawal_risk: bool = False
    withdrawal_drugs: tuple[str, ...] = ()  # e.g. ("baclofen",)
    critical_alarms: tuple[str, ...] = ()  # in words
    eri_at: int | None = None
    end_of_service: int | None = None
    replacement_due: int | None = None  # plan the replacement by
    flags: tuple[dict[str, Any], ...] = ()  # open flags: {code, urgent, message, link}
    pending_program: str = ""
    refills_in_progress: tuple[tuple[str, str], ...] = ()  # (what, link): prepared or checked, not yet filled


@dataclass(frozen=True, slots=True)
class Alert:
    level: Level
    code: str
    message: str
    link: str = ""  # relative to the patient's chart, e.g. "flags/3"
    action: str = ""  # the link's words, e.g. "acknowledge with a note"


def patient_alerts(facts: PatientStatusFacts, now: int, when: Callable[[int], str] = utc_when) -> list[Alert]:
    """The alerts, most severe first; `when` puts an instant in words (the clinic's zone; UTC by default)."""
    out: list[Alert] = []
    for f in facts.flags:
        if f.get("urgent"):
            out.append(Alert("hard", "urgent-flag", f"Urgent: {f['message']}", str(f.get("link", "")), "open the flag"))
    for name in facts.critical_alarms:
        out.append(Alert("hard", "critical-alarm", f"Critical pump alarm: {name}"))
    due = facts.next_refill_due
    if due is not None:
        why = f" ({facts.refill_reason})" if facts.refill_reason else ""
        if now >= due:
            out.append(
                Alert("hard", "refill-overdue", f"Refill overdue by {span(now - due)}: was due {when(due)}{why}")
            )
        elif due - now <= DUE_SOON_US:
            out.append(Alert("soft", "refill-due-soon", f"Refill due in {span(due - now)}: {when(due)}{why}"))
    if facts.withdrawal_risk:
        drugs = ", ".join(facts.withdrawal_drugs) or "a withdrawal-risk drug"
        level: Level = "hard" if due is not None and now >= due else "soft"
        out.append(
            Alert(
                level,
                "withdrawal-risk",
                f"{drugs.capitalize()} in the pump: never let it run empty; abrupt withdrawal can kill (high fever, "
                "altered mental state, rebound spasticity, muscle rigidity)",
            )
        )
    out.extend(_replacement(facts, now, when))
    if facts.pending_program:
        out.append(Alert("soft", "program-awaits-refill", f"Not running yet: {facts.pending_program}"))
    for what, link in facts.refills_in_progress:
        out.append(Alert("soft", "refill-in-progress", what, link, "open the refill"))
    for f in facts.flags:
        if f.get("urgent"):
            continue
        if f.get("code") in DISCREPANCY_CODES:
            out.append(
                Alert("soft", "discrepancy", f"Discrepancy: {f['message']}", str(f.get("link", "")), "acknowledge it")
            )
        else:
            out.append(Alert("soft", "review-flag", f"Review: {f['message']}", str(f.get("link", "")), "review it"))
    rank = {"hard": 0, "soft": 1, "info": 2}
    return sorted(out, key=lambda a: rank[a.level])  # stable within a level


def _replacement(facts: PatientStatusFacts, now: int, when: Callable[[int], str]) -> list[Alert]:
    eri, eos, plan = facts.eri_at, facts.end_of_service, facts.replacement_due
    if eri is None:
        return []
    stops = f"; end of service {when(eos)} ({span(eos - now)} from now)" if eos is not None and eos > now else ""
    if eos is not None and eos <= now:
        return [Alert("hard", "end-of-service", f"End of service since {when(eos)}: the pump has stopped infusing")]
    if eri <= now:
        return [
            Alert(
                "hard",
                "eri",
                f"Elective replacement indicator since {when(eri)}{stops}: replace the pump before it stops",
            )
        ]
    if plan is not None and plan - now <= REPLACEMENT_SOON_US:
        when_plan = f"by {when(plan)}" if plan > now else f"since {when(plan)}"
        return [
            Alert(
                "soft",
                "replacement-to-plan",
                f"Pump replacement to plan {when_plan}: elective replacement indicator expected {when(eri)}{stops}",
            )
        ]
    return []
