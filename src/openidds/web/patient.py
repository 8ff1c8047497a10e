"""The patient's own pages, for a phone: my pump, the remote, the pain diary, and what the alarms mean.

A patient reaches only their own record: the use cases' role check answers 404 for anyone else's (the same as
the API), so these pages never say whether another record exists.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from openidds.api.schemas import Id
from openidds.clinic.followup import FollowUpVisit
from openidds.data import load_catalog
from openidds.db.models import FollowUp, Implant, RemoteRequest
from openidds.service import pathway
from openidds.web import alarms, charts, views
from openidds.web import format as fmt
from openidds.web.forms import whole
from openidds.web.session import (
    Posted,
    WebError,
    Work,
    claim_form,
    is_htmx,
    redirect,
    render,
    submit,
    unit_of_work,
)

router = APIRouter(include_in_schema=False)

# The twin's refusal says when the next dose is possible: "lockout: next dose possible in 239 min".
_WAIT = re.compile(r"next dose possible in (\d+) min")
RECENT_REQUESTS = 5


def next_dose_at(request: RemoteRequest) -> datetime | None:
    """When a refused request says the next dose is possible (None when it does not say)."""
    found = None if request.accepted else _WAIT.search(request.reason)
    return None if found is None else request.at + timedelta(minutes=int(found.group(1)))


def _my_pump(w: Work, patient_id: int) -> dict[str, Any]:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    pump = views.pump_now(w.s, patient_id, w.now)
    program = views.current_program(w.s, patient_id)
    return {"patient": patient, "pump": pump, "program": program, "tz": patient.timezone, "now": w.now}


@router.get("/me")
def me(request: Request) -> Response:
    with unit_of_work(request) as w:
        if w.user.patient_id is None:
            return redirect("/")
        return redirect(f"/patients/{w.user.patient_id}/pump")


@router.get("/patients/{patient_id}/pump")
def my_pump(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        context = _my_pump(w, patient_id)
        pump = context["pump"]
        days = None if pump is None else views.days_until(pump.refill_due, w.now)
        return render(request, "my_pump.html", user=w.user, days=days, **context)


def _remote_context(w: Work, patient_id: int, shown: int | None) -> dict[str, Any]:
    context = _my_pump(w, patient_id)
    recent = list(
        w.s.scalars(
            select(RemoteRequest)
            .where(RemoteRequest.patient_id == patient_id)
            .order_by(RemoteRequest.at.desc(), RemoteRequest.id.desc())
            .limit(RECENT_REQUESTS)
        )
    )
    result = None
    if shown is not None:
        result = w.s.get(RemoteRequest, shown)
        if result is None or result.patient_id != patient_id:
            result = None
    last_dose = w.s.scalars(
        select(RemoteRequest)
        .where(RemoteRequest.patient_id == patient_id, RemoteRequest.accepted)
        .order_by(RemoteRequest.at.desc(), RemoteRequest.id.desc())
        .limit(1)
    ).first()
    return {
        **context,
        "recent": recent,
        "result": result,
        "last_dose": last_dose,
        "next_dose_at": next_dose_at,
        "user": w.user,
    }


@router.get("/patients/{patient_id}/remote")
def remote(request: Request, patient_id: Id, request_id: Id | None = None) -> Response:
    with unit_of_work(request) as w:
        return render(request, "remote.html", **_remote_context(w, patient_id, request_id))


@router.post("/patients/{patient_id}/remote")
def remote_press(request: Request, patient_id: Id, form: Posted) -> Response:
    """The patient presses the remote: the twin decides (use case `request_bolus`), and the answer is shown. The
    same press sent twice (a double tap, a retry: the same form token) is one request, answered with the first."""
    with unit_of_work(request, write=True) as w:
        once = claim_form(request, w)
        if once.status_code:
            shown = int(once.replay["request_id"])
        else:
            shown = pathway.request_bolus(w.s, w.user, patient_id, w.now).id
            once.store(303, {"redirect": f"/patients/{patient_id}/remote?request_id={shown}", "request_id": shown})
    if not is_htmx(request):
        return redirect(f"/patients/{patient_id}/remote?request_id={shown}")
    with unit_of_work(request) as w:
        context = _remote_context(w, patient_id, shown)
        return render(request, "_remote_answer.html", **context)


# --- the pain diary ---------------------------------------------------------------------------------------------------
def _diary_context(w: Work, patient_id: int) -> dict[str, Any]:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    entries = list(
        w.s.scalars(select(FollowUp).where(FollowUp.patient_id == patient_id).order_by(FollowUp.at.desc()).limit(60))
    )
    scored = [f for f in entries if "pain" in f.scores]
    chart = charts.Chart(
        id="diary-chart",
        title="My pain scores",
        desc="; ".join(f"{fmt.day(f.at, patient.timezone)}: {f.scores['pain']['nrs']}" for f in reversed(scored))
        or "No pain score yet.",
        y_label="pain 0-10",
        series=[charts.Series("pain score", [(f.at, float(f.scores["pain"]["nrs"])) for f in scored], markers=True)],
        zone=fmt.zone(patient.timezone),
        y_max=10,
    )
    return {"patient": patient, "entries": scored, "chart": chart, "tz": patient.timezone, "user": w.user}


@router.get("/patients/{patient_id}/diary")
def diary(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        saved = request.query_params.get("saved") == "1"
        return render(request, "diary.html", saved=saved, error=None, **_diary_context(w, patient_id))


@router.post("/patients/{patient_id}/diary")
def diary_save(request: Request, patient_id: Id, form: Posted) -> Response:
    """A pain score from the patient: the follow-up use case, which a patient may use for their own record
    (`submit-questionnaire`)."""

    def write(w: Work) -> str:
        nrs = whole(form, "nrs")
        if not isinstance(nrs, int) or not 0 <= nrs <= 10:
            raise WebError(422, "choose your pain score, from 0 (no pain) to 10 (the worst pain)", "nrs")
        pathway.record_follow_up(w.s, w.user, patient_id, FollowUpVisit(nrs=nrs), {"nrs": nrs, "diary": True}, w.now)
        return f"/patients/{patient_id}/diary?saved=1"

    def show_again(w: Work, err: WebError) -> Response:
        context = _diary_context(w, patient_id)
        return render(request, "diary.html", err.status, saved=False, error=err.message, **context)

    return submit(request, write, show_again)


# --- what the alarms mean ---------------------------------------------------------------------------------------------
@router.get("/patients/{patient_id}/alarms")
def alarm_sounds(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = pathway.read_patient(w.s, w.user, patient_id)
        implant = w.s.scalars(
            select(Implant)
            .where(Implant.patient_id == patient_id, Implant.kind != "revision")
            .order_by(Implant.implanted_at.desc())
        ).first()
        pump = None
        if implant is not None:
            pump = next((p for p in load_catalog().pumps if p.id == implant.pump_model), None)
        return render(
            request,
            "alarms.html",
            user=w.user,
            patient=patient,
            pump=pump,
            sounds=alarms.PROGRAMMABLE_ALARMS,
            alarm_test=alarms.ALARM_TEST,
        )
