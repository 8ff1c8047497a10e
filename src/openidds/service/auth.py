"""Passwords (argon2), bearer tokens that expire and can be revoked (only token hashes are stored), and every
password guess throttled (clinic.throttle, kept in the database by service.throttle) and audited.

A failed guess must leave its trace although the request fails: the throttle's counts and the audit record. So
the use cases here do not raise for a wrong password or a throttled attempt: they write the failure in the
caller's transaction and return a refusal (LoginRefused), which the adapter answers (401, 422 or 429) after
committing. The co-sign (`second_person`) runs inside another use case's transaction, which its refusal rolls
back: it raises CosignRefused carrying the failure, and the adapter writes it in a transaction of its own
(`record_cosign_failure`) after the rollback.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.clinic.accounts import check_password
from openidds.clinic.throttle import Decision
from openidds.data.passwords import common_passwords
from openidds.db.models import Token, User
from openidds.errors import InputError
from openidds.service import audit, throttle
from openidds.service.access import actor_name
from openidds.service.errors import Unauthorized
from openidds.service.throttle import Attempt

TOKEN_LIFETIME = timedelta(hours=8)  # one clinic shift
WRONG = "wrong username or password"  # the same words for an unknown, a disabled and a wrong login
ANONYMOUS = "anonymous"  # the audit's actor for a guess nobody is logged in for
USERNAME_MAX = 80  # as the users table holds it
SHOWN_NAME = 60  # a typed username is kept in the audit at most this long (an entity is at most 80)
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_ok(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy: dict[int, str] = {}  # by hasher: a hash no password matches, to verify against for an unknown user


def _verify_as_if_known(user: User | None, password: str) -> bool:
    """The password checked against the user's hash, or (no such user, or disabled) against a dummy hash made with
    the same cost: a login takes as long whether the username exists or not, so it cannot be probed by timing."""
    if user is not None and user.active:
        return password_ok(user.password_hash, password)
    dummy = _dummy.get(id(_hasher))
    if dummy is None:
        dummy = _dummy[id(_hasher)] = _hasher.hash(secrets.token_urlsafe(24))
    password_ok(dummy, password)
    return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def typed_name(username: str) -> str:
    """A username as typed, for the audit: printable characters only, at most SHOWN_NAME (never the password)."""
    kept = "".join(c for c in username.strip() if c.isprintable())
    return kept if len(kept) <= SHOWN_NAME else kept[: SHOWN_NAME - 1] + "…"


# --- logging in -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoginCommand:
    username: str  # as typed
    password: str
    address: str | None  # the client's, from the ASGI scope (service.throttle says why never X-Forwarded-For)


@dataclass(frozen=True)
class LoggedIn:
    user: User
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class LoginRefused:
    """A refused password: 401 (wrong, unknown or disabled: the same words), 422 (a wrong current password, on
    `field`) or 429 (throttled: wait `retry_after` seconds). What it wrote must be committed."""

    status: int
    message: str
    retry_after: int = 0
    field: str | None = None


def log_in(s: Session, command: LoginCommand, now: datetime) -> LoggedIn | LoginRefused:
    """A new token for a user whose password matches, unless the name or the address is throttled. Run it in a
    writer's transaction and commit whatever it returns."""
    attempt = Attempt(command.username, command.address)
    decision = throttle.check(s, attempt, now)
    if not decision.allowed:
        return _throttled(decision, now)
    user = _named(s, command.username)
    if not _verify_as_if_known(user, command.password) or user is None:
        return _failed(s, attempt, now, "login-failed", LoginRefused(401, WRONG), user)
    throttle.clear_account(s, attempt)
    raw = secrets.token_urlsafe(32)
    expires = now + TOKEN_LIFETIME
    s.add(Token(user_id=user.id, token_hash=_digest(raw), issued_at=now, expires_at=expires))
    audit.record(s, actor_name(user), "login", f"user/{user.id}", now, None, {"address": attempt.counted()[1][1]})
    return LoggedIn(user, raw, expires)


def _named(s: Session, username: str) -> User | None:
    """The user of this name. A name no login can have (too long, a control character: a web form's field is not
    checked by the API's schema) is nobody, without asking the database (PostgreSQL refuses a NUL in a query)."""
    if not username or len(username) > USERNAME_MAX or not username.isprintable():
        return None
    return s.scalar(select(User).where(User.username == username))


def _throttled(decision: Decision, now: datetime) -> LoginRefused:
    """A throttled attempt: its password is not checked, so it is no guess; nothing is written (a flood of them
    costs the database nothing)."""
    return LoginRefused(429, decision.message(now), decision.retry_after(now))


def _failed(
    s: Session,
    attempt: Attempt,
    now: datetime,
    action: str,
    refusal: LoginRefused,
    user: User | None,
    actor: str = ANONYMOUS,
) -> LoginRefused:
    """One failed guess: counted for its account and address, audited, and a lock it starts audited too. `user`:
    the login the name is, if any; `actor`: who was logged in where it was typed (a co-sign on a nurse's screen, a
    password change), else anonymous.

    A name that is no login is not kept as typed: people type their password into the username box, and the trail
    is readable by the admin and can never be cleaned. It is `login/unknown` with its length."""
    counted = throttle.record_failure(s, attempt, now)
    address = attempt.counted()[1][1]
    entity = f"login/{user.username}" if user is not None else "login/unknown"
    after: dict[str, object] = {
        "username": None if user is None else user.username,
        "typed": "a login's name"
        if user
        else f"a name that is no login ({len(typed_name(attempt.username))} characters)",
        "address": address,
        "failures": counted["account"][0].count,
    }
    audit.record(s, actor, action, entity, now, None, after)
    for kind, (failures, locked) in counted.items():
        if locked:
            where = entity if kind == "account" else f"address/{address}"
            until = {"failures": failures.count, "locked_until": failures.locked_until}
            audit.record(s, actor, "login-locked", where[:80], now, None, {**after, **until})
    return refusal


