"""Logging in and out, one's own password, who I am, the role table, and the admin's users.

A refused password (wrong, throttled) is answered, not raised: the failure it counts and audits is written in the
request's transaction (api/deps.py `transaction` commits when the endpoint returns and rolls back when it raises),
so the next guess finds it. Every other refusal raises as usual and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from openidds.api.deps import Actor, Credentials, Now, OnceOnly, Tx
from openidds.api.errors import AUTHENTICATED, error_response, responses
from openidds.api.schemas import Id, In, Login, NewUser
from openidds.clinic.roles import matrix_markdown
from openidds.db.models import User
from openidds.service import auth, users
from openidds.service.access import actor_name, require
from openidds.service.errors import Unauthorized

router = APIRouter(prefix="/api/v1")
THROTTLED = responses(429)
Password = Annotated[str, Field(min_length=1, max_length=200)]  # the rules: clinic.accounts.check_password


# --- answers --------------------------------------------------------------------------------------------------------
class UserOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: Literal["admin", "physician", "nurse", "pharmacist", "patient"]
    patient_id: int | None = Field(description="a patient's own login: their patient record; staff: null")


class AccountOut(UserOut):
    """A login as the admin sees it."""

    active: bool = Field(description="false: disabled, it cannot log in and has no session")


class LoginOut(BaseModel):
    token: str = Field(description="send it as `Authorization: Bearer <token>`")
    expires_at: str = Field(description="when the token stops working (8 hours on), ISO 8601 UTC")
    user: UserOut


class StatusOut(BaseModel):
    status: str


class PasswordChangedOut(BaseModel):
    status: Literal["password changed"]
    sessions_ended: int = Field(description="the user's other tokens revoked (this one keeps working)")


class TokensRevokedOut(BaseModel):
    user: AccountOut
    sessions_ended: int = Field(description="how many tokens were revoked: each session ended")


class RolesOut(BaseModel):
    markdown: str


# --- what the routes take ---------------------------------------------------------------------------------------------
class PasswordChangeIn(In):
    current_password: Password
    new_password: Password


class PasswordResetIn(In):
    new_password: Password


class RoleIn(In):
    role: Literal["admin", "physician", "nurse", "pharmacist"]


def user_out(u: User) -> UserOut:
    return UserOut.model_validate(
        {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role, "patient_id": u.patient_id}
    )


def account_out(u: User) -> AccountOut:
    return AccountOut(**user_out(u).model_dump(), active=u.active)


def _address(request: Request) -> str | None:
    """The client's address from the ASGI scope: never X-Forwarded-For, which any client can write
    (service/throttle.py)."""
    return request.client.host if request.client else None


def _refused(refusal: auth.LoginRefused) -> JSONResponse:
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.status == 429 else None
    if refusal.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(refusal.status, refusal.message, field=refusal.field, headers=headers)


# --- logging in -------------------------------------------------------------------------------------------------------
@router.post("/auth/login", tags=["auth"], response_model=LoginOut, responses=responses(401, 413, 422, 429, 503))
def login(body: Login, request: Request, s: Tx, at: Now) -> LoginOut | JSONResponse:
    """A token for 8 hours. A wrong, unknown or disabled login answers 401 with the same words; after 5 failures
    for a name the next try waits 1 s, 2 s, 4 s … and the 10th locks it for 15 minutes (an address: 20 and 50):
    429 with Retry-After, the right password refused too until then."""
    outcome = auth.log_in(s, auth.LoginCommand(body.username, body.password, _address(request)), at)
    if isinstance(outcome, auth.LoginRefused):
        return _refused(outcome)
    return LoginOut(token=outcome.token, expires_at=outcome.expires_at.isoformat(), user=user_out(outcome.user))


@router.post("/auth/logout", tags=["auth"], response_model=StatusOut, responses=AUTHENTICATED)
def logout(s: Tx, at: Now, actor: Actor, credentials: Credentials) -> StatusOut:
    """Revokes the token this request carries (the scheme in any case: 'Bearer', 'bearer')."""
    if credentials is None:  # the Actor dependency has already refused a request without one
        raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
    auth.log_out(s, actor, credentials.credentials, at)
    return StatusOut(status="token revoked")


@router.post(
    "/auth/password", tags=["auth"], response_model=PasswordChangedOut, responses={**AUTHENTICATED, **THROTTLED}
)
def change_password(
    body: PasswordChangeIn, request: Request, s: Tx, at: Now, actor: Actor, credentials: Credentials
) -> PasswordChangedOut | JSONResponse:
    """A new password for the user logged in. The current password is checked (a wrong one is a 422 on
    `current_password`, counted and throttled like a failed login); every other token of the user is revoked,
    this one keeps working."""
    if credentials is None:
        raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
    change = auth.PasswordChange(body.current_password, body.new_password, credentials.credentials, _address(request))
    outcome = auth.change_password(s, actor, change, at)
    if isinstance(outcome, auth.LoginRefused):
        return _refused(outcome)
    return PasswordChangedOut(status="password changed", sessions_ended=outcome.sessions_ended)


@router.get("/auth/me", tags=["auth"], response_model=UserOut, responses=AUTHENTICATED)
def me(actor: Actor) -> UserOut:
    return user_out(actor)


@router.get("/roles", tags=["auth"], response_model=RolesOut)
def roles() -> RolesOut:
    """The role × action matrix, as the README shows it."""
    return RolesOut(markdown=matrix_markdown())


# --- the admin's users (manage-users) ---------------------------------------------------------------------------------
USERS = {**AUTHENTICATED, **responses(409)}


@router.get("/users", tags=["auth"], response_model=list[AccountOut], responses=AUTHENTICATED)
def list_users(s: Tx, actor: Actor) -> list[AccountOut]:
    """Every login, by role and then username, active or disabled."""
    return [account_out(u) for u in users.list_users(s, actor)]


@router.post("/users", status_code=201, tags=["auth"], response_model=UserOut, responses=USERS)
def create_user(body: NewUser, once: OnceOnly) -> UserOut:
    """A new login (a patient's with its `patient_id`). The password: 10 to 200 characters, not the username nor
    containing it, not one of the most common passwords."""

    def create() -> UserOut:
        require(once.actor, "manage-users")
        added = users.add_user(
            once.s,
            actor_name(once.actor),
            body.username,
            body.full_name,
            body.role,
            body.password,
            once.at,
            body.patient_id,
        )
        return user_out(added)

    # The password is left out of the request's fingerprint: the fingerprint is a fast hash, kept with the key
    return once.run(body.model_copy(update={"password": ""}), 201, create)


@router.post("/users/{user_id}/disable", tags=["auth"], response_model=AccountOut, responses=USERS)
def disable_user(user_id: Id, once: OnceOnly) -> AccountOut:
    """The login cannot log in, and its sessions end (its tokens are revoked). Not one's own, nor the last admin."""
    return once.run(None, 200, lambda: account_out(users.set_active(once.s, once.actor, user_id, False, once.at)))


@router.post("/users/{user_id}/enable", tags=["auth"], response_model=AccountOut, responses=USERS)
def enable_user(user_id: Id, once: OnceOnly) -> AccountOut:
    return once.run(None, 200, lambda: account_out(users.set_active(once.s, once.actor, user_id, True, once.at)))


@router.post("/users/{user_id}/revoke-tokens", tags=["auth"], response_model=TokensRevokedOut, responses=USERS)
def revoke_tokens(user_id: Id, once: OnceOnly) -> TokensRevokedOut:
    """Every token of the login revoked: all its sessions end (it may log in again)."""

    def revoke() -> TokensRevokedOut:
        done = users.revoke_all(once.s, once.actor, user_id, once.at)
        return TokensRevokedOut(user=account_out(done.user), sessions_ended=done.sessions_ended)

    return once.run(None, 200, revoke)


@router.post("/users/{user_id}/password", tags=["auth"], response_model=AccountOut, responses=USERS)
def reset_password(user_id: Id, body: PasswordResetIn, once: OnceOnly) -> AccountOut:
    """A new password set by the admin (the same rules as a new user's); the login's sessions end."""
    # No body in the fingerprint: a fast hash of the password would be kept with the key
    return once.run(
        None, 200, lambda: account_out(users.reset_password(once.s, once.actor, user_id, body.new_password, once.at))
    )


@router.post("/users/{user_id}/role", tags=["auth"], response_model=AccountOut, responses=USERS)
def change_role(user_id: Id, body: RoleIn, once: OnceOnly) -> AccountOut:
    """A new staff role; the login's sessions end, so no old session acts in the old role."""
    return once.run(body, 200, lambda: account_out(users.change_role(once.s, once.actor, user_id, body.role, once.at)))
