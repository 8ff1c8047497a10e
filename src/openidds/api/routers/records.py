"""One record of any kind by its path: included last, so it shadows none of the specific paths."""

from __future__ import annotations

from fastapi import APIRouter

from openidds.api.answers import RecordOut
from openidds.api.deps import Actor, Tx
from openidds.api.routers.common import READS, RECORDS, Json, record_of, row
from openidds.api.schemas import (
    Id,
)
from openidds.service.errors import NotFound

router = APIRouter(prefix="/api/v1")


# Last: the generic path must not shadow the specific ones above.
@router.get(
    "/patients/{patient_id}/{kind}/{record_id}",
    tags=["pathway"],
    response_model=RecordOut,
    response_model_exclude_unset=True,
    responses=READS,
)
def readrecord_of(patient_id: Id, kind: str, record_id: Id, s: Tx, actor: Actor) -> Json:
    """One evaluation, trial, implant, follow-up, interrogation or remote request."""
    model = RECORDS.get(kind)
    if model is None:
        raise NotFound(f"no such kind of record: {kind}")
    return row(record_of(s, actor, patient_id, model, record_id))
