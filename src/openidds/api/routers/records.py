"""One record of any kind by its path: included last, so it shadows none of the specific paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from openidds.api.answers import RecordOut
from openidds.api.deps import Actor, Tx
from openidds.api.routers.common import READS, RECORDS, Json, record_of, row
from openidds.api.schemas import (
    Id,
)
from openidds.service.errors import NotFound

router = APIRouter(prefix="/api/v1")
# The kinds this path serves, listed in the schema (refills, programs and flags have their own paths); another
# kind is an address that does not exist (404), as before.
RecordKind = Annotated[
    str, Path(description="the kind of record", json_schema_extra={"enum": list(RECORDS)}, max_length=40)
]


# Last: the generic path must not shadow the specific ones above.
@router.get(
    "/patients/{patient_id}/{kind}/{record_id}",
    tags=["pathway"],
    response_model=RecordOut,
    response_model_exclude_unset=True,
    responses=READS,
)
def read_record(patient_id: Id, kind: RecordKind, record_id: Id, s: Tx, actor: Actor) -> Json:
    """One evaluation, trial, implant, follow-up, interrogation or remote request."""
    model = RECORDS.get(kind)
    if model is None:
        raise NotFound(f"no such kind of record: {kind}")
    return row(record_of(s, actor, patient_id, model, record_id))
