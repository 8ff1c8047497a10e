"""A POST done once: the first result kept by (user, key), so a repeat (a retry after a lost answer, a double
click) answers the first result instead of writing a second record.

The API takes the key from the `Idempotency-Key` header; the web app from the one-time token in each form. The key
is claimed at the start of the writer's transaction and its answer stored in the same transaction: a request that
fails leaves nothing (its retry runs afresh), and of two requests with one key at once the second waits for the
first's commit and then answers its result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openidds.db.models import IdempotencyKey
from openidds.errors import InputError
from openidds.service.errors import Conflict

KEY_MAX = 200
HEADER = "Idempotency-Key"


def fingerprint(method: str, path: str, body: Any = None, role: str = "") -> str:
    """What the request asked for, and in which role: a repeat with the same key must ask for the same thing as the
    same role (a login whose role has changed since may no longer read what the first answer holds)."""
    request = [method.upper(), path, body, role]
    try:
        doc = orjson.dumps(request, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # what orjson cannot write (an integer past 64 bits): the standard library can
        doc = json.dumps(request, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(doc).hexdigest()


@dataclass
class Claim:
    row: IdempotencyKey | None  # None: no key was given, nothing is kept
    replay: Any = None  # the first result, when this request repeats it
    status_code: int = 0  # the first result's status: not 0 when this request repeats it

    def store(self, status_code: int, response: Any) -> None:
        if self.row is not None:
            self.row.status_code, self.row.response = status_code, response


def claim(s: Session, user_id: int, key: str | None, fingerprint_: str, now: datetime, field: str = HEADER) -> Claim:
    """Claim `key` for this request, or find the first result of the request that claimed it."""
    if key is None:
        return Claim(None)
    if not 1 <= len(key) <= KEY_MAX or not key.isascii() or not key.isprintable():
        raise InputError(field, f"1 to {KEY_MAX} printable ASCII characters, e.g. a UUID")
    found = _find(s, user_id, key)
    if found is None:
        row = IdempotencyKey(user_id=user_id, key=key, fingerprint=fingerprint_, status_code=0, created_at=now)
        try:
            with s.begin_nested():  # a concurrent request with the same key waits here for the first to commit
                s.add(row)
        except IntegrityError:
            found = _find(s, user_id, key)
            if found is None:  # the first one failed and left nothing: nothing to repeat
                raise Conflict("a request with this Idempotency-Key was running: send it again") from None
        else:
            return Claim(row)
    if found.fingerprint != fingerprint_:
        raise InputError(field, "this key was already used for another request: use a new key for a new request")
    if found.status_code == 0:
        raise Conflict("the first request with this Idempotency-Key has not finished: send it again")
    return Claim(found, found.response, found.status_code)


def _find(s: Session, user_id: int, key: str) -> IdempotencyKey | None:
    return s.scalars(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    ).first()
