"""The audit trail in the database: every write appends one chained record in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openidds.clinic import audit as chain
from openidds.db.models import AuditHead, AuditRecord, DashboardVersion
from openidds.programs.clock import to_us


def _jsonable(value: Any) -> chain.JSON:
    """Chain-safe JSON: exact numbers and instants as strings, never floats."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # Fraction, Decimal, date, Quantity: their exact text


def record(
    s: Session, actor: str, action: str, entity: str, now: datetime, before: Any = None, after: Any = None
) -> AuditRecord:
    """Append one record after the chain's head, which is locked until the transaction ends."""
    # The dashboard version first (see DashboardVersion): the lock order every writer keeps.
    s.execute(update(DashboardVersion).where(DashboardVersion.id == 1).values(version=DashboardVersion.version + 1))
    head = s.get(AuditHead, 1, with_for_update=True)
    previous: chain.AuditRecord | None = None
    if head is not None and head.sequence > 0:
        last = s.get(AuditRecord, head.sequence)
        assert last is not None, "the audit head names a record that is not there: run `idds audit verify`"
        previous = _core(last)
    at = to_us(now)
    if previous is not None and at < previous.at:
        at = previous.at  # two writers within the clock's resolution: keep the chain's time order
    new = chain.append(
        previous, at=at, actor=actor, action=action, entity=entity, before=_jsonable(before), after=_jsonable(after)
    )
    row = AuditRecord(
        sequence=new.sequence,
        at=new.at,
        actor=new.actor,
        action=new.action,
        entity=new.entity,
        before=new.before,
        after=new.after,
        previous_hash=new.previous_hash,
        hash=new.hash,
    )
    s.add(row)
    if head is None:
        s.add(AuditHead(id=1, sequence=new.sequence, hash=new.hash))
    else:
        head.sequence, head.hash = new.sequence, new.hash
    return row


def _core(row: AuditRecord) -> chain.AuditRecord:
    return chain.AuditRecord(
        row.sequence, row.at, row.actor, row.action, row.entity, row.before, row.after, row.previous_hash, row.hash
    )


def verify(s: Session, anchor: tuple[int, str] | None = None) -> tuple[int, list[chain.AuditFinding]]:
    """(records checked, findings). Without an anchor given, the stored head serves as one.

    The stored head is moved by every write, so it names the last record: a record after it was inserted there
    (the chain alone cannot tell a forged record appended at the end), and rows without a head lost their anchor."""
    rows = [_core(r) for r in s.scalars(select(AuditRecord).order_by(AuditRecord.sequence))]
    if anchor is not None:
        return len(rows), chain.verify(rows, anchor=anchor)
    head = s.get(AuditHead, 1)
    if head is None:
        findings = chain.verify(rows)
        if rows:
            last = rows[-1].sequence
            findings.append(
                chain.AuditFinding("anchor", last, f"the chain's head is missing: record {last} cannot be checked")
            )
        return len(rows), findings
    findings = chain.verify(rows, anchor=(head.sequence, head.hash))
    findings += [
        chain.AuditFinding(
            "inserted",
            r.sequence,
            f"record {r.sequence} ({r.hash[:12]}…) was inserted: it comes after the chain's head, record "
            f"{head.sequence}, which every write moves",
        )
        for r in rows
        if r.sequence > head.sequence
    ]
    return len(rows), sorted(findings, key=lambda f: f.sequence)
