"""Notifications: a patient's contact preferences (how they are reminded), and the outbox (what was sent and what
waits). The texts themselves are written by the use cases that cause them (service.notify)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from openidds.api.answers import Instant
from openidds.api.deps import Actor, OnceOnly, Tx
from openidds.api.routers.common import READS, WRITES
from openidds.api.schemas import Code, Id, In, Label, Name, RecordId
from openidds.service import contacts

router = APIRouter(prefix="/api/v1")


class ContactIn(In):
    """How the patient is reminded: by e-mail, by SMS, or not at all; the channel's address is required."""

    channel: Literal["email", "sms", "none"] = Field(description="how reminders reach the patient")
    email: Name | None = Field(default=None, description="required for channel 'email' (name@example.org)")
    phone: Label | None = Field(default=None, description="required for channel 'sms' (+1 555 555 0123)")
    language: Code | None = Field(default=None, description="a language the clinic sends in")
    responsible_user_id: RecordId | None = Field(
        default=None, description="the responsible clinician (a physician's or nurse's user id): gets urgent flags"
    )

    def to_change(self) -> contacts.ContactChange:
        return contacts.ContactChange(self.channel, self.email, self.phone, self.language, self.responsible_user_id)


class ContactOut(BaseModel):
    patient_id: int
    channel: Literal["email", "sms", "none"]
    email: str | None
    phone: str | None
    language: str
    responsible_user_id: int | None
    updated_at: Instant | None = Field(description="null: never set (nothing is sent to the patient)")


class OutboxMessageOut(BaseModel):
    """A notification: to whom, by which channel, and what became of it. `subject` and `body` are absent for an
    admin (who sees no clinical record)."""

    id: int
    event: str = Field(examples=["visit-reminder-7d", "missed-visit", "urgent-flag"])
    patient_id: int | None
    user_id: int | None
    channel: Literal["email", "sms"]
    address: str
    language: str
    status: Literal["pending", "sending", "sent", "failed"]
    attempts: int
    next_attempt_at: Instant = Field(description="pending: the next try; sending: when the worker's lease ends")
    created_at: Instant
    sent_at: Instant | None
    last_error: str
    receipt: str = Field(description="what the mail server or SMS gateway answered")
    subject: str | None = None
    body: str | None = None


@router.get(
    "/patients/{patient_id}/contact",
    tags=["notifications"],
    response_model=ContactOut,
    responses=READS,
)
def read_contact(patient_id: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    """How the patient is reminded (channel `none` and `updated_at` null when nothing was ever chosen)."""
    return contacts.read_contact(s, actor, patient_id)


@router.put(
    "/patients/{patient_id}/contact",
    tags=["notifications"],
    response_model=ContactOut,
    responses=WRITES,
)
def set_contact(patient_id: Id, body: ContactIn, once: OnceOnly) -> Any:
    """Replace how the patient is reminded (a nurse or physician for any patient; a patient for themselves, who
    cannot change their responsible clinician). Audited."""
    return once.run(body, 200, lambda: contacts.set_contact(once.s, once.actor, patient_id, body.to_change(), once.at))


@router.get(
    "/outbox",
    tags=["notifications"],
    response_model=list[OutboxMessageOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def outbox(
    s: Tx,
    actor: Actor,
    status: Annotated[Literal["pending", "sending", "sent", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=contacts.OUTBOX_LIMIT)] = 100,
    patient_id: Annotated[Id | None, Query()] = None,
) -> list[dict[str, Any]]:
    """The newest notifications first (an admin, physician or nurse; never a patient)."""
    bodies = contacts.shows_bodies(actor)
    return [contacts.outbox_json(m, bodies) for m in contacts.list_outbox(s, actor, status, limit, patient_id)]
