"""Program versions: propose, confirm, verify, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from openidds.api.deps import Actor, OnceOnly, Tx
from openidds.api.routers.common import program_json
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


@router.get("/patients/{patient_id}/programs", tags=["programs"])
def programs(patient_id: Id, s: Tx, actor: Actor) -> list[dict[str, Any]]:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(select(ProgramVersion).where(ProgramVersion.patient_id == patient_id).order_by("number"))
    return [program_json(v, s) for v in found]


@router.get("/patients/{patient_id}/programs/{number}", tags=["programs"])
def read_program(patient_id: Id, number: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.number == number)
    ).first()
    if found is None:
        raise NotFound(f"no program version {number}")
    return program_json(found, s)


@router.post("/patients/{patient_id}/programs", status_code=201, tags=["programs"])
def propose_program(patient_id: Id, body: ProgramIn, once: OnceOnly) -> dict[str, Any]:
    """Findings and the side-by-side diff come back; nothing reaches the pump until confirmed (and, for a new drug
    or concentration, verified and then applied by the refill that brings the solution)."""
    return once.run(
        body,
        201,
        lambda: program_json(
            programs_service.propose_program(
                once.s, once.actor, patient_id, body.document, once.at, body.bridge, body.bridge_off_reason
            )
        ),
    )


@router.post("/patients/{patient_id}/programs/{number}/confirm", tags=["programs"])
def confirm_program(patient_id: Id, number: Id, body: ConfirmIn, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body,
        200,
        lambda: program_json(
            programs_service.confirm_program(once.s, once.actor, patient_id, number, body.overrides, once.at),
            once.s,
        ),
    )


@router.post("/patients/{patient_id}/programs/{number}/verify", tags=["programs"])
def verify_program(patient_id: Id, number: Id, once: OnceOnly) -> dict[str, Any]:
    """The second person: a new drug or concentration then awaits the refill that brings it."""
    return once.run(
        None,
        200,
        lambda: program_json(programs_service.verify_program(once.s, once.actor, patient_id, number, once.at), once.s),
    )


@router.post("/patients/{patient_id}/programs/{number}/cancel", tags=["programs"])
def cancel_program(patient_id: Id, number: Id, body: ReasonIn, once: OnceOnly) -> dict[str, Any]:
    """A physician cancels a program that has not run (proposed, or waiting for its verification or its refill)."""
    return once.run(
        body,
        200,
        lambda: program_json(
            programs_service.cancel_program(once.s, once.actor, patient_id, number, body.reason, once.at)
        ),
    )
