"""Notification pages: the Outbox (what was sent, what waits and why), the Demo mailbox (what the demo's loopback
mail catcher received), and "How we remind you" (a patient's contact preferences, for the patient themselves or
their care team). Thin: the use cases are service.contacts; the texts are written by service.notify."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from openidds.api.routers.notifications import ContactIn
from openidds.api.schemas import Id
from openidds.db.models import User
from openidds.notify.templates import language
from openidds.service import contacts
from openidds.service.access import require
from openidds.service.errors import NotFound
from openidds.service.pathway import read_patient
from openidds.service.settings import current_settings
from openidds.web.forms import parse_in, whole
from openidds.web.session import Posted, WebError, Work, render, submit, unit_of_work

router = APIRouter(include_in_schema=False)
CHANNEL_WORDS = {"email": "By e-mail", "sms": "By text message (SMS)", "none": "No reminders"}
STATUS_FILTERS = ("", *contacts.STATUSES)


@router.get("/outbox")
def outbox_page(request: Request, status: str = "", patient: str = "") -> Response:
    """The newest messages (`status`: only those; `patient`: one patient's, the chart's link)."""
    with unit_of_work(request) as w:
        wanted = status if status in contacts.STATUSES else None
        pid = int(patient) if patient.isdecimal() and len(patient) < 10 else None
        messages = contacts.list_outbox(w.s, w.user, wanted, 200, pid)
        return render(
            request,
            "outbox.html",
            user=w.user,
            messages=messages,
            counts=contacts.outbox_counts(w.s, w.user),
            bodies=contacts.shows_bodies(w.user),
            shown=wanted or "",
            patient=pid,
            statuses=STATUS_FILTERS,
            tz=current_settings(w.s).timezone,
            demo_mail=getattr(request.app.state, "demo_mailbox", None) is not None,
        )


@router.get("/outbox/demo-mail")
def demo_mail_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        require(w.user, "read-outbox")
        mailbox = getattr(request.app.state, "demo_mailbox", None)
        if mailbox is None:
            raise NotFound("no demo mailbox: it runs with `idds serve --demo`")
        return render(
            request,
            "outbox_demo_mail.html",
            user=w.user,
            address=mailbox.address,
            messages=list(reversed(mailbox.messages())),
            bodies=contacts.shows_bodies(w.user),
            tz=current_settings(w.s).timezone,
        )


def _clinicians(w: Work) -> list[tuple[str, str]]:
    found = w.s.scalars(
        select(User).where(User.role.in_(contacts.CLINICIANS), User.active).order_by(User.full_name, User.id)
    )
    return [(str(u.id), f"{u.full_name} ({u.role})") for u in found]


def _contact_page(
    request: Request, w: Work, patient_id: int, values: dict[str, Any] | None, error: str | None, status: int
) -> Response:
    patient = read_patient(w.s, w.user, patient_id)
    require(w.user, "set-contact", patient_id=patient_id)
    current = contacts.contact_json(w.s, patient_id)
    if values is None:
        values = {k: "" if v is None else str(v) for k, v in current.items()}
    offered = contacts.languages(w.s)
    return render(
        request,
        "contact.html",
        status,
        user=w.user,
        patient=patient,
        values=values,
        error=error,
        saved=request.query_params.get("saved") == "1" and error is None,
        own=w.user.role == "patient",
        channels=list(CHANNEL_WORDS.items()),
        languages=[(code, language(code).name) for code in offered],
        clinicians=_clinicians(w) if w.user.role != "patient" else [],
        responsible=dict(_clinicians(w)).get(str(current["responsible_user_id"]), ""),
        settings=current_settings(w.s),
    )


@router.get("/patients/{patient_id}/contact")
def contact_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        return _contact_page(request, w, patient_id, None, None, 200)


@router.post("/patients/{patient_id}/contact")
def contact_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        data: dict[str, Any] = {
            "channel": form.get("channel"),
            "email": form.get("email") or None,
            "phone": form.get("phone") or None,
            "language": form.get("language") or None,
        }
        if w.user.role != "patient":
            data["responsible_user_id"] = whole(form, "responsible_user_id")
        else:
            data["responsible_user_id"] = contacts.contact_json(w.s, patient_id)["responsible_user_id"]
        body = parse_in(ContactIn, data)
        contacts.set_contact(w.s, w.user, patient_id, body.to_change(), w.now)
        return f"/patients/{patient_id}/contact?saved=1"

    def show_again(w: Work, err: WebError) -> Response:
        return _contact_page(request, w, patient_id, form.as_dict(), err.message, err.status)

    return submit(request, write, show_again)
