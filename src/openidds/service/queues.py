"""Work queues: what waits for the person asking, with how long it has waited (GET /api/v1/queues, the dashboard).

- **awaiting my check**: refill preparations waiting for their double check that this user may do (not the one
  who prepared it; a pharmacist or a physician for a compounded solution), concentration changes waiting for their
  second-person verification (not the one who proposed or confirmed it), proposals waiting for a physician's
  confirmation;
- **awaiting a refill**: programs verified for another solution, waiting for the refill that brings it;
- **refills overdue** (for whoever may prepare a refill): the pump past its refill due (the reservoir, drug
  stability or the solution's expiry), longest overdue first;
- **open flags I can resolve**: urgent first (a refill filled without its check goes to a second person);
- **unacknowledged discrepancies**: refill reconciliations and interrogated reservoirs outside the band;
- **overrides**: recent pathway gates a physician went past, with the reason (30 days).

Everything in words; `since` is when it began waiting and `waited` how long, at the request's `now`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.clinic.dashboard import span
from openidds.clinic.refill import describe_solution
from openidds.db.models import Flag, FollowUp, PathwayOverride, Patient, PatientStatus, ProgramVersion, Refill, User
from openidds.programs.clock import to_us
from openidds.service.access import permits, require
from openidds.service.pathway import flag_action
from openidds.service.pump import program_of
from openidds.service.refills import check_action

QueueName = Literal[
    "check", "confirm", "verify", "awaiting-refill", "flag", "discrepancy", "override", "refill-overdue"
]
DISCREPANCIES = ("refill.discrepancy", "interrogation.reservoir-discrepancy")
OVERRIDE_WINDOW = timedelta(days=30)
QUEUE_LIMIT = 200  # per queue: the oldest first, so nothing old is hidden behind newer items


@dataclass(frozen=True, slots=True)
class QueueItem:
    kind: QueueName
    patient_id: int
    patient: str  # "Doe, Jane"
    mrn: str
    what: str  # in words
    since: datetime
    waited: str  # how long, in words
    link: str  # the web page to act on it
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class WorkQueues:
    awaiting_my_check: list[QueueItem] = field(default_factory=list)
    awaiting_refill: list[QueueItem] = field(default_factory=list)
    flags: list[QueueItem] = field(default_factory=list)
    discrepancies: list[QueueItem] = field(default_factory=list)
    overrides: list[QueueItem] = field(default_factory=list)
    refills_overdue: list[QueueItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        queues = (self.awaiting_my_check, self.awaiting_refill, self.flags, self.discrepancies, self.refills_overdue)
        return sum(len(q) for q in queues)


def _waited(since: datetime, now: datetime) -> str:
    return span(max(to_us(now) - to_us(since), 0))


def work_queues(s: Session, actor: User, now: datetime) -> WorkQueues:
    require(actor, "read-dashboard")

    def item(kind: QueueName, pid: int, what: str, since: datetime, link: str, urgent: bool = False) -> QueueItem:
        """An item without its patient's name (filled in at the end, for the patients the queues name only)."""
        return QueueItem(kind, pid, "", "", what, since, _waited(since, now), link, urgent)

    check: list[QueueItem] = []
    for r in s.scalars(select(Refill).where(Refill.status == "prepared").order_by(Refill.prepared_at, Refill.id)):
        if permits(actor, check_action(r), patient_id=r.patient_id, recorded_by=r.prepared_by):
            what = f"refill of {_solution(r.solution)} prepared: awaits its independent double check" + (
                " (compounded: a pharmacist or a physician)" if r.compounded else ""
            )
            check.append(item("check", r.patient_id, what, r.prepared_at, f"/patients/{r.patient_id}/refills/{r.id}"))
    for v in s.scalars(
        select(ProgramVersion)
        .where(ProgramVersion.status.in_(("proposed", "awaiting-verification")))
        .order_by(ProgramVersion.proposed_at, ProgramVersion.id)
    ):
        link = f"/patients/{v.patient_id}/programs/{v.number}"
        if v.status == "proposed" and permits(actor, "confirm-program", patient_id=v.patient_id):
            check.append(
                item("confirm", v.patient_id, f"program v{v.number} proposed: awaits confirmation", v.proposed_at, link)
            )
        elif v.status == "awaiting-verification" and all(
            permits(actor, "verify-concentration-change", patient_id=v.patient_id, recorded_by=by)
            for by in (v.proposed_by, v.confirmed_by)
            if by is not None
        ):
            what = (
                f"program v{v.number} for {describe_solution(program_of(v).solution)}: awaits its second-person "
                "verification (a new drug or concentration)"
            )
            check.append(item("verify", v.patient_id, what, v.confirmed_at or v.proposed_at, link))
    check.sort(key=lambda i: i.since)

    waiting = [
        item(
            "awaiting-refill",
            v.patient_id,
            f"program v{v.number} for {describe_solution(program_of(v).solution)}: awaits the refill that brings it",
            v.verified_at or v.confirmed_at or v.proposed_at,
            f"/patients/{v.patient_id}/programs/{v.number}",
        )
        for v in s.scalars(
            select(ProgramVersion)
            .where(ProgramVersion.status == "awaiting-refill")
            .order_by(ProgramVersion.proposed_at, ProgramVersion.id)
        )
    ]

    flags: list[QueueItem] = []
    off: list[QueueItem] = []
    for f in s.scalars(select(Flag).where(Flag.resolved_at.is_(None)).order_by(Flag.raised_at, Flag.id)):
        if not permits(actor, flag_action(f), patient_id=f.patient_id, recorded_by=f.raised_by):
            continue
        link = f"/patients/{f.patient_id}/flags/{f.id}"
        if f.code in DISCREPANCIES:
            off.append(item("discrepancy", f.patient_id, f.message, f.raised_at, link, f.urgent))
        else:
            flags.append(item("flag", f.patient_id, f.message, f.raised_at, link, f.urgent))
    for row in s.scalars(
        select(FollowUp).where(FollowUp.urgent, FollowUp.resolved_at.is_(None)).order_by(FollowUp.at, FollowUp.id)
    ):
        if not permits(actor, "resolve-flag", patient_id=row.patient_id):
            continue
        for flag in row.flags:
            if flag.get("urgent"):
                message = str(flag["message"]).removeprefix("URGENT: ")
                link = f"/patients/{row.patient_id}/follow-ups/{row.id}"
                flags.append(item("flag", row.patient_id, message, row.at, link, True))
    flags.sort(key=lambda i: (not i.urgent, i.since))

    overrides = [
        item(
            "override",
            o.patient_id,
            f"{o.step} recorded past its gate ({o.gate}); reason: {o.reason}",
            o.at,
            f"/patients/{o.patient_id}",
        )
        for o in s.scalars(
            select(PathwayOverride)
            .where(PathwayOverride.at >= now - OVERRIDE_WINDOW)
            .order_by(PathwayOverride.at.desc())
        )
    ]
    overdue = [
        item(
            "refill-overdue",
            st.patient_id,
            f"refill overdue ({st.refill_reason})" if st.refill_reason else "refill overdue",
            st.next_refill_due,
            f"/patients/{st.patient_id}/refill",
            urgent=st.withdrawal_risk,
        )
        for st in s.scalars(
            select(PatientStatus)
            .where(PatientStatus.next_refill_due.is_not(None), PatientStatus.next_refill_due <= now)
            .order_by(PatientStatus.next_refill_due)
        )
        if st.next_refill_due is not None and permits(actor, "prepare-refill", patient_id=st.patient_id)
    ]
    queues = [_limit(q) for q in (check, waiting, flags, off, overrides, overdue)]
    ids = {i.patient_id for q in queues for i in q}
    people = {p.id: p for p in s.scalars(select(Patient).where(Patient.id.in_(ids)))} if ids else {}

    def named(i: QueueItem) -> QueueItem:
        p = people[i.patient_id]
        return replace(i, patient=f"{p.family_name}, {p.given_name}", mrn=p.mrn)

    return WorkQueues(*([named(i) for i in q] for q in queues))


def _limit(items: Iterable[QueueItem]) -> list[QueueItem]:
    return list(items)[:QUEUE_LIMIT]


def _solution(solution: list[dict[str, str]]) -> str:
    return ", ".join(f"{d['name']} {d['concentration']}" for d in solution)
