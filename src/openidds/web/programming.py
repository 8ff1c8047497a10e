"""Programming: edit with findings as you type → the review screen (every setting old beside new, findings,
override reasons) → confirm (physician) → verify (a second person, for a new drug or concentration) → the program
runs, or waits for the refill that brings its solution. A program that has not run can be cancelled (physician).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openidds.api.schemas import Id
from openidds.clinic.refill import describe_solution
from openidds.data import load_catalog, load_library
from openidds.db.models import Patient, ProgramVersion
from openidds.errors import InputError
from openidds.programfile import parse_program, read_toml
from openidds.service import pathway, programs
from openidds.service.errors import Conflict
from openidds.service.programs import active_version, find_version
from openidds.service.pump import WAITING, program_of
from openidds.web import programform, views
from openidds.web.pages import may
from openidds.web.session import (
    NOT_ON_RECORD,
    Fields,
    Posted,
    WebError,
    Work,
    is_htmx,
    render,
    staff_page,
    submit,
    unit_of_work,
)
from openidds.web.workflows import failed_check, patient_for, program_summary

router = APIRouter(include_in_schema=False)
_patient = patient_for


def _preview(w: Work, form: programform.ProgramForm, current: ProgramVersion) -> dict[str, Any]:
    """What the use case will find (service.programs.proposal_findings), and what changes."""
    old = program_of(current)
    try:
        program = parse_program(form.document(), load_library(), load_catalog())
        findings = programs.proposal_findings(w.s, current, program, form.bridge, w.now)
    except InputError as exc:
        return failed_check(exc)
    return {**program_summary(program, old), "error": None, "findings": findings}


def _running(w: Work, patient_id: int) -> ProgramVersion:
    current = active_version(w.s, patient_id)
    if current is None:
        raise Conflict("no program is running: record the implant with its first program first")
    return current


def _program_page(
    request: Request,
    w: Work,
    patient: Patient,
    form: programform.ProgramForm,
    check_result: Any,
    error: str | None,
    status: int,
) -> Response:
    return render(
        request,
        "program_edit.html",
        status,
        user=w.user,
        patient=patient,
        form=form,
        check=check_result,
        error=error,
        drugs=load_library().drugs,
        modes=programform.MODES,
        weekdays=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    )


@router.get("/patients/{patient_id}/program")
def program_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        form = programform.from_document(current.document)
        result = _preview(w, form, current)
        return _program_page(request, w, patient, form.with_blank_rows(), result, None, 200)


@router.post("/patients/{patient_id}/program/preview")
def program_preview(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        edited = programform.from_fields(form, read_toml(current.document))
        result = _preview(w, edited, current)
        if is_htmx(request):
            return render(request, "_program_check.html", check=result, check_id="program-check")
        return _program_page(request, w, patient, edited.with_blank_rows(), result, None, 200)


@router.post("/patients/{patient_id}/programs")
def program_propose(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        current = _running(w, patient_id)
        edited = programform.from_fields(form, read_toml(current.document))
        version = programs.propose_program(
            w.s, w.user, patient_id, edited.document(), w.now, edited.bridge, edited.bridge_off_reason
        )
        return f"/patients/{patient_id}/programs/{version.number}"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        edited = programform.from_fields(form, read_toml(current.document))
        result = _preview(w, edited, current)
        return _program_page(request, w, patient, edited.with_blank_rows(), result, err.message, err.status)

    return submit(request, write, show_again)


# --- programming: the review screen, confirm, verify ------------------------------------------------------------------
def _review_page(
    request: Request,
    w: Work,
    patient_id: int,
    number: int,
    error: str | None = None,
    status: int = 200,
    overrides: dict[str, str] | None = None,
) -> Response:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    version = find_version(w.s, patient_id, number)
    who = views.names(w.s, [version.proposed_by, version.confirmed_by, version.verified_by, version.cancelled_by])
    running = active_version(w.s, patient_id)
    soft = [f for f in version.findings if f["severity"] == "soft"]
    second_by = {version.proposed_by, version.confirmed_by}
    return render(
        request,
        "program_review.html",
        status,
        user=w.user,
        patient=patient,
        version=version,
        who=who,
        soft=soft,
        overrides=overrides if overrides is not None else dict(version.overrides),
        error=error,
        can_confirm=version.status == "proposed" and may(w.user, "confirm-program", patient_id),
        can_verify=version.status == "awaiting-verification" and may(w.user, "verify-concentration-change", patient_id),
        second_blocked=version.status == "awaiting-verification" and w.user.id in second_by,
        can_cancel=version.status in ("proposed", *WAITING) and may(w.user, "cancel-program", patient_id),
        can_refill=version.status == "awaiting-refill" and may(w.user, "prepare-refill", patient_id),
        running=running,
        solution_text=describe_solution(program_of(version).solution),
        bridge_text=programs.bridge_summary(w.s, version),
        done=request.query_params.get("done", ""),
    )


@router.get("/patients/{patient_id}/programs/{number}")
def program_review(request: Request, patient_id: Id, number: Id) -> Response:
    with unit_of_work(request) as w:
        staff_page(w, patient_id)
        return _review_page(request, w, patient_id, number)


def _overrides(form: Fields) -> dict[str, str]:
    return {k.removeprefix("override:"): form.get(k) for k in form.names() if k.startswith("override:")}


@router.post("/patients/{patient_id}/programs/{number}/confirm")
def program_confirm(request: Request, patient_id: Id, number: Id, form: Posted) -> Response:
    overrides = _overrides(form)

    def write(w: Work) -> str:
        # an empty reason goes to the use case as missing, so it names the finding that needs one
        given = {code: why for code, why in overrides.items() if why}
        version = programs.confirm_program(w.s, w.user, patient_id, number, given, w.now)
        return f"/patients/{patient_id}/programs/{number}?done={version.status}"

    def show_again(w: Work, err: WebError) -> Response:
        return _review_page(request, w, patient_id, number, err.message, err.status, overrides)

    return submit(request, write, show_again, NOT_ON_RECORD)


@router.post("/patients/{patient_id}/programs/{number}/verify")
def program_verify(request: Request, patient_id: Id, number: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        programs.verify_program(w.s, w.user, patient_id, number, w.now)
        return f"/patients/{patient_id}/programs/{number}?done=verified"

    def show_again(w: Work, err: WebError) -> Response:
        return _review_page(request, w, patient_id, number, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


@router.post("/patients/{patient_id}/programs/{number}/cancel")
def program_cancel(request: Request, patient_id: Id, number: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        programs.cancel_program(w.s, w.user, patient_id, number, form.get("reason"), w.now)
        return f"/patients/{patient_id}/programs/{number}?done=cancelled"

    def show_again(w: Work, err: WebError) -> Response:
        return _review_page(request, w, patient_id, number, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)
