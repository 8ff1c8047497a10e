"""The audit trail in the database: every write appends one chained record in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Select, Text, cast, select, update
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
    previous: tuple[int, int, str] | None = None  # the last record's sequence, instant and hash
    # Only what the next record needs is read: a last record whose payload was tampered with is never parsed here.
    # A trail tampered with goes on linking (verify names what was done), so the clinic can still record care.
    newest = select(AuditRecord.sequence, AuditRecord.at, AuditRecord.hash)
    if head is not None and head.sequence > 0:
        last = s.execute(newest.where(AuditRecord.sequence == head.sequence)).first()
        # the record the head names is gone: link on from the head's hash (verify names the missing record)
        previous = (
            (head.sequence, 0, chain.stored_text(head.hash))
            if last is None
            else (head.sequence, _us(last.at), chain.stored_text(last.hash))
        )
    elif head is None:  # the head row deleted: link on from the newest record (not from genesis, a duplicate 1)
        last = s.execute(newest.order_by(AuditRecord.sequence.desc()).limit(1)).first()
        previous = None if last is None else (last.sequence, _us(last.at), chain.stored_text(last.hash))
    at = to_us(now)
    if previous is not None and at < previous[1]:
        at = previous[1]  # two writers within the clock's resolution: keep the chain's time order
    link = (
        None
        if previous is None
        else chain.AuditRecord(previous[0], previous[1], "-", "-", "-", None, None, "", previous[2])
    )
    new = chain.append(
        link, at=at, actor=actor, action=action, entity=entity, before=_jsonable(before), after=_jsonable(after)
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


def _us(stored: object) -> int:
    """A stored instant, or 0 when it is not an integer (SQLite keeps whatever it is given)."""
    return stored if isinstance(stored, int) and not isinstance(stored, bool) else 0


# The stored columns as the database holds them: before and after as their JSON text, parsed by the chain's
# bounded reader (chain.stored), never by the driver (psycopg parses JSON recursively, and garbage text raises
# while the rows are fetched, naming no record).
STORED_COLUMNS = (
    AuditRecord.sequence,
    AuditRecord.at,
    AuditRecord.actor,
    AuditRecord.action,
    AuditRecord.entity,
    cast(AuditRecord.before, Text).label("before"),
    cast(AuditRecord.after, Text).label("after"),
    AuditRecord.previous_hash,
    AuditRecord.hash,
)

StoredQuery: TypeAlias = "Select[int, int, str, str, str, str, str, str, str]"  # a select of STORED_COLUMNS


def stored_records(s: Session, query: StoredQuery | None = None) -> Iterator[chain.AuditRecord]:
    """The records `query` selects (select(*STORED_COLUMNS) with its filters; default: all, by sequence), each
    read defensively: an unreadable one says why in `unreadable` instead of raising."""
    q = select(*STORED_COLUMNS).order_by(AuditRecord.sequence) if query is None else query
    place = 0
    for values in s.execute(q.execution_options(yield_per=500)):
        r = chain.stored(tuple(values), place + 1)
        place = r.sequence
        yield r


def verify(s: Session, anchor: tuple[int, str] | None = None) -> tuple[int, list[chain.AuditFinding]]:
    """(records checked, findings). The chain is checked against `anchor` if given (a head kept elsewhere), else
    against the stored head; the stored head is checked in both cases (chain.check_head), so an anchor kept from
    yesterday never hides a head deleted or edited today, or a record appended after it."""
    rows = list(stored_records(s))
    found = s.execute(select(AuditHead.sequence, AuditHead.hash).where(AuditHead.id == 1)).first()
    head: tuple[int, str] | None = None
    if found is not None:
        seq, digest = found
        if (
            isinstance(seq, bool)
            or not isinstance(seq, int)
            or seq < 0
            or not isinstance(digest, str)
            or not chain.is_utf8(digest)
        ):
            # a head of the wrong types, or of bytes that are not UTF-8 (SQLite keeps what it is given)
            last = rows[-1].sequence if rows else 0
            unreadable = chain.AuditFinding(
                "anchor", last, f"the chain's head is unreadable: record {last} cannot be checked"
            )
            return len(rows), chain.merge(chain.verify(rows, anchor=anchor), [unreadable])
        head = (seq, digest)
    against = anchor if anchor is not None else head if head is not None and head[0] >= 1 else None
    return len(rows), chain.merge(chain.verify(rows, anchor=against), chain.check_head(rows, head))
