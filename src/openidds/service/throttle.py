"""Login throttling in the database (the policy: clinic.throttle). Every server worker reads and writes the same
counts, so guesses spread over workers are counted together.

One guess at a time per key: on PostgreSQL each attempt takes a transaction-scoped advisory lock on its account
and its address (always in that order, so two attempts never wait on each other crosswise) and holds it until
its transaction ends, password check included; on SQLite a writer's transaction holds the database's write lock
from its start (db.writers). So N guesses sent at once are checked one after another against the counts the
previous ones left, never all against the same stale count.

The client address is the ASGI scope's (`request.client.host`), never X-Forwarded-For: any client can write that
header, and a guesser would send a new address with each guess. Behind a reverse proxy, let the server take the
address from its trusted proxies only (uvicorn --proxy-headers --forwarded-allow-ips=<the proxy>), which sets the
scope's client; otherwise every login counts as the proxy's address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from openidds.clinic.throttle import (
    ACCOUNT,
    ADDRESS,
    Decision,
    Failures,
    Kind,
    account_key,
    address_key,
    after_failure,
    decide,
)
from openidds.db.models import LoginThrottle
from openidds.service import audit

PRUNE_BATCH = 100  # rows forgotten per failure written: the table stays small without a sweeper
_FORGOTTEN = max(ACCOUNT.forget_after, ADDRESS.forget_after)


@dataclass(frozen=True)
class Attempt:
    """Who is guessing a password: the username as typed and the client's address."""

    username: str
    address: str | None

    def counted(self) -> tuple[tuple[Kind, str], tuple[Kind, str]]:
        return ("account", account_key(self.username)), ("address", address_key(self.address))


def check(s: Session, attempt: Attempt, now: datetime) -> Decision:
    """Lock the attempt's keys for this transaction, and decide: allowed, or refused until the later of the two
    keys' waits (a lock's reason before a delay's)."""
    _lock(s, attempt)
    refusals = [d for kind, key in attempt.counted() if not (d := decide(kind, _read(s, kind, key), now)).allowed]
    if not refusals:
        return Decision(True)
    latest = max(refusals, key=lambda d: d.retry_at or now)
    return Decision(False, latest.retry_at, latest.reason)


def record_failure(s: Session, attempt: Attempt, now: datetime) -> dict[Kind, tuple[Failures, bool]]:
    """Count one more failure for the account and the address: what each key now remembers, and whether this
    failure locked it. Call after `check` (which takes the keys' locks)."""
    counted: dict[Kind, tuple[Failures, bool]] = {}
    for kind, key in attempt.counted():
        failures, locked = after_failure(kind, _read(s, kind, key), now)
        _write(s, kind, key, failures)
        counted[kind] = (failures, locked)
    _prune(s, now)
    return counted


def clear_account(s: Session, attempt: Attempt) -> None:
    """A successful login: its account's failures are forgotten (its address's are not: clinic.throttle)."""
    kind, key = attempt.counted()[0]
    s.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.kind == kind, LoginThrottle.key == key)
        .execution_options(synchronize_session=False)
    )


def locked_logins(s: Session, usernames: list[str], now: datetime) -> dict[str, datetime]:
    """Which of these logins are locked now, and until when (the admin's Users page shows it)."""
    keys = {account_key(name): name for name in usernames}
    rows = s.execute(
        select(LoginThrottle.key, LoginThrottle.locked_until).where(
            LoginThrottle.kind == "account", LoginThrottle.key.in_(list(keys)), LoginThrottle.locked_until > now
        )
    )
    return {keys[key]: until for key, until in rows if until is not None}


def unlock(s: Session, username: str, address: str | None, now: datetime, actor: str) -> int:
    """Lift a lock by hand: the login name's count (and the address's, if given) forgotten, audited. For the one
    who runs the server (`idds user unlock`), when guessers keep a login, the last admin's too, locked. How many
    counts were forgotten."""
    attempt = Attempt(username, address)
    _lock(s, attempt)
    keys = [attempt.counted()[0]] + ([attempt.counted()[1]] if address is not None else [])
    forgotten = 0
    for kind, key in keys:
        result = s.execute(
            delete(LoginThrottle)
            .where(LoginThrottle.kind == kind, LoginThrottle.key == key)
            .execution_options(synchronize_session=False)
        )
        forgotten += int(getattr(result, "rowcount", 0) or 0)
    entity = f"login/{username}"[:80]
    audit.record(s, actor, "unlock-login", entity, now, None, {"address": address, "forgotten": forgotten})
    return forgotten


def _lock(s: Session, attempt: Attempt) -> None:
    if s.get_bind().dialect.name != "postgresql":
        return  # SQLite: the writer's transaction already holds the write lock
    for kind, key in attempt.counted():
        digest = hashlib.sha256(f"openidds-login-throttle {kind} {key}".encode()).digest()
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)})


def _read(s: Session, kind: Kind, key: str) -> Failures:
    row = s.execute(
        select(LoginThrottle.failures, LoginThrottle.last_failure_at, LoginThrottle.locked_until).where(
            LoginThrottle.kind == kind, LoginThrottle.key == key
        )
    ).first()
    return Failures() if row is None else Failures(row.failures, row.last_failure_at, row.locked_until)


def _write(s: Session, kind: Kind, key: str, failures: Failures) -> None:
    """Insert or update the key's row in one statement (a pruner may have removed it meanwhile)."""
    values = {
        "kind": kind,
        "key": key,
        "failures": failures.count,
        "last_failure_at": failures.last_at,
        "locked_until": failures.locked_until,
    }
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(LoginThrottle).values(**values)
    s.execute(
        statement.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={k: statement.excluded[k] for k in ("failures", "last_failure_at", "locked_until")},
        )
    )


def _prune(s: Session, now: datetime) -> None:
    """Forget rows no policy counts any more. PostgreSQL skips rows another attempt holds, so pruning never waits."""
    stale = (
        select(LoginThrottle.id)
        .where(
            LoginThrottle.last_failure_at < now - _FORGOTTEN,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
        )
        .limit(PRUNE_BATCH)
    )
    if s.get_bind().dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    s.execute(delete(LoginThrottle).where(LoginThrottle.id.in_(stale)).execution_options(synchronize_session=False))
