"""Reading the audit trail: filtered, newest first, a page at a time or all of it (for an export).

Who may read it is the role matrix's `read-audit` (admin and physician). What a record says before and after a
change is clinical data for most records (a program, a refill, a patient's details): it is shown only to a role
that may read any patient's record, never to the admin, who manages users and the trail and reads no clinical
record (least privilege).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openidds.clinic.roles import MATRIX
from openidds.db.models import AuditRecord, User
from openidds.programs.clock import from_us, to_us
from openidds.service.access import require

PER_PAGE = 50
TEXT_MAX = 120  # the longest filter text (an actor is at most 120 characters, an entity 80)


@dataclass(frozen=True)
class AuditQuery:
    """What to look for; every part is optional. Texts match anywhere, ignoring case; `action` matches whole."""

    actor: str = ""
    action: str = ""
    entity: str = ""
    since: datetime | None = None  # from this instant on
    until: datetime | None = None  # before this instant


@dataclass(frozen=True)
class AuditEntry:
    sequence: int
    at: datetime
    actor: str
    action: str
    entity: str
    before: Any  # None when the reader may not see what changed (or nothing was there)
    after: Any


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int  # records that match, on every page
    page: int  # 1 is the newest
    pages: int
    payloads: bool  # whether before and after are shown to this reader
    per_page: int = PER_PAGE

    @property
    def first(self) -> int:
        """The position of the page's first entry among the matches (1-based; 0 when there are none)."""
        return 0 if not self.entries else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return 0 if not self.entries else self.first + len(self.entries) - 1


def sees_payloads(user: User) -> bool:
    """Whether `user` may see what the records say before and after: only a role that reads any patient's record."""
    return any(role == user.role and access == "any" for role, access in MATRIX["read-patient"].items())


def find(s: Session, user: User, query: AuditQuery, page: int = 1, per_page: int = PER_PAGE) -> AuditPage:
    """One page of the matching records, newest first (a page past the last is the last)."""
    require(user, "read-audit")
    total = s.scalar(select(func.count()).select_from(_matching(query).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = s.scalars(
        _matching(query).order_by(AuditRecord.sequence.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    payloads = sees_payloads(user)
    return AuditPage([_entry(r, payloads) for r in rows], total, page, pages, payloads, per_page)


def export(s: Session, user: User, query: AuditQuery) -> Iterator[AuditEntry]:
    """Every matching record, newest first."""
    require(user, "read-audit")
    payloads = sees_payloads(user)
    for r in s.scalars(_matching(query).order_by(AuditRecord.sequence.desc()).execution_options(yield_per=500)):
        yield _entry(r, payloads)


def actions(s: Session, user: User) -> list[str]:
    """The actions the trail holds, for choosing one."""
    require(user, "read-audit")
    return list(s.scalars(select(AuditRecord.action).distinct().order_by(AuditRecord.action)))


def _matching(query: AuditQuery) -> Select[AuditRecord]:
    q = select(AuditRecord)
    if query.actor:
        q = q.where(AuditRecord.actor.icontains(query.actor[:TEXT_MAX], autoescape=True))
    if query.action:
        q = q.where(AuditRecord.action == query.action[:TEXT_MAX])
    if query.entity:
        q = q.where(AuditRecord.entity.icontains(query.entity[:TEXT_MAX], autoescape=True))
    if query.since is not None:
        q = q.where(AuditRecord.at >= to_us(query.since))
    if query.until is not None:
        q = q.where(AuditRecord.at < to_us(query.until))
    return q


def _entry(r: AuditRecord, payloads: bool) -> AuditEntry:
    return AuditEntry(
        r.sequence,
        from_us(r.at),
        r.actor,
        r.action,
        r.entity,
        r.before if payloads else None,
        r.after if payloads else None,
    )
