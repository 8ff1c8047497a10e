"""The audit trail and its verification.

Before and after are shown only to a reader who may read any patient's record (service.audit_trail's one rule,
the web admin's too): the admin sees who, when, what and which entity, never clinical details, and not the hashes
either (they would confirm a guess of what is withheld); the admin checks the chain through /audit/verify."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from openidds.api.deps import Actor, Tx
from openidds.api.errors import AUTHENTICATED
from openidds.api.routers.common import SEQUENCE_MAX
from openidds.clinic import audit as chain
from openidds.service import audit, audit_trail
from openidds.service.access import require
from openidds.service.errors import Forbidden

router = APIRouter(prefix="/api/v1")

ENTITY_MAX = 120
ANCHOR_MAX = 100  # 19 digits, a colon and 64 hexadecimal digits, with room for spaces


class AuditRecordOut(BaseModel):
    sequence: int = Field(description="the record's place in the chain: 1, 2, 3 …")
    at: int = Field(description="when, in integer microseconds since 1970-01-01 UTC (as the chain hashes it)")
    actor: str = Field(description="who, e.g. `nora (nurse)`")
    action: str = Field(description="what, e.g. `confirm-program`")
    entity: str = Field(description="which record, e.g. `patient/12/program/2`")
    payload: Literal["shown", "withheld", "unreadable"] = Field(
        description="shown: before and after are given; withheld: this role reads no clinical record, so they are "
        "not; unreadable: the stored row cannot be read (see `unreadable`; `GET /audit/verify` names it)"
    )
    before: Any = Field(default=None, description="the record before the change (when `payload` is shown)")
    after: Any = Field(default=None, description="the record after the change (when `payload` is shown)")
    unreadable: str | None = Field(default=None, description="why the stored row cannot be read")
    previous_hash: str | None = Field(
        description="the hash of the record before (record 1: the chain's genesis hash); null for a role to which "
        "before and after are withheld (the admin), on every record: the hashes cover before and after, so whoever "
        "had them could confirm a guess of what is withheld (`GET /audit/verify` checks the chain for any reader)"
    )
    hash: str | None = Field(
        description="this record's hash: sha256 of the previous hash and its canonical JSON, before and after "
        "included; null for a role to which before and after are withheld, as `previous_hash`"
    )


class AuditFindingOut(BaseModel):
    kind: Literal["edited", "missing", "inserted", "anchor", "unreadable"]
    sequence: int = Field(description="the record concerned (missing: the first missing sequence number)")
    message: str = Field(description="what was found, naming the record")


class AuditVerifyOut(BaseModel):
    records: int = Field(description="how many records were checked")
    intact: bool = Field(description="true exactly when there is no finding")
    findings: list[AuditFindingOut]


@router.get("/audit", tags=["clinic"], response_model=list[AuditRecordOut], responses=AUTHENTICATED)
def audit_records(
    s: Tx,
    actor: Actor,
    entity: str | None = Query(
        default=None, max_length=ENTITY_MAX, description="the entity's start (plain text: no control character)"
    ),
    after: int = Query(default=0, ge=0, le=SEQUENCE_MAX, description="records after this sequence number"),
    limit: int = Query(default=200, ge=0, le=SEQUENCE_MAX, description="at most this many records"),
) -> list[AuditRecordOut]:
    """The trail, oldest first (admin and physician: `read-audit`)."""
    return [
        AuditRecordOut(
            sequence=e.sequence,
            at=e.at_us,
            actor=e.actor,
            action=e.action,
            entity=e.entity,
            payload=e.payload,
            before=e.before,
            after=e.after,
            unreadable=e.unreadable,
            previous_hash=e.previous_hash,
            hash=e.hash,
        )
        for e in audit_trail.oldest_first(s, actor, entity or "", after, limit)
    ]


@router.get("/audit/verify", tags=["clinic"], response_model=AuditVerifyOut, responses=AUTHENTICATED)
def audit_verify(
    s: Tx,
    actor: Actor,
    anchor: str | None = Query(
        default=None,
        max_length=ANCHOR_MAX,
        description="SEQUENCE:HASH as `idds audit anchor` printed it, kept elsewhere: also catches the newest "
        "records removed, or the whole chain rewritten",
    ),
) -> AuditVerifyOut:
    """The chain recomputed against its stored head (and `anchor`, if given): every edited, missing, inserted or
    unreadable record named."""
    require(actor, "read-audit")
    if anchor is not None and not audit_trail.sees_payloads(actor):
        # A guessed SEQ:HASH answered "intact" would confirm a guess of a record the admin may not read: the admin
        # checks an anchor where the server runs (`idds audit verify --anchor`), not over the API.
        raise Forbidden(
            "an anchor is checked with 'idds audit verify --anchor' on the server: a role that may not read the "
            "records cannot test hashes over the API"
        )
    checked, findings = audit.verify(s, None if anchor is None else chain.parse_anchor(anchor))
    return AuditVerifyOut(
        records=checked,
        intact=not findings,
        findings=[AuditFindingOut(kind=f.kind, sequence=f.sequence, message=f.message) for f in findings],
    )
