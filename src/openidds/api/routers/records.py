"""One record of any kind by its path: included last, so it shadows none of the specific paths."""

from __future__ import annotations

from typing import Literal, get_args

from fastapi import APIRouter

from openidds.api.answers import RecordOut
from openidds.api.deps import Actor, Tx
from openidds.api.routers.common import READS, RECORDS, Json, record_of, row
from openidds.api.schemas import (
    Id,
)

router = APIRouter(prefix="/api/v1")
# The kinds this path serves, so the schema says them (refills, programs and flags have their own paths).
RecordKind = Literal["evaluations", "trials", "implants", "follow-ups", "interrogations", "remote-requests"]
assert set(get_args(RecordKind)) == set(RECORDS)


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
    return row(record_of(s, actor, patient_id, RECORDS[kind], record_id))
