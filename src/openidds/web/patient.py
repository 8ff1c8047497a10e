"""The patient's own pages, for a phone: my pump, the remote, the diary, and what the alarms mean.

A patient reaches only their own record: the use cases' role check answers 404 for anyone else's (the same as
the API), so these pages never say whether another record exists.

The pages are fitted to the therapy and to the pump: the patient's care area decides the diary (pain: the pain
score; spasticity: the Penn spasm frequency and severity), the drugs in the pump decide the drug warnings (only a
withdrawal-risk drug, baclofen, brings its never-let-it-run-empty message and withdrawal signs). Every page shows
the clinic's numbers (clinic settings, data/clinic.toml or $IDDS_CLINIC_SETTINGS).

The remote shows, before any press, what a press would get now: the twin asked the same question the use case
asks (`request_bolus`) on the replayed pump, without recording it. So the button is disabled, with the twin's
reason beside it, during the lockout, at the daily maximum, with no pump or no patient bolus programmed (or a low
reservoir, or a pump that is not infusing); the doses left count the accepted requests in the twin's own window
for the daily maximum (the trailing 24 h). The button is a convenience: the press is decided again by the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from openidds import display
from openidds.api.schemas import Id
from openidds.clinic.followup import FollowUpVisit
from openidds.clinic.scales import PENN_FREQUENCY_TEXT, PENN_SEVERITY_TEXT
from openidds.data import load_catalog, load_clinic_settings, load_library
from openidds.db.models import FollowUp, Implant, PatientStatus, RemoteRequest
from openidds.programs.clock import DAY_US, from_us, to_us
from openidds.service import pathway
from openidds.service.pump import PumpState, pump_state
from openidds.twin import RemoteRequest as RemoteEvent
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
_WAIT = re.compile(r"^(?P<rule>.*?): next dose possible in (?P<min>\d+) min$")
RECENT_REQUESTS = 5
Therapy = Literal["pain", "spasticity"]


def therapy_of(care_area: str) -> Therapy:
    """The therapy a care area belongs to ('spasticity-spinal' → spasticity, 'pain-noncancer' → pain)."""
    return "spasticity" if care_area.startswith("spasticity") else "pain"


wait_text = display.duration  # a wait in whole minutes as people read it: '4 h 0 min' (never '240 min')


def _wait(reason: str) -> tuple[str, int | None]:
    """The rule of a refusal and the minutes it says to wait: ('lockout', 239), or (reason, None)."""
    found = _WAIT.match(reason)
    return (reason, None) if found is None else (found.group("rule"), int(found.group("min")))


def next_dose_at(request: RemoteRequest) -> datetime | None:
    """When a refused request says the next dose is possible (None when it does not say)."""
    minutes = None if request.accepted else _wait(request.reason)[1]
    return None if minutes is None else request.at + timedelta(minutes=minutes)


def refusal_rule(request: RemoteRequest) -> str:
    """Why a request was refused, without the wait it said then ('lockout', 'daily maximum of 3 reached')."""
    return _wait(request.reason)[0]


@dataclass(frozen=True)
class RemoteNow:
    """What pressing the remote now would get, as the twin decides it (the server decides the press again)."""

    can_press: bool
    why_not: str  # the twin's reason when a press would be refused ("" when it would be given)
    rule: str  # the reason without its wait: "lockout", "daily maximum of 3 reached", "no pump is programmed"
    wait_minutes: int | None  # the wait the twin gives, in whole minutes rounded up
    until: datetime | None  # now + that wait
    per_day: int | None  # the program's daily maximum (None: no patient bolus)
    given_today: int | None  # accepted in the twin's window for the daily maximum: the trailing 24 h

    @property
    def left_today(self) -> int | None:
        if self.per_day is None or self.given_today is None:
            return None
        return max(self.per_day - self.given_today, 0)

    @property
    def wait(self) -> str:
        return "" if self.wait_minutes is None else wait_text(self.wait_minutes)


def remote_now(pump: views.PumpNow | None, now: datetime) -> RemoteNow:
    """Ask the replayed twin what a press at `now` would get, as `pathway.request_bolus` does, without recording
    it. The twin is used up: it holds the trial press afterwards (call this last on a `PumpNow`)."""
    if pump is None:
        why = "no pump is programmed"  # the use case's words
        return RemoteNow(False, why, why, None, None, None, None)
    twin = pump.state.twin
    at = max(to_us(now), twin.t)
    bolus = twin.program.patient_bolus
    per_day = None if bolus is None else bolus.max_per_day
    # The twin's daily maximum counts the accepted requests less than 24 h old (pump.py, _requests).
    given = None if bolus is None else sum(1 for a in twin.accepted if at - a < DAY_US)
    twin.apply(RemoteEvent(at))
    decision = twin.decisions[-1]
    if decision.accepted:
        return RemoteNow(True, "", "", None, None, per_day, given)
    rule, minutes = _wait(decision.reason)
    until = None if minutes is None else from_us(at) + timedelta(minutes=minutes)
    return RemoteNow(False, decision.reason, rule, minutes, until, per_day, given)


def _patient_page(w: Work, patient_id: int) -> dict[str, Any]:
    """What every patient page shows: the patient, the clinic's numbers, the diary's name for the therapy."""
    patient = pathway.read_patient(w.s, w.user, patient_id)
    therapy = therapy_of(patient.care_area)
    return {
        "patient": patient,
        "tz": patient.timezone,
        "now": w.now,
        "user": w.user,
        "clinic": load_clinic_settings(),
        "therapy": therapy,
        "diary_name": "Spasm diary" if therapy == "spasticity" else "Pain diary",
    }


def _warnings(state: PumpState | None) -> tuple[alarms.DrugWarning, ...]:
    """The warnings of the drugs the pump holds now (none without a pump)."""
    if state is None:
        return ()
    return alarms.drug_warnings([i.drug for i in state.twin.solution], load_library().sources)


def _my_pump(w: Work, patient_id: int) -> dict[str, Any]:
    context = _patient_page(w, patient_id)
    pump = views.pump_now(w.s, patient_id, w.now)
    program = views.current_program(w.s, patient_id)
    warnings = _warnings(None if pump is None else pump.state)
    status = w.s.get(PatientStatus, patient_id)  # the next refill visit booked (the status keeps it)
    booked = None if status is None else status.booked_refill_at
    return {**context, "pump": pump, "program": program, "warnings": warnings, "booked_refill_at": booked}


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
        return render(request, "my_pump.html", days=days, **context)


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
        "refusal_rule": refusal_rule,
        "remote": remote_now(context["pump"], w.now),  # last: it uses up the replayed twin
    }


@router.get("/patients/{patient_id}/remote")
def remote(request: Request, patient_id: Id, request_id: Id | None = None) -> Response:
    with unit_of_work(request) as w:
        return render(request, "remote.html", **_remote_context(w, patient_id, request_id))


@router.get("/patients/{patient_id}/remote/status")
def remote_status(request: Request, patient_id: Id) -> Response:
    """The button, the wait and the doses left, asked again when the page's countdown ends (htmx); without htmx,
    the remote page."""
    if not is_htmx(request):
        return redirect(f"/patients/{patient_id}/remote")
    with unit_of_work(request) as w:
        return render(request, "_remote_status.html", **_remote_context(w, patient_id, None))


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


# --- the diary: pain, or spasms -----------------------------------------------------------------------------------
def _diary_context(w: Work, patient_id: int) -> dict[str, Any]:
    context = _patient_page(w, patient_id)
    patient, tz = context["patient"], context["tz"]
    entries = list(
        w.s.scalars(select(FollowUp).where(FollowUp.patient_id == patient_id).order_by(FollowUp.at.desc()).limit(60))
    )
    # (score, its value, the chart's title, series name, axis, top, the text when none): the therapy's own score
    spasms = context["therapy"] == "spasticity"
    key, value, title, name, axis, top, none = (
        ("penn", "frequency", "How often I had spasms (Penn 0-4)", "spasm frequency", "spasm frequency 0-4", 4, "spasm")
        if spasms
        else ("pain", "nrs", "My pain scores", "pain score", "pain 0-10", 10, "pain")
    )
    scored = [f for f in entries if key in f.scores]
    chart = charts.Chart(
        id="diary-chart",
        title=title,
        desc="; ".join(f"{fmt.day(f.at, tz)}: {f.scores[key][value]}" for f in reversed(scored))
        or f"No {none} score yet.",
        y_label=axis,
        series=[charts.Series(name, [(f.at, float(f.scores[key][value])) for f in scored], markers=True)],
        zone=fmt.zone(patient.timezone),
        y_max=top,
    )
    return {
        **context,
        "entries": scored,
        "chart": chart,
        "penn_frequency": PENN_FREQUENCY_TEXT,
        "penn_severity": PENN_SEVERITY_TEXT,
    }


@router.get("/patients/{patient_id}/diary")
def diary(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        saved = request.query_params.get("saved") == "1"
        context = _diary_context(w, patient_id)
        return render(request, "diary.html", saved=saved, error=None, values={}, **context)


def _diary_visit(form: Posted, therapy: Therapy) -> tuple[FollowUpVisit, dict[str, Any]]:
    """The diary's answers as a visit: the pain score, or the Penn spasm frequency (0-4) and, with spasms, their
    severity (1-3; a severity given with no spasms is not asked, so it is left out)."""
    if therapy == "pain":
        nrs = whole(form, "nrs")
        if not isinstance(nrs, int) or not 0 <= nrs <= 10:
            raise WebError(422, "choose your pain score, from 0 (no pain) to 10 (the worst pain)", "nrs")
        return FollowUpVisit(nrs=nrs), {"nrs": nrs, "diary": True}
    frequency = whole(form, "penn_frequency")
    if not isinstance(frequency, int) or frequency not in PENN_FREQUENCY_TEXT:
        raise WebError(422, "choose how often you have spasms, from 0 (no spasms) to 4", "penn_frequency")
    severity: int | None = None
    if frequency > 0:
        given = whole(form, "penn_severity")
        if not isinstance(given, int) or given not in PENN_SEVERITY_TEXT:
            raise WebError(422, "choose how strong your spasms are: 1 mild, 2 moderate or 3 severe", "penn_severity")
        severity = given
    visit = FollowUpVisit(penn_frequency=frequency, penn_severity=severity)
    return visit, {"penn_frequency": frequency, "penn_severity": severity, "diary": True}


@router.post("/patients/{patient_id}/diary")
def diary_save(request: Request, patient_id: Id, form: Posted) -> Response:
    """The patient's own scores: the follow-up use case, which a patient may use for their own record
    (`submit-questionnaire`)."""

    def write(w: Work) -> str:
        patient = pathway.read_patient(w.s, w.user, patient_id)
        visit, entered = _diary_visit(form, therapy_of(patient.care_area))
        pathway.record_follow_up(w.s, w.user, patient_id, pathway.RecordFollowUp(visit, entered), w.now)
        return f"/patients/{patient_id}/diary?saved=1"

    def show_again(w: Work, err: WebError) -> Response:
        context = _diary_context(w, patient_id)
        return render(
            request, "diary.html", err.status, saved=False, error=err.message, values=form.as_dict(), **context
        )

    return submit(request, write, show_again)


# --- what the alarms mean ---------------------------------------------------------------------------------------------
@router.get("/patients/{patient_id}/alarms")
def alarm_sounds(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        context = _patient_page(w, patient_id)
        implant = w.s.scalars(
            select(Implant)
            .where(Implant.patient_id == patient_id, Implant.kind != "revision")
            .order_by(Implant.implanted_at.desc())
        ).first()
        pump = None
        if implant is not None:
            pump = next((p for p in load_catalog().pumps if p.id == implant.pump_model), None)
        warnings = _warnings(pump_state(w.s, patient_id, w.now))
        return render(
            request,
            "alarms.html",
            pump=pump,
            warnings=warnings,
            sounds=alarms.sounds_for(warnings),
            alarm_test=alarms.ALARM_TEST,
            **context,
        )
