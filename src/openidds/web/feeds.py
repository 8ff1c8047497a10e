"""Calendar feeds pages (service.feeds): the care team's `/calendar-feeds` (the clinic's feed, one's own, those one
made; make one, revoke one) and a patient's `/patients/{pid}/calendar-feed` (their own, for the patient or their
physician or nurse).

A new feed's secret URL is shown once, on the answer to the form that made it (a read-only field to copy, and a
webcal: link a phone opens in its calendar app): it is stored nowhere, so it cannot be shown again, and it never
travels in a redirect's address (a browser's history, a proxy's log). That answer is not cached (no-store, like
every page). The form's one-time token makes a second send (a reload) answer without the secret, saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from openidds.api.schemas import Id
from openidds.db.models import CalendarFeed, Patient, User
from openidds.errors import InputError
from openidds.service import feeds as feeds_service
from openidds.service import pathway
from openidds.service.errors import NotFound
from openidds.service.feeds import NewFeed
from openidds.web.admin import clinic_zone, in_words
from openidds.web.forms import whole_number
from openidds.web.session import (
    NOT_ON_FORM,
    Posted,
    WebError,
    Work,
    claim_form,
    redirect,
    render,
    submit,
    unit_of_work,
)

router = APIRouter(include_in_schema=False)
TEMPLATE = "calendar_feeds.html"
AGAIN = (
    "This form was already sent: the feed was made then, and its address shown once. If it was not copied, revoke "
    "that feed and make another."
)
DONE = {"revoked": "The feed is revoked: its address no longer works."}


def _page(
    request: Request,
    w: Work,
    patient: Patient | None = None,
    error: WebError | None = None,
    shown: dict[str, str] | None = None,
    notice: str = "",
) -> Response:
    """The list and the form; `shown`: a feed just made, with its secret URL (this answer only)."""
    if patient is None:
        feeds = feeds_service.visible_feeds(w.s, w.user)
    else:
        feeds = feeds_service.patient_feeds(w.s, w.user, patient.id)
    ids = {f.created_by for f in feeds} | {f.revoked_by for f in feeds if f.revoked_by is not None}
    ids |= {f.subject_id for f in feeds if f.scope == "clinician" and f.subject_id is not None}
    names = {u.id: u.full_name for u in w.s.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    done = request.query_params.get("done", "")
    return render(
        request,
        TEMPLATE,
        status=error.status if error else 200,
        user=w.user,
        patient=patient,
        feeds=[_row(f, names) for f in feeds],
        clinicians=[] if patient is not None else _clinicians(w),
        zone=clinic_zone(request),
        shown=shown,
        notice=notice or DONE.get(done, ""),
        error=in_words(error) if error else "",
    )


def _row(feed: CalendarFeed, names: dict[int, str]) -> dict[str, Any]:
    follows = {
        "clinic": "every visit of the clinic",
        "patient": "the patient's own visits",
        "clinician": f"the visits of {names.get(feed.subject_id or 0, 'a clinician')}",
    }
    return {
        "id": feed.id,
        "label": feed.label,
        "follows": follows.get(feed.scope, feed.scope),
        "made_by": names.get(feed.created_by, "someone"),
        "created_at": feed.created_at,
        "revoked_at": feed.revoked_at,
        "revoked_by": names.get(feed.revoked_by or 0, ""),
    }


def _clinicians(w: Work) -> list[tuple[str, str]]:
    """Whose visits this user may make a feed of: their own, or (a physician or a nurse) any clinician's."""
    if feeds_service.may_make_for_others(w.user):
        return [(str(u.id), f"{u.full_name} ({u.role})") for u in feeds_service.clinicians(w.s)]
    return [(str(w.user.id), f"{w.user.full_name} (mine)")]


def _patient(w: Work, patient_id: int) -> Patient:
    patient = pathway.read_patient(w.s, w.user, patient_id)  # another patient's record: 404, as the API
    feeds_service.patient_feeds(w.s, w.user, patient_id)  # the role's check (set-contact), before anything shows
    return patient


