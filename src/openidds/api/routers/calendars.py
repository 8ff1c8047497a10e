"""Secret calendar feeds: make (the URL shown once), list, revoke; and the public feed at /calendar/{secret}.ics.

The public feed needs no login: the secret in its URL is the credential (a calendar app cannot log in). So it
answers the same 404, byte for byte, for a malformed, an unknown and a revoked secret, and it is never cached
(`Cache-Control: no-store`). It is not an /api/v1 operation and is left out of the OpenAPI schema (it answers
iCalendar, not JSON); the README documents it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field

from openidds.api.answers import Instant, Out
from openidds.api.deps import Actor, Now, OnceOnly, Tx
from openidds.api.routers.common import READS, WRITES, Json
from openidds.api.schemas import Id, In, Label, RecordId
from openidds.service import feeds as feeds_service
from openidds.service import idempotency

router = APIRouter()
SHOWN_ONCE = "the URL is shown this once: copy it into the calendar app now (lost: revoke it and make another)"
REPLAYED = "a repeat of the request: the URL was shown only in the first answer (lost: revoke it and make another)"
CALENDAR_TYPE = "text/calendar; charset=utf-8"
# Never kept by a browser or proxy; never sniffed as HTML; the secret URL not sent on as a Referer.
FEED_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
NO_FEED = b"no such calendar feed\n"


class FeedIn(In):
    scope: Literal["clinic", "clinician", "patient"] = Field(
        description="clinic: every visit; clinician: the visits of one clinician; patient: one patient's visits"
    )
    subject_id: RecordId | None = Field(
        default=None,
        description="clinician: the user's id (left out: yourself); patient: the patient's id (left out, for a "
        "patient: their own); clinic: left out",
    )
    label: Label | None = Field(default=None, description="a name for the list (left out: one is made up)")


class FeedOut(Out):
    """A feed, never its secret."""

    id: int
    scope: Literal["clinic", "clinician", "patient"]
    subject_id: int | None
    label: str
    created_by: int
    created_at: Instant
    revoked_at: Instant | None
    revoked_by: int | None


class FeedCreatedOut(FeedOut):
    url: str | None = Field(
        description="the secret URL to subscribe to, shown once (null when this answer repeats the first, by its "
        "Idempotency-Key: the secret is nowhere stored)"
    )
    note: str


@router.post(
    "/api/v1/calendar-feeds",
    status_code=201,
    tags=["calendar feeds"],
    response_model=FeedCreatedOut,
    responses=WRITES,
)
def create_feed(body: FeedIn, once: OnceOnly) -> Json:
    """A new secret calendar feed (iCalendar) for the clinic, one clinician or one patient. Its URL is in this
    answer only: only the secret's hash is stored."""
    # Not `once.run`: it keeps the answer for a repeat, and the answer holds the secret. The repeat's answer is kept
    # without it.
    payload = body.model_dump(mode="json")
    fingerprint = idempotency.fingerprint(once.request.method, once.request.url.path, payload, once.actor.role)
    claim = idempotency.claim(once.s, once.actor.id, once.key, fingerprint, once.at)
    if claim.status_code:
        once.response.headers["Idempotent-Replayed"] = "true"
        replay: Json = claim.replay
        return replay
    made = feeds_service.create_feed(once.s, once.actor, body.scope, body.subject_id, once.at, body.label)
    answer = feeds_service.feed_json(made.feed)
    claim.store(201, {**answer, "url": None, "note": REPLAYED})
    return {**answer, "url": feed_url(once.request, made.secret), "note": SHOWN_ONCE}


@router.get("/api/v1/calendar-feeds", tags=["calendar feeds"], response_model=list[FeedOut], responses=READS)
def list_feeds(s: Tx, actor: Actor) -> list[Json]:
    """The feeds you see, newest first: a clinician the clinic's, their own and those they made; a patient their
    own. Never a secret."""
    return [feeds_service.feed_json(f) for f in feeds_service.visible_feeds(s, actor)]


@router.post(
    "/api/v1/calendar-feeds/{feed_id}/revoke", tags=["calendar feeds"], response_model=FeedOut, responses=WRITES
)
def revoke_feed(feed_id: Id, once: OnceOnly) -> Json:
    """End a feed's URL for good: it answers 404 from now on, like an unknown one."""
    return once.run(
        None, 200, lambda: feeds_service.feed_json(feeds_service.revoke_feed(once.s, once.actor, feed_id, once.at))
    )


@router.get("/calendar/{secret}.ics", include_in_schema=False)
def public_feed(secret: str, s: Tx, at: Now) -> Response:
    feed = feeds_service.feed_for_secret(s, secret)
    if feed is None:  # malformed, unknown or revoked: one answer
        return Response(NO_FEED, status_code=404, media_type="text/plain; charset=utf-8", headers=FEED_HEADERS)
    body = feeds_service.feed_calendar(s, feed, at)
    headers = {**FEED_HEADERS, "Content-Disposition": 'inline; filename="openidds.ics"'}
    return Response(body, media_type=CALENDAR_TYPE, headers=headers)


def feed_url(request: Request, secret: str) -> str:
    """The feed's URL on this server, as the request reached it."""
    return str(request.base_url).rstrip("/") + feeds_service.feed_path(secret)
