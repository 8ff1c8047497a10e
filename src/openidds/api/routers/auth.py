"""Logging in and out, who I am, the role table, and users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.api.deps import Actor, Credentials, Now, OnceOnly, Tx
from openidds.api.routers.common import user_json
from openidds.api.schemas import (
    Login,
    NewUser,
)
from openidds.clinic.roles import matrix_markdown
from openidds.db.models import (
    User,
)
from openidds.errors import InputError
from openidds.service import audit, auth
from openidds.service.access import actor_name, require
from openidds.service.errors import Conflict

router = APIRouter(prefix="/api/v1")


# --- logging in ---------------------------------------------------------------------------------------------------
@router.post("/auth/login", tags=["auth"])
def login(body: Login, s: Tx, at: Now) -> dict[str, Any]:
    user, token, expires = auth.log_in(s, body.username, body.password, at)
    return {"token": token, "expires_at": expires.isoformat(), "user": user_json(user)}


@router.post("/auth/logout", tags=["auth"])
def logout(s: Tx, at: Now, actor: Actor, credentials: Credentials) -> dict[str, str]:
    """Revokes the token this request carries (the scheme in any case: 'Bearer', 'bearer')."""
    if credentials is not None:
        auth.revoke(s, credentials.credentials, at)
    return {"status": "token revoked"}


@router.get("/auth/me", tags=["auth"])
def me(actor: Actor) -> dict[str, Any]:
    return user_json(actor)


@router.get("/roles", tags=["auth"])
def roles() -> dict[str, str]:
    """The role × action matrix, as the README shows it."""
    return {"markdown": matrix_markdown()}


@router.post("/users", status_code=201, tags=["auth"])
def create_user(body: NewUser, once: OnceOnly) -> dict[str, Any]:
    return once.run(body, 201, lambda: _create_user(body, once.s, once.at, once.actor))


def _create_user(body: NewUser, s: Session, at: datetime, actor: User) -> dict[str, Any]:
    require(actor, "manage-users")
    if s.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise Conflict(f"user {body.username} already exists")
    if (body.role == "patient") != (body.patient_id is not None):
        raise InputError("patient_id", "a patient login needs its patient_id, and only a patient login has one")
    user = User(
        username=body.username,
        full_name=body.full_name,
        role=body.role,
        password_hash=auth.hash_password(body.password),
        patient_id=body.patient_id,
        created_at=at,
    )
    s.add(user)
    s.flush()
    audit.record(s, actor_name(actor), "create-user", f"user/{user.id}", at, None, user_json(user))
    return user_json(user)
