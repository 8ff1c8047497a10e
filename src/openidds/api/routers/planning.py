"""The clinic-wide refill plan: propose (CP-SAT beside the greedy baseline), read, book all or some of it."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from openidds.api.answers import Day, Instant, Out, UserId
from openidds.api.deps import Actor, OnceOnly, Tx
from openidds.api.routers.appointments import AppointmentOut
from openidds.api.routers.common import READS, WRITES, Json
from openidds.api.schemas import Code, Count, Id, In
from openidds.service import planning
from openidds.service.appointments import appointment_json

router = APIRouter(prefix="/api/v1")


class PlanIn(In):
    first_day: date | None = Field(default=None, description="the clinic's day the plan starts (default: today)")
    weeks: Count = Field(ge=1, le=planning.WEEKS_MAX, description="how many weeks to plan (1 to 26)")


class AcceptIn(In):
    keys: list[Code] | None = Field(
        default=None, max_length=5000, description="the proposed bookings to book (default: all of them)"
    )


class ProposedOut(Out):
    key: str
    patient_id: int
    mrn: str
    name: str
    missed_before: bool = Field(description="their last refill visit was missed: planned again")
    day: Day
    nurse: str
    earliest: Day
    latest: Day
    fixed: bool = Field(description="already booked (kept as it is)")


class ShortfallOut(Out):
    patient_id: int
    mrn: str
    name: str
    missed_before: bool
    latest: Day
    day: Day | None = Field(description="the first day with room (None: none in the horizon)")
    days_late: int
    withdrawal_risk: bool
    reason: str


class ProposalOut(Out):
    method: str
    status: str
    seconds: float
    visits: int
    late_in_window: int = Field(description="days after the earliest useful day, summed over the bookings")
    max_daily_load: int
    reasons: list[str]
    bookings: list[ProposedOut]
    shortfalls: list[ShortfallOut] = Field(description="urgent: who cannot be kept safe, and by how much")


class PlanOut(Out):
    id: int
    created_at: Instant
    created_by: UserId
    first_day: Day
    weeks: int
    patients: int
    accepted: list[str]
    cp_sat: ProposalOut
    greedy: ProposalOut = Field(description="the earliest-deadline-first baseline, printed beside")
    comparison: dict[str, Any]


class RefusedOut(Out):
    key: str
    patient: str
    why: str


class AcceptedOut(Out):
    booked: list[AppointmentOut]
    refused: list[RefusedOut]


@router.post("/plan", status_code=201, tags=["planning"], response_model=PlanOut, responses=WRITES)
def propose(body: PlanIn, once: OnceOnly) -> Json:
    """Propose refill bookings for every patient over `weeks` weeks under the nurses' capacity and skills."""

    def run() -> Json:
        from zoneinfo import ZoneInfo

        from openidds.service.settings import current_settings

        first = body.first_day or once.at.astimezone(ZoneInfo(current_settings(once.s).timezone)).date()
        return planning.plan_json(planning.propose(once.s, once.actor, first, body.weeks, once.at))

    answer: Json = once.run(body, 201, run)
    return answer


@router.get("/plans/{plan_id}", tags=["planning"], response_model=PlanOut, responses=READS)
def read_plan(plan_id: Id, s: Tx, actor: Actor) -> Json:
    return planning.plan_json(planning.find_plan(s, actor, plan_id))


@router.post("/plans/{plan_id}/accept", tags=["planning"], response_model=AcceptedOut, responses=WRITES)
def accept(plan_id: Id, body: AcceptIn, once: OnceOnly) -> Json:
    """Book the proposal (all, or the bookings named by `keys`); what can no longer be booked is refused with why."""

    def run() -> Json:
        done = planning.accept(once.s, once.actor, plan_id, body.keys, once.at)
        return {"booked": [appointment_json(a) for a in done.booked], "refused": done.refused}

    answer: Json = once.run(body, 200, run)
    return answer
