"""Program versions: propose, confirm, verify, cancel."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from openidds.api.answers import ProgramOut
from openidds.api.deps import Actor, OnceOnly, Tx
from openidds.api.routers.common import READS, WRITES, Json, program_json
from openidds.api.schemas import (
    ConfirmIn,
    Id,
    ProgramIn,
    ReasonIn,
)
from openidds.db.models import (
    ProgramVersion,
)
from openidds.service import pathway
from openidds.service import programs as programs_service
from openidds.service.errors import NotFound

router = APIRouter(prefix="/api/v1")


@router.get(
    "/patients/{patient_id}/programs",
    tags=["programs"],
    response_model=list[ProgramOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def programs(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(select(ProgramVersion).where(ProgramVersion.patient_id == patient_id).order_by("number"))
    return [program_json(v, s) for v in found]


@router.get(
    "/patients/{patient_id}/programs/{number}",
    tags=["programs"],
    response_model=ProgramOut,
    response_model_exclude_unset=True,
    responses=READS,
)
def read_program(patient_id: Id, number: Id, s: Tx, actor: Actor) -> Json:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.number == number)
    ).first()
    if found is None:
        raise NotFound(f"no program version {number}")
    return program_json(found, s)


@router.post(
    "/patients/{patient_id}/programs",
    status_code=201,
    tags=["programs"],
    response_model=ProgramOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def propose_program(patient_id: Id, body: ProgramIn, once: OnceOnly) -> Json:
    """Findings and the side-by-side diff come back; nothing reaches the pump until confirmed (and, for a new drug
    or concentration, verified and then applied by the refill that brings the solution)."""
    return once.run(
        body,
        201,
        lambda: program_json(
            programs_service.propose_program(once.s, once.actor, patient_id, body.to_command(), once.at)
        ),
    )


@router.post(
    "/patients/{patient_id}/programs/{number}/confirm",
    tags=["programs"],
    response_model=ProgramOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def confirm_program(patient_id: Id, number: Id, body: ConfirmIn, once: OnceOnly) -> Json:
    return once.run(
        body,
        200,
        lambda: program_json(
            programs_service.confirm_program(once.s, once.actor, patient_id, number, body.overrides, once.at),
            once.s,
        ),
    )


@router.post(
    "/patients/{patient_id}/programs/{number}/verify",
    tags=["programs"],
    response_model=ProgramOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def verify_program(patient_id: Id, number: Id, once: OnceOnly) -> Json:
    """The second person: a new drug or concentration then awaits the refill that brings it."""
    return once.run(
        None,
        200,
        lambda: program_json(programs_service.verify_program(once.s, once.actor, patient_id, number, once.at), once.s),
    )


@router.post(
    "/patients/{patient_id}/programs/{number}/cancel",
    tags=["programs"],
    response_model=ProgramOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def cancel_program(patient_id: Id, number: Id, body: ReasonIn, once: OnceOnly) -> Json:
    """A physician cancels a program that has not run (proposed, or waiting for its verification or its refill)."""
    return once.run(
        body,
        200,
        lambda: program_json(
            programs_service.cancel_program(once.s, once.actor, patient_id, number, body.reason, once.at)
        ),
    )
