"""The audit trail and its verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from openidds.api.deps import Actor, Tx
from openidds.api.routers.common import SEQUENCE_MAX, row
from openidds.db.models import (
    AuditRecord,
)
from openidds.service import audit
from openidds.service.access import require

router = APIRouter(prefix="/api/v1")


@router.get("/audit", tags=["clinic"])
def auditrecords_of(
    s: Tx,
    actor: Actor,
    entity: str | None = None,
    after: int = Query(default=0, ge=0, le=SEQUENCE_MAX),
    limit: int = Query(default=200, ge=0, le=SEQUENCE_MAX),
) -> list[dict[str, Any]]:
    require(actor, "read-audit")
    q = select(AuditRecord).where(AuditRecord.sequence > after).order_by(AuditRecord.sequence).limit(limit)
    if entity:
        q = q.where(AuditRecord.entity.startswith(entity))
    return [row(r) for r in s.scalars(q)]


@router.get("/audit/verify", tags=["clinic"])
def audit_verify(s: Tx, actor: Actor) -> dict[str, Any]:
    require(actor, "read-audit")
    checked, findings = audit.verify(s)
    return {
        "records": checked,
        "intact": not findings,
        "findings": [{"kind": f.kind, "sequence": f.sequence, "message": f.message} for f in findings],
    }
