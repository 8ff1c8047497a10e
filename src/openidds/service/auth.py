"""Passwords (argon2) and bearer tokens that expire and can be revoked. Only token hashes are stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.db.models import Token, User
from openidds.errors import InputError
from openidds.service.errors import Unauthorized

TOKEN_LIFETIME = timedelta(hours=8)  # one clinic shift
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


def log_in(s: Session, username: str, password: str, now: datetime) -> tuple[User, str, datetime]:
    """A new token for a user whose password matches. The same message for an unknown user and a wrong password."""
    user = s.scalar(select(User).where(User.username == username))
    if not _verify_as_if_known(user, password) or user is None:
        raise Unauthorized("wrong username or password")
    raw = secrets.token_urlsafe(32)
    expires = now + TOKEN_LIFETIME
    s.add(Token(user_id=user.id, token_hash=_digest(raw), issued_at=now, expires_at=expires))
    return user, raw, expires


def second_person(s: Session, username: str, password: str, field: str = "cosign_password") -> User:
    """A second person co-signing on someone else's screen with their own username and password: checked as a
    login is, but no token is issued. A wrong pair is an InputError naming `field` (it is shown on the form)."""
    user = s.scalar(select(User).where(User.username == username.strip()))
    if not _verify_as_if_known(user, password) or user is None:
        raise InputError(field, "the second person's username or password is wrong")
    return user


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
