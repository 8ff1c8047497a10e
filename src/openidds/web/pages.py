"""Logging in and out, the clinic dashboard, the patient list, a new patient, and the patient chart."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from openidds import display
from openidds.api.schemas import Id, NewPatient
from openidds.clinic.accounts import MIN_PASSWORD
from openidds.clinic.roles import Action
from openidds.data import load_catalog, load_indications, load_library
from openidds.db.models import FollowUp, User
from openidds.drugs import CARE_AREAS
from openidds.errors import InputError
from openidds.service import auth, pathway, search
from openidds.service.access import require
from openidds.service.alerts import chart_alerts
from openidds.service.errors import ServiceError
from openidds.service.flags import open_flags
from openidds.service.pump import pending_text
from openidds.web import format as fmt
from openidds.web import views
from openidds.web.forms import listed, parse_in, tri, whole
from openidds.web.session import (
    LOGIN_CSRF_COOKIE,
    NOT_ON_FORM,
    SESSION_COOKIE,
    LoginNeeded,
    LoginPosted,
    Posted,
    WebError,
    Work,
    claim_form,
    clear_session_cookie,
    client_address,
    is_https,
    new_login_token,
    now_of,
    redirect,
    render,
    safe_next,
    set_session_cookie,
    submit,
    unit_of_work,
)

router = APIRouter(include_in_schema=False)


def home_of(user: User) -> str:
    if user.role == "patient" and user.patient_id is not None:
        return f"/patients/{user.patient_id}/pump"
    if user.role == "admin":
        return "/admin"
    return "/clinic"


def may(user: User, action: Action, patient_id: int | None = None, recorded_by: int = 0) -> bool:
    """Whether to offer an action on the page (the use case checks again when it is done). A second-person action
    is offered to anyone of a role that may do it unless `recorded_by` names who recorded it (0: no user)."""
    try:
        require(user, action, patient_id=patient_id, recorded_by=recorded_by)
    except (ServiceError, InputError):
        return False
    return True


# --- logging in -------------------------------------------------------------------------------------------------------
def _login_page(request: Request, next_url: str, error: str | None = None, status: int = 200) -> Response:
    token = new_login_token()
    response = render(request, "login.html", status, next_url=safe_next(next_url), login_csrf=token, error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/login",
    )
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return _login_page(request, next)


@router.post("/login")
def login(request: Request, form: LoginPosted) -> Response:
    now = now_of(request)
    command = auth.LoginCommand(form.get("username"), form.raw("password"), client_address(request))
    # A writer's transaction, committed whatever the outcome: a failed guess is counted and audited (service/auth.py)
    with request.app.state.writers() as s, s.begin():
        outcome = auth.log_in(s, command, now)
        previous = request.cookies.get(SESSION_COOKIE)
        if isinstance(outcome, auth.LoggedIn) and previous:  # a new login ends the session this browser had
            auth.revoke(s, previous, now)
    if isinstance(outcome, auth.LoginRefused):
        page = _login_page(request, form.get("next", "/"), outcome.message, outcome.status)
        if outcome.retry_after:
            page.headers["Retry-After"] = str(outcome.retry_after)
        return page
    wanted = safe_next(form.get("next", "/"))
    response = redirect(wanted if wanted not in ("/", "/login") else home_of(outcome.user))
    set_session_cookie(response, request, outcome.token, outcome.expires_at, now)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, form: Posted) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    try:
        with unit_of_work(request, write=True) as w:
            auth.log_out(w.s, w.user, token, w.now)
    except LoginNeeded:
        pass  # the session had already ended: nothing to revoke
    response = redirect("/login")
    clear_session_cookie(response, request)
    return response


# --- one's own password -----------------------------------------------------------------------------------------------
PASSWORD_WORDS = {
    "current_password": "Current password",
    "new_password": "New password",
    "new_password_again": "New password again",
}


def _password_page(request: Request, w: Work, error: str = "", field: str | None = None, status: int = 200) -> Response:
    return render(
        request,
        "password.html",
        status,
        user=w.user,
        error=error,
        error_field=field or "",
        done=request.query_params.get("done") == "1" and not error,
        min_password=MIN_PASSWORD,
    )


@router.get("/account/password")
def password_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        return _password_page(request, w)


@router.post("/account/password")
def change_password(request: Request, form: Posted) -> Response:
    """The user's own new password: every other session of theirs ends, this one goes on. A wrong current password
    is counted and throttled like a failed login, so its transaction is committed and the form shown again."""
    refused: auth.LoginRefused | None = None
    try:
        with unit_of_work(request, write=True) as w:
            once = claim_form(request, w)
            if once.status_code:
                return redirect(once.replay["redirect"])
            if form.raw("new_password") != form.raw("new_password_again"):
                raise InputError("new_password_again", "is not the same as the new password: type it again")
            change = auth.PasswordChange(
                form.raw("current_password"),
                form.raw("new_password"),
                request.cookies.get(SESSION_COOKIE, ""),
                w.address,
            )
            outcome = auth.change_password(w.s, w.user, change, w.now)
            if isinstance(outcome, auth.LoginRefused):
                refused = outcome
                if once.row is not None:  # a refused change leaves no claim: the form may be sent again
                    w.s.delete(once.row)
            else:
                once.store(303, {"redirect": "/account/password?done=1"})
    except WebError as err:
        if err.status in NOT_ON_FORM:
            raise
        with unit_of_work(request) as w:
            words = display.message(InputError(err.field, err.said), PASSWORD_WORDS) if err.field else err.message
            return _password_page(request, w, words, err.field, err.status)
    if refused is None:
        return redirect("/account/password?done=1")
    with unit_of_work(request) as w:
        words = display.message(InputError(refused.field or "", refused.message), PASSWORD_WORDS)
        page = _password_page(request, w, words, refused.field, refused.status)
    if refused.retry_after:
        page.headers["Retry-After"] = str(refused.retry_after)
    return page


@router.get("/")
def home(request: Request) -> Response:
    with unit_of_work(request) as w:
        return redirect(home_of(w.user))


# --- the clinic -------------------------------------------------------------------------------------------------------
@router.get("/clinic")
def dashboard(request: Request) -> Response:
    with unit_of_work(request) as w:
        rows = pathway.dashboard(w.s, w.user, w.now)
        sections = views.dashboard_sections(w.s, w.user, rows, w.now)
        return render(request, "dashboard.html", user=w.user, now=w.now, **sections)


SEARCH_FIELDS = ("q", "stage", "drug", "pump", "due_within_days", "limit", "offset")
DUE_WINDOWS = (
    (0, "overdue"),
    (7, "within 7 days"),
    (14, "within 14 days"),
    (30, "within 30 days"),
    (90, "within 90 days"),
)


@router.get("/patients")
def patients(request: Request) -> Response:
    """The patient list: a search by name, MRN or date of birth, filters, and a page of what it finds (a GET form,
    so a search is a link that can be kept or shared with the team)."""
    values = {k: request.query_params.get(k, "").strip() for k in SEARCH_FIELDS}
    with unit_of_work(request) as w:
        if w.user.role == "patient":
            return redirect(home_of(w.user))
        error: InputError | None = None
        try:
            found: search.PatientPage | None = search.find_patients(
                w.s, w.user, search.PatientQuery.from_text(values), w.now
            )
        except InputError as exc:  # shown beside the form, which keeps what was typed
            error, found = exc, None
        pump_names = {p.id: p.display_name for p in load_catalog().pumps}
        kept = {k: v for k, v in values.items() if v and k not in ("offset", "limit")}
        if values["limit"]:
            kept["limit"] = values["limit"]
        return render(
            request,
            "patients.html",
            status=422 if error else 200,
            user=w.user,
            now=w.now,
            values=values,
            error=error,
            found=found,
            searched=any(values[k] for k in ("q", "stage", "drug", "pump", "due_within_days")),
            page_url=lambda offset: "/patients?" + urlencode({**kept, **({"offset": offset} if offset else {})}),
            describe=search.describe,
            stages=[(stage, fmt.words(stage)) for stage in search.STAGES],
            drugs=[(d.name, d.display_name) for d in load_library().drugs],
            pumps=list(pump_names.items()),
            pump_names=pump_names,
            due_windows=DUE_WINDOWS,
            can_create=may(w.user, "create-patient"),
        )


def _new_patient_page(request: Request, user: User, values: dict[str, Any], error: WebError | None) -> Response:
    return render(
        request,
        "patient_new.html",
        status=error.status if error else 200,
        user=user,
        values=values,
        error=error,
        care_areas=CARE_AREAS,
        indications=load_indications().indications,
    )


@router.get("/patients/new")
def new_patient_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        require(w.user, "create-patient")
        return _new_patient_page(request, w.user, {"timezone": "America/Chicago", "indications": []}, None)


@router.post("/patients/new")
def new_patient(request: Request, form: Posted) -> Response:
    def write(w: Work) -> str:
        body = parse_in(
            NewPatient,
            {
                "mrn": form.get("mrn"),
                "family_name": form.get("family_name"),
                "given_name": form.get("given_name"),
                "birth_date": form.get("birth_date") or None,
                "sex": form.get("sex") or None,
                "timezone": form.get("timezone") or "America/Chicago",
                "care_area": form.get("care_area"),
                "indications": form.getlist("indications"),
                "oral_mme_per_day": form.get("oral_mme_per_day") or None,
                "allergies": listed(form, "allergies"),
                "anticoagulants": listed(form, "anticoagulants"),
                "psychosis_history": tri(form, "psychosis_history"),
                "life_expectancy_months": whole(form, "life_expectancy_months"),
            },
        )
        patient = pathway.create_patient(w.s, w.user, body.to_command(), w.now)
        return f"/patients/{patient.id}"

    def show_again(w: Work, err: WebError) -> Response:
        values: dict[str, Any] = {**form.as_dict(), "indications": form.getlist("indications")}
        return _new_patient_page(request, w.user, values, err)

    return submit(request, write, show_again)


# --- the patient chart ------------------------------------------------------------------------------------------------
@router.get("/patients/{patient_id}")
def chart(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = pathway.read_patient(w.s, w.user, patient_id)
        if w.user.role == "patient":
            return redirect(f"/patients/{patient_id}/pump")
        done = request.query_params.get("done", "")
        return render(request, "chart.html", user=w.user, done=done, **chart_context(w.s, w.user, patient, w.now))


def chart_context(s: Any, user: User, patient: Any, now: datetime) -> dict[str, Any]:
    tz = patient.timezone
    pump = views.pump_now(s, patient.id, now)
    follow_ups = list(s.scalars(select(FollowUp).where(FollowUp.patient_id == patient.id).order_by(FollowUp.at)))
    pain, function = views.score_charts(follow_ups, tz)
    entries = views.timeline(s, patient)
    return {
        "patient": patient,
        "tz": tz,
        "now": now,
        "age": pathway.age(patient.birth_date, now),
        "program": views.current_program(s, patient.id),
        "pump": pump,
        "expected": None if pump is None else pump.state.twin.expected_residual(),
        "reservoir_chart": None if pump is None else views.reservoir_chart(pump, tz, now),
        "dose_charts": views.dose_charts(s, patient.id, tz, now),
        "pain_chart": pain,
        "odi_chart": function,
        "side_effects": views.side_effects(follow_ups),
        "timeline": entries,
        "open_flags": open_flags(s, patient.id),
        "alerts": chart_alerts(s, patient.id, now, lambda at: display.instant(at, tz)),
        "pending_program": pending_text(s, patient.id, None if pump is None else pump.state.twin.solution),
        "days_until": views.days_until,
        "actions": _actions(user, patient, pump is not None),
    }


def _actions(user: User, patient: Any, programmed: bool) -> list[tuple[str, str, str]]:
    """(id, label, url) of the workflows this user may start for this patient now."""
    pid, stage = patient.id, patient.stage
    base = f"/patients/{pid}"
    out = []
    if may(user, "record-evaluation", pid) and stage not in ("awaiting-implant", "implanted"):
        out.append(("action-evaluation", "Candidate evaluation", f"{base}/evaluation"))
    if may(user, "record-trial", pid) and stage in ("trial", "trial-failed", "evaluation", "awaiting-implant"):
        out.append(("action-trial", "Record a trial", f"{base}/trial"))
    if may(user, "record-implant", pid):
        out.append(("action-implant", "Implant, replacement or revision", f"{base}/implant"))
    if programmed and may(user, "propose-program", pid):
        out.append(("action-program", "Change the program", f"{base}/program"))
    if programmed and may(user, "prepare-refill", pid):
        out.append(("action-refill", "Refill", f"{base}/refill"))
    if may(user, "record-follow-up", pid):
        out.append(("action-follow-up", "Follow-up visit", f"{base}/follow-up"))
        if programmed:
            out.append(("action-interrogation", "Record an interrogation", f"{base}/interrogation"))
    return out
