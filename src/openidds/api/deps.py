"""Per-request plumbing: one transaction per use case, the logged-in user, the clock (read only here), and POSTs
done once (the Idempotency-Key header)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from openidds.db.models import User
from openidds.service import idempotency
from openidds.service.auth import user_for_token
from openidds.service.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="the token from POST /api/v1/auth/login")
READS = ("GET", "HEAD", "OPTIONS")
T = TypeVar("T")


def now(request: Request) -> datetime:
    clock = request.app.state.clock
    value: datetime = clock()
    return value


def transaction(request: Request) -> Iterator[Session]:
    """One use case, one transaction: committed if the endpoint returns, rolled back (nothing half-written) if
    anything raises. Scoped to the endpoint function, so the commit happens before the response is sent: a commit
    that fails is the client's error response, never a success for something that was not written. A request that
    writes gets a writer's session (on SQLite it begins with the write lock: db.writers)."""
    make = request.app.state.sessions if request.method in READS else request.app.state.writers
    with make() as session, session.begin():
        yield session


Tx = Annotated[Session, Depends(transaction, scope="function")]
Now = Annotated[datetime, Depends(now)]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]  # the scheme read in any case


def current_user(s: Tx, at: Now, credentials: Credentials) -> User:
    if credentials is None:
        raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
    return user_for_token(s, credentials.credentials, at)


Actor = Annotated[User, Depends(current_user)]
IDEMPOTENCY_HELP = (
    "any unique text (a UUID): a repeat of the request with the same key answers the first result and writes "
    "nothing more"
)


@dataclass
class Once:
    """A POST's use case, run once per Idempotency-Key: a repeat answers the first result (and says so in the
    `Idempotent-Replayed` header)."""

    s: Session
    actor: User
    at: datetime
    request: Request
    response: Response
    key: str | None

    def run(self, body: BaseModel | None, status_code: int, use_case: Callable[[], T]) -> T | Any:
        payload = None if body is None else body.model_dump(mode="json")
        fingerprint = idempotency.fingerprint(self.request.method, self.request.url.path, payload, self.actor.role)
        claim = idempotency.claim(self.s, self.actor.id, self.key, fingerprint, self.at)
        if claim.status_code:
            self.response.headers["Idempotent-Replayed"] = "true"
            return claim.replay
        result = use_case()
        claim.store(status_code, jsonable_encoder(result))
        return result


def once(
    request: Request,
    response: Response,
    s: Tx,
    at: Now,
    actor: Actor,
    key: Annotated[str | None, Header(alias="Idempotency-Key", description=IDEMPOTENCY_HELP)] = None,
) -> Once:
    return Once(s, actor, at, request, response, key)


OnceOnly = Annotated[Once, Depends(once)]
