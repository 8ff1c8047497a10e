"""Per-request plumbing: one transaction per use case, the logged-in user, and the clock (read only here)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from openidds.db.models import User
from openidds.service.auth import user_for_token
from openidds.service.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="the token from POST /api/v1/auth/login")


def now(request: Request) -> datetime:
    clock = request.app.state.clock
    value: datetime = clock()
    return value


def transaction(request: Request) -> Iterator[Session]:
    """One use case, one transaction: committed if the endpoint returns, rolled back (nothing half-written) if
    anything raises. Scoped to the endpoint function, so the commit happens before the response is sent: a commit
    that fails is the client's error response, never a success for something that was not written."""
    with request.app.state.sessions() as session, session.begin():
        yield session


Tx = Annotated[Session, Depends(transaction, scope="function")]
Now = Annotated[datetime, Depends(now)]


def current_user(s: Tx, at: Now, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    if credentials is None:
        raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
    return user_for_token(s, credentials.credentials, at)


Actor = Annotated[User, Depends(current_user)]
