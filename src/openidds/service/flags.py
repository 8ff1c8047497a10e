"""Flags the use cases raise (a suspected pocket fill, an unchecked refill, a pump that reports another program or
reservoir than the record): open until a clinician resolves them, saying what was done (service.pathway)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.clinic.followup import Flag as FlagRule
from openidds.db.models import Flag, FollowUp, User
from openidds.service import notify


def raise_flag(s: Session, actor: User, patient_id: int, rule: FlagRule, entity: str, now: datetime) -> Flag:
    """Record a flag from the pure core's rule, in the caller's transaction (the caller writes the audit). An urgent
    flag also queues its notice to the responsible clinician (or on call) in the same transaction."""
    row = Flag(
        patient_id=patient_id,
        code=rule.code,
        urgent=rule.urgent,
        message=rule.message,
        actions=list(rule.actions),
        citation=None if rule.citation is None else rule.citation.as_json(),
        entity=entity,
        raised_at=now,
        raised_by=actor.id,
    )
    s.add(row)
    s.flush()
    if row.urgent:
        notify.urgent_flag(s, patient_id, row.code, row.message, f"flag/{row.id}", now)
    return row


def flag_json(f: Flag) -> dict[str, Any]:
    return {
        "id": f.id,
        "code": f.code,
        "urgent": f.urgent,
        "message": f.message,
        "actions": f.actions,
        "citation": f.citation,
        "entity": f.entity,
        "raised_at": f.raised_at.isoformat(),
        "raised_by": f.raised_by,
        "resolved_at": None if f.resolved_at is None else f.resolved_at.isoformat(),
        "resolved_by": f.resolved_by,
        "resolution": f.resolution,
    }


def open_flags(s: Session, patient_id: int) -> list[dict[str, Any]]:
    """Every open flag in words, urgent first: the use cases' flags and the follow-ups' urgent ones."""
    out: list[dict[str, Any]] = []
    for f in s.scalars(
        select(Flag).where(Flag.patient_id == patient_id, Flag.resolved_at.is_(None)).order_by(Flag.raised_at, Flag.id)
    ):
        out.append({"code": f.code, "urgent": f.urgent, "message": f.message, "link": f"flags/{f.id}"})
    for row in s.scalars(
        select(FollowUp)
        .where(FollowUp.patient_id == patient_id, FollowUp.urgent, FollowUp.resolved_at.is_(None))
        .order_by(FollowUp.at, FollowUp.id)
    ):
        for flag in row.flags:
            if flag.get("urgent"):
                message = str(flag["message"]).removeprefix("URGENT: ")  # the listing says it is urgent
                out.append({"code": flag["code"], "urgent": True, "message": message, "link": f"follow-ups/{row.id}"})
    out.sort(key=lambda f: not f["urgent"])  # stable: in the order raised within each kind
    return out
