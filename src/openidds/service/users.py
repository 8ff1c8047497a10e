"""Users and their logins: adding one, disabling or enabling it, resetting its password, changing its role.

`add_user` serves the first admin of a new clinic (`idds user add`) and the demo clinic's staff: there the caller
is named by `actor` (e.g. "cli"). The others are the admin's use cases (the web's user pages): each checks that the
logged-in `actor` may manage users, applies the rules of openidds.clinic.accounts, and writes one audit record.
Every change that could leave an old session acting as someone the user no longer is (disabled, a new password, a
new role) revokes all that user's tokens, and so ends their web sessions too (a web session is a token:
web/session.py).

Run them in a writer's session (db.writers): on SQLite it holds the write lock from the start; on PostgreSQL the
admins' rows and the user's are locked (FOR NO KEY UPDATE) before the rules count the active admins, so two admins
disabling each other at once cannot both succeed and leave the clinic without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from openidds.clinic.accounts import (
    MIN_PASSWORD,
    STAFF_ROLES,
    check_password,
    check_role_change,
    disable_refusal,
    role_change_refusal,
)
from openidds.clinic.roles import ROLES
from openidds.data.passwords import common_passwords
from openidds.db.models import Patient, User
from openidds.errors import InputError
from openidds.service import audit, throttle
from openidds.service.access import actor_name, require
from openidds.service.auth import hash_password, revoke_tokens
from openidds.service.errors import Conflict, NotFound
from openidds.validation import normal_text

USERNAME = re.compile(r"[a-z0-9._-]{2,80}")  # a whole username: USERNAME.fullmatch
__all__ = [
    "MIN_PASSWORD",
    "STAFF_ROLES",
    "USERNAME",
    "add_user",
    "change_role",
    "create_user",
    "list_users",
    "reset_password",
    "revoke_all",
    "set_active",
    "user_json",
]


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role, "patient_id": u.patient_id}


def _state(u: User) -> dict[str, Any]:
    """What the audit keeps of a login before and after a change (never its password hash)."""
    return {**user_json(u), "active": u.active}


def add_user(
    s: Session,
    actor: str,
    username: str,
    full_name: str,
    role: str,
    password: str,
    now: datetime,
    patient_id: int | None = None,
    password_hash: str | None = None,
) -> User:
    """A new login, its password hashed with argon2 (or `password_hash`, the argon2 hash of `password` made
    earlier); one audit record with `actor` as who did it."""
    if not USERNAME.fullmatch(username):  # fullmatch: `$` alone lets a trailing newline through
        raise InputError("username", f"use 2-80 lower-case letters, digits, '.', '_' or '-', got {username[:90]!r}")
    try:  # the API's rule for a name (api/schemas.py Name), here for the web's form and `idds user add` too
        full_name = normal_text(full_name, max_length=200)
    except ValueError as exc:
        raise InputError("full_name", str(exc)) from None
    if not full_name:
        raise InputError("full_name", "give the user's full name")
    if role not in ROLES:
        raise InputError("role", f"expected one of {', '.join(ROLES)}, got {role!r}")
    # A password hashed beforehand is the demo's public `<username>-demo` (service/demo_roster.py): the demo keeps
    # its documented logins, so the rules for a password a person chooses (not the username) are not applied.
    check_password(password, "password", None if password_hash else username, common_passwords())
    if (role == "patient") != (patient_id is not None):
        raise InputError("patient_id", "a patient login needs its patient id, and only a patient login has one")
    if patient_id is not None and s.get(Patient, patient_id) is None:
        raise InputError("patient_id", f"no patient with id {patient_id}")
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} already exists", field="username")
    user = User(
        username=username,
        full_name=full_name.strip(),
        role=role,
        password_hash=password_hash or hash_password(password),
        patient_id=patient_id,
        created_at=now,
    )
    s.add(user)
    s.flush()
    audit.record(s, actor, "create-user", f"user/{user.id}", now, None, user_json(user))
    return user


# --- the admin's use cases ------------------------------------------------------------------------------------------
def list_users(s: Session, actor: User) -> list[User]:
    """Every login, by role and then username."""
    require(actor, "manage-users")
    return list(s.scalars(select(User).order_by(User.role, User.username)))


def create_user(
    s: Session, actor: User, username: str, full_name: str, role: str, password: str, now: datetime
) -> User:
    """A new staff login, added by a logged-in admin (a patient's login is added with its patient record's id:
    `idds user add --patient-id` or the API)."""
    require(actor, "manage-users")
    if role == "patient":
        raise InputError("role", "a patient's login is added with their patient record (idds user add or the API)")
    return add_user(s, actor_name(actor), username, full_name, role, password, now)


def set_active(s: Session, actor: User, user_id: int, active: bool, now: datetime) -> User:
    """Enable or disable a login. Disabled, its tokens are revoked (its sessions end) and it cannot log in."""
    require(actor, "manage-users")
    user, active_admins = _lock(s, user_id)
    if user.active == active:
        raise Conflict(f"the login {user.username} is already {'active' if active else 'disabled'}")
    if not active:
        refusal = disable_refusal(actor.id, user.id, user.role, user.active, active_admins)
        if refusal is not None:
            raise Conflict(refusal)
    before = _state(user)
    user.active = active
    ended = 0 if active else revoke_tokens(s, user.id, now)
    action = "enable-user" if active else "disable-user"
    audit.record(
        s, actor_name(actor), action, f"user/{user.id}", now, before, {**_state(user), "sessions_ended": ended}
    )
    return user


def reset_password(s: Session, actor: User, user_id: int, new_password: str, now: datetime) -> User:
    """A new password for a login (as add_user asks of one); its tokens are revoked, so its sessions end. Its
    failed logins are forgotten: the admin has just given the password in person, so a lock its guessers left
    must not keep its owner out (a lock on the computer's address stays)."""
    require(actor, "manage-users")
    check_password(new_password, "new_password", None, common_passwords())
    user, _ = _lock(s, user_id)
    check_password(new_password, "new_password", user.username, common_passwords())
    user.password_hash = hash_password(new_password)
    ended = revoke_tokens(s, user.id, now)
    throttle.clear_account(s, throttle.Attempt(user.username, None))
    audit.record(
        s,
        actor_name(actor),
        "reset-password",
        f"user/{user.id}",
        now,
        _state(user),
        {**_state(user), "password": "reset", "sessions_ended": ended},
    )
    return user


def change_role(s: Session, actor: User, user_id: int, role: str, now: datetime) -> User:
    """A new staff role for a staff login; its tokens are revoked, so no old session keeps acting in the old role."""
    require(actor, "manage-users")
    user, active_admins = _lock(s, user_id)
    check_role_change(user.role, role)
    refusal = role_change_refusal(user.role, role, user.active, active_admins, actor.id, user.id)
    if refusal is not None:
        raise Conflict(refusal)
    before = _state(user)
    user.role = role
    ended = revoke_tokens(s, user.id, now)
    audit.record(
        s, actor_name(actor), "change-role", f"user/{user.id}", now, before, {**_state(user), "sessions_ended": ended}
    )
    return user


@dataclass(frozen=True)
class TokensRevoked:
    user: User
    sessions_ended: int


def revoke_all(s: Session, actor: User, user_id: int, now: datetime) -> TokensRevoked:
    """Revoke every token of a login (a lost phone, a shared password): all its sessions end; it may log in again."""
    require(actor, "manage-users")
    user, _ = _lock(s, user_id)
    ended = revoke_tokens(s, user.id, now)
    audit.record(
        s, actor_name(actor), "revoke-tokens", f"user/{user.id}", now, _state(user),
        {**_state(user), "sessions_ended": ended},
    )  # fmt: skip
    return TokensRevoked(user, ended)


def _lock(s: Session, user_id: int) -> tuple[User, int]:
    """The user and how many active admins there are, read under lock (PostgreSQL: the admins' rows and the user's,
    FOR NO KEY UPDATE, in id order; SQLite: the writer's transaction holds the database's write lock)."""
    query = (
        select(User)
        .where(or_(User.id == user_id, User.role == "admin"))
        .order_by(User.id)
        .execution_options(populate_existing=True)
    )
    if s.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(key_share=True)
    rows = list(s.scalars(query))
    user = next((u for u in rows if u.id == user_id), None)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user, sum(1 for u in rows if u.role == "admin" and u.active)
