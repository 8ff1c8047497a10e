"""Refills in three steps: prepare, check, complete (or cancel)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from openidds.api.answers import RefillOut
from openidds.api.deps import Actor, OnceOnly, Tx
from openidds.api.routers.common import READS, WRITES, Json, record_of
from openidds.api.schemas import (
    CompleteIn,
    Id,
    PrepareIn,
    ReasonIn,
)
from openidds.db.models import (
    Refill,
)
from openidds.service import pathway
from openidds.service import refills as refills_service
from openidds.service.refills import refill_json

router = APIRouter(prefix="/api/v1")


@router.get(
    "/patients/{patient_id}/refills",
    tags=["refills"],
    response_model=list[RefillOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def refills(patient_id: Id, s: Tx, actor: Actor) -> list[Json]:
    pathway.read_patient(s, actor, patient_id)
    found = s.scalars(select(Refill).where(Refill.patient_id == patient_id).order_by(Refill.prepared_at, Refill.id))
    return [refill_json(r) for r in found]


@router.get(
    "/patients/{patient_id}/refills/{refill_id}",
    tags=["refills"],
    response_model=RefillOut,
    response_model_exclude_unset=True,
    responses=READS,
)
def read_refill(patient_id: Id, refill_id: Id, s: Tx, actor: Actor) -> Json:
    return refill_json(record_of(s, actor, patient_id, Refill, refill_id))


@router.post(
    "/patients/{patient_id}/refills",
    status_code=201,
    tags=["refills"],
    response_model=RefillOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def prepare_refill(patient_id: Id, body: PrepareIn, once: OnceOnly) -> Json:
    """Step 1: the prepared solution (label, lot, expiry or beyond-use date, volume). Nothing is in the pump yet."""
    return once.run(
        body,
        201,
        lambda: refill_json(refills_service.prepare_refill(once.s, once.actor, patient_id, body.to_command(), once.at)),
    )


@router.post(
    "/patients/{patient_id}/refills/{refill_id}/check",
    tags=["refills"],
    response_model=RefillOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def check_refill(patient_id: Id, refill_id: Id, once: OnceOnly) -> Json:
    """Step 2: the independent double check by a second person, before the fill (a pharmacist or a physician for a
    compounded solution)."""
    return once.run(
        None,
        200,
        lambda: refill_json(refills_service.check_refill(once.s, once.actor, patient_id, refill_id, once.at)),
    )


@router.post(
    "/patients/{patient_id}/refills/{refill_id}/complete",
    tags=["refills"],
    response_model=RefillOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def complete_refill(patient_id: Id, refill_id: Id, body: CompleteIn, once: OnceOnly) -> Json:
    """Step 3: withdrawn and filled volumes; the reconciliation, the new fill in the twin, a waiting program for
    this solution applied, the next refill due. Unchecked, it needs `emergency_reason` and is flagged."""
    return once.run(
        body,
        200,
        lambda: refill_json(
            refills_service.complete_refill(once.s, once.actor, patient_id, refill_id, body.to_command(), once.at)
        ),
    )


@router.post(
    "/patients/{patient_id}/refills/{refill_id}/cancel",
    tags=["refills"],
    response_model=RefillOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def cancel_refill(patient_id: Id, refill_id: Id, body: ReasonIn, once: OnceOnly) -> Json:
    return once.run(
        body,
        200,
        lambda: refill_json(
            refills_service.cancel_refill(once.s, once.actor, patient_id, refill_id, body.reason, once.at)
        ),
    )