def log_out(s: Session, user: User, raw: str, now: datetime) -> None:
    """Revoke the token this request carries, audited."""
    revoke(s, raw, now)
    audit.record(s, actor_name(user), "logout", f"user/{user.id}", now)


# --- a second person on someone else's screen ------------------------------------------------------------------------
class CosignRefused(InputError):
    """A co-signer's wrong password, or a throttled co-sign, on `field`. `failure`: the guess to count and audit
    once the transaction it happened in has rolled back (record_cosign_failure); None when throttled."""

    def __init__(
        self,
        field: str,
        message: str,
        status: int,
        failure: Attempt | None,
        user_id: int | None = None,
        retry_after: int = 0,
    ) -> None:
        super().__init__(field, message)
        self.status, self.failure, self.user_id = status, failure, user_id  # an id: the session it came from ends
        self.retry_after = retry_after


def second_person(
    s: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    address: str | None,
    field: str = "cosign_password",
) -> User:
    """A second person co-signing on someone else's screen with their own username and password: checked as a
    login is, throttled as a login is (it is a password guess too), but no token is issued."""
    attempt = Attempt(username.strip(), address)
    decision = throttle.check(s, attempt, now)
    if not decision.allowed:
        raise CosignRefused(field, decision.message(now), 429, None, retry_after=decision.retry_after(now))
    user = _named(s, username.strip())
    if not _verify_as_if_known(user, password) or user is None:
        raise CosignRefused(field, WRONG, 422, attempt, None if user is None else user.id)
    throttle.clear_account(s, attempt)
    return user


def record_cosign_failure(s: Session, refused: CosignRefused, now: datetime, on_screen_of: str) -> None:
    """Count and audit a co-sign's wrong password, in a writer's transaction of its own; `on_screen_of`: the
    logged-in user at whose screen it was typed (the audit's actor)."""
    if refused.failure is not None:
        throttle.check(s, refused.failure, now)  # takes the keys' locks
        user = None if refused.user_id is None else s.get(User, refused.user_id)
        _failed(s, refused.failure, now, "cosign-failed", LoginRefused(422, refused.message), user, on_screen_of)


# --- tokens ---------------------------------------------------------------------------------------------------------
def user_for_token(s: Session, raw: str, now: datetime) -> User:
    token = s.scalar(select(Token).where(Token.token_hash == _digest(raw)))
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise Unauthorized("the token is unknown, expired or revoked: log in again")
    user = s.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("the account is disabled")
    return user


def revoke(s: Session, raw: str, now: datetime) -> None:
    token = s.scalar(select(Token).where(Token.token_hash == _digest(raw)))
    if token is not None and token.revoked_at is None:
        token.revoked_at = now


def revoke_tokens(s: Session, user_id: int, now: datetime, keep: str | None = None) -> int:
    """Revoke every token of the user that still works, but the one `keep` (a raw token); how many there were."""
    kept = None if keep is None else _digest(keep)
    live = list(
        s.scalars(select(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None), Token.expires_at > now))
    )
    ended = 0
    for token in live:
        if token.token_hash != kept:
            token.revoked_at = now
            ended += 1
    return ended


# --- changing one's own password --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PasswordChange:
    current_password: str
    new_password: str
    token: str  # the session's own token: it keeps working, every other one is revoked
    address: str | None


@dataclass(frozen=True)
class PasswordChanged:
    user: User
    sessions_ended: int


def change_password(s: Session, user: User, command: PasswordChange, now: datetime) -> PasswordChanged | LoginRefused:
    """The user's new password, after their current one is checked (a guess, throttled and counted like a login's).
    Every other token of the user is revoked: a session someone else may hold ends, this one goes on. A new
    password that breaks the rules raises InputError on `new_password`; a wrong current password is a refusal on
    `current_password` (written: commit what this returns)."""
    check_password(command.new_password, "new_password", user.username, common_passwords())
    if command.new_password == command.current_password:
        raise InputError("new_password", "is the same as the current password: choose a new one")
    attempt = Attempt(user.username, command.address)
    decision = throttle.check(s, attempt, now)
    if not decision.allowed:
        return _throttled(decision, now)
    if not password_ok(user.password_hash, command.current_password):
        refusal = LoginRefused(422, "is not your current password", field="current_password")
        return _failed(s, attempt, now, "password-change-failed", refusal, user, actor_name(user))
    throttle.clear_account(s, attempt)
    user.password_hash = hash_password(command.new_password)
    ended = revoke_tokens(s, user.id, now, keep=command.token)
    audit.record(
        s, actor_name(user), "change-password", f"user/{user.id}", now, None,
        {"password": "changed", "sessions_ended": ended},
    )  # fmt: skip
    return PasswordChanged(user, ended)
