"""Adding a user outside the API: the first admin of a new clinic (`idds user add`) and the demo clinic's staff.

The API's own route checks that the caller may manage users; here the caller is named by `actor` (e.g. "cli"),
and the new user is audited like every other write.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.clinic.roles import ROLES
from openidds.db.models import Patient, User
from openidds.errors import InputError
from openidds.service import audit
from openidds.service.auth import hash_password
from openidds.service.errors import Conflict

USERNAME = re.compile(r"^[a-z0-9._-]{2,80}$")
MIN_PASSWORD = 10  # as the API asks of a new user's password


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role, "patient_id": u.patient_id}


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
    if not USERNAME.match(username):
        raise InputError("username", f"use 2-80 lower-case letters, digits, '.', '_' or '-', got {username!r}")
    if not full_name.strip():
        raise InputError("full_name", "give the user's full name")
    if role not in ROLES:
        raise InputError("role", f"expected one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD:
        raise InputError("password", f"must be at least {MIN_PASSWORD} characters")
    if (role == "patient") != (patient_id is not None):
        raise InputError("patient_id", "a patient login needs its patient id, and only a patient login has one")
    if patient_id is not None and s.get(Patient, patient_id) is None:
        raise InputError("patient_id", f"no patient with id {patient_id}")
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} already exists")
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
