"""Clinic-wide: the dashboard and the work queues."""

from __future__ import annotations

from dataclasses import asdict

import orjson
from fastapi import APIRouter, Query, Response

from openidds.api.answers import DashboardOut, WorkQueuesOut
from openidds.api.deps import Actor, Now, Tx
from openidds.api.routers.common import READS
from openidds.service.dashboard import dashboard_page
from openidds.service.queues import work_queues

router = APIRouter(prefix="/api/v1")


# --- clinic-wide --------------------------------------------------------------------------------------------------
@router.get(
    "/dashboard",
    tags=["clinic"],
    responses={200: {"model": DashboardOut, "description": "every patient, most urgent first"}, **READS},
)
def dashboard(s: Tx, at: Now, actor: Actor, limit: int = Query(default=0, ge=0)) -> Response:
    """Every patient, most urgent first: `{at, patients, total}`; `limit` > 0 answers the first rows only (`total`
    still counts every patient)."""
    rows, total = dashboard_page(s, actor, at, limit or None)
    # Thousands of rows of plain JSON values: written by orjson in one go (a response model would walk them first).
    body = {"at": at.isoformat(), "patients": rows, "total": total}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/queues", tags=["clinic"], response_model=WorkQueuesOut, response_model_exclude_unset=True, responses=READS
)
def queues(s: Tx, at: Now, actor: Actor) -> WorkQueuesOut:
    """What waits for the user asking, with how long it has waited: refill preparations and program changes awaiting
    their check, programs awaiting their refill, open flags they may resolve, unacknowledged discrepancies, and the
    pathway gates a physician went past in the last 30 days."""
    q = work_queues(s, actor, at)
    return WorkQueuesOut.model_validate(
        {
            "at": at,
            **{
                name: [asdict(i) for i in getattr(q, name)]
                for name in (
                    "awaiting_my_check",
                    "awaiting_refill",
                    "flags",
                    "discrepancies",
                    "overrides",
                    "refills_overdue",
                )
            },
        }
    )
