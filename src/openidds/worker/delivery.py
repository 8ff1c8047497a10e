"""Delivering the outbox: claim, send outside any transaction, record what happened.

1. Claim, in one short transaction: messages `pending` whose `next_attempt_at` has come are marked `sending`, with
   a lease (`next_attempt_at` = now + LEASE). On PostgreSQL the rows are read FOR UPDATE SKIP LOCKED, so two
   workers claim different rows; on SQLite the writer's transaction holds the database's write lock (BEGIN
   IMMEDIATE), so claims are one after another. Either way a claimed row is `sending` with a lease in the future
   when the claim commits, and no other worker takes it.
2. Send, with no transaction open (a slow mail server holds no lock).
3. Record, in another short transaction, only if the row is still ours (still `sending` under our lease): `sent`
   with `sent_at` and the receiver's answer (`receipt`); or, on an error, back to `pending` with attempts + 1 and
   the next try by the back-off (notify.schedule), or `failed` after the last attempt, with `last_error`.

The one at-least-once window: a worker that stops between sending and recording (killed, the machine lost) leaves
the row `sending`; when its lease expires another run claims it again (counting the lost try as an attempt) and
sends it a second time. The message carries the same id each time (the e-mail's Message-ID, the webhook's `id`
and Idempotency-Key), derived from its dedupe key, so the receiver can drop the duplicate. Everything else is
exactly once: a row is only ever claimed by one worker at a time.

A channel with no transport configured is not claimed: its messages stay `pending` with `last_error` saying what
is missing ("no SMS gateway configured …"), and go out once it is configured. Nothing pretends to have sent them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from openidds.db import writers
from openidds.db.models import OutboxMessage
from openidds.notify import MAX_ATTEMPTS, next_attempt
from openidds.service.settings import current_settings
from openidds.worker.transports import DeliveryError, Outgoing, Transports

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)  # longer than any send can take (the transports time out after 10 s)
BATCH = 50
FALLBACK_SENDER = "openidds@localhost"
LOST = "the worker stopped while sending (its lease expired): sent again; the receiver can drop it by its id"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    channel: str
    lease: datetime  # our lease: the row's next_attempt_at while we hold it
    attempts: int
    message: Outgoing


def _claimable(s: Session, channels: list[str], now: datetime, limit: int) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status.in_(("pending", "sending")),  # sending: only once its lease has expired
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.channel.in_(channels),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(s.scalars(query))


def claim(engine: Engine, now: datetime, channels: list[str], limit: int = BATCH) -> list[Claimed]:
    """Claim up to `limit` due messages of `channels` (one short transaction): they are ours until the lease ends."""
    if not channels:
        return []
    lease = now + LEASE
    out: list[Claimed] = []
    with writers(engine)() as s, s.begin():
        notes = current_settings(s).notifications
        sender = FALLBACK_SENDER if notes is None else notes.sender
        for row in _claimable(s, channels, now, limit):
            if row.status == "sending":  # a send that never recorded its end: count it as a try
                row.attempts += 1
                row.last_error = LOST
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                    continue
            row.status, row.next_attempt_at = "sending", lease
            message = Outgoing(row.dedupe_key, row.address, row.subject, row.body, sender, now)
            out.append(Claimed(row.id, row.channel, lease, row.attempts, message))
    return out


def _record(engine: Engine, claimed: Claimed, values: dict[str, object]) -> bool:
    """Write the outcome if the row is still ours (still sending under our lease); False if it is not."""
    with writers(engine)() as s, s.begin():
        done = s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == claimed.id,
                OutboxMessage.status == "sending",
                OutboxMessage.next_attempt_at == claimed.lease,
            )
            .values(**values)
        )
        mine = bool(getattr(done, "rowcount", 0))
    if not mine:
        log.warning("outbox message %s: its lease ended before its send was recorded", claimed.id)
    return mine


def note_missing(engine: Engine, missing: dict[str, str]) -> None:
    """Say on each waiting message of an unconfigured channel why it waits (once: only rows not saying so yet)."""
    if not missing:
        return
    with writers(engine)() as s, s.begin():
        for channel, why in missing.items():
            s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.channel == channel,
                    OutboxMessage.status == "pending",
                    OutboxMessage.last_error != why,
                )
                .values(last_error=why)
            )


def _retry_later(engine: Engine, claimed: Claimed, now: datetime, error: str) -> None:
    """A failed try: pending again at the back-off's next time, or failed for good after the last attempt."""
    attempts = claimed.attempts + 1
    retry = next_attempt(attempts, now)
    values: dict[str, object] = {"attempts": attempts, "last_error": error[:1000]}
    # failed: next_attempt_at keeps the last try's time (not our lease's end)
    values.update(status="failed" if retry is None else "pending", next_attempt_at=now if retry is None else retry)
    _record(engine, claimed, values)


def deliver_due(engine: Engine, now: datetime, transports: Transports | None = None, limit: int = BATCH) -> int:
    """Send what is due at `now` (one batch per channel configured); the number delivered."""
    transports = Transports.from_env() if transports is None else transports
    note_missing(engine, dict(transports.missing))
    delivered = 0
    for claimed in claim(engine, now, sorted(transports.by_channel), limit):
        transport = transports.by_channel[claimed.channel]
        try:
            receipt = transport.send(claimed.message)
        except DeliveryError as exc:
            _retry_later(engine, claimed, now, str(exc))
            log.info("outbox message %s not delivered (attempt %s): %s", claimed.id, claimed.attempts + 1, exc)
            continue
        except Exception as exc:  # a transport's bug must not leave the row claimed until its lease ends
            log.exception("outbox message %s: the %s transport failed", claimed.id, claimed.channel)
            _retry_later(engine, claimed, now, f"internal error: {type(exc).__name__}")
            continue
        values: dict[str, object] = {
            "status": "sent",
            "sent_at": now,
            "attempts": claimed.attempts + 1,
            "receipt": receipt[:1000],
            "last_error": "",
        }
        if _record(engine, claimed, values):
            delivered += 1
    return delivered