def _made(request: Request, new: NewFeed) -> dict[str, str]:
    url = str(request.base_url).rstrip("/") + feeds_service.feed_path(new.secret)
    return {"label": new.feed.label, "url": url, "webcal": "webcal://" + url.split("://", 1)[1]}


Page = Callable[[Work, WebError | None, str, dict[str, str] | None], Response]


def _create(request: Request, make: Callable[[Work], NewFeed], page: Page) -> Response:
    """Like session.submit, but answering with the page that shows the new secret URL: never a redirect, whose
    address would carry it, and never stored (a repeat of the form answers without it, saying why)."""
    shown: dict[str, str] | None = None
    try:
        with unit_of_work(request, write=True) as w:
            once = claim_form(request, w)
            if not once.status_code:
                shown = _made(request, make(w))
                once.store(303, {"redirect": request.url.path})
    except WebError as err:
        if err.status in NOT_ON_FORM:
            raise
        with unit_of_work(request) as w:
            return page(w, err, "", None)
    with unit_of_work(request) as w:
        return page(w, None, "" if shown is not None else AGAIN, shown)


# --- the care team's page ---------------------------------------------------------------------------------------------
@router.get("/calendar-feeds")
def feeds_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        if w.user.role == "patient" and w.user.patient_id is not None:
            return redirect(f"/patients/{w.user.patient_id}/calendar-feed")
        return _page(request, w)


@router.post("/calendar-feeds")
def make_feed(request: Request, form: Posted) -> Response:
    def make(w: Work) -> NewFeed:
        scope = form.get("scope")
        subject: int | None = None
        if scope == "clinician":
            chosen = whole_number(form.get("subject_id") or str(w.user.id))
            if not isinstance(chosen, int):
                raise InputError("subject_id", "choose whose visits the feed follows")
            subject = chosen
        elif scope != "clinic":
            raise InputError("scope", "choose the clinic's visits or one clinician's")
        return feeds_service.create_feed(w.s, w.user, scope, subject, w.now, form.get("label") or None)

    def page(w: Work, err: WebError | None, notice: str, shown: dict[str, str] | None) -> Response:
        return _page(request, w, error=err, shown=shown, notice=notice)

    return _create(request, make, page)


@router.post("/calendar-feeds/{feed_id}/revoke")
def revoke_feed(request: Request, feed_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        feeds_service.revoke_feed(w.s, w.user, feed_id, w.now)
        return "/calendar-feeds?done=revoked"

    def show_again(w: Work, err: WebError) -> Response:
        return _page(request, w, error=err)

    return submit(request, write, show_again)


# --- a patient's own feed ---------------------------------------------------------------------------------------------
@router.get("/patients/{patient_id}/calendar-feed")
def patient_feed_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        return _page(request, w, _patient(w, patient_id))


@router.post("/patients/{patient_id}/calendar-feed")
def make_patient_feed(request: Request, patient_id: Id, form: Posted) -> Response:
    def make(w: Work) -> NewFeed:
        _patient(w, patient_id)
        return feeds_service.create_feed(w.s, w.user, "patient", patient_id, w.now, form.get("label") or None)

    def page(w: Work, err: WebError | None, notice: str, shown: dict[str, str] | None) -> Response:
        return _page(request, w, _patient(w, patient_id), error=err, shown=shown, notice=notice)

    return _create(request, make, page)


@router.post("/patients/{patient_id}/calendar-feed/{feed_id}/revoke")
def revoke_patient_feed(request: Request, patient_id: Id, feed_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        _patient(w, patient_id)
        if feed_id not in {f.id for f in feeds_service.patient_feeds(w.s, w.user, patient_id)}:
            raise NotFound(f"no such calendar feed: {feed_id}")
        feeds_service.revoke_feed(w.s, w.user, feed_id, w.now)
        return f"/patients/{patient_id}/calendar-feed?done=revoked"

    def show_again(w: Work, err: WebError) -> Response:
        return _page(request, w, _patient(w, patient_id), error=err)

    return submit(request, write, show_again)
