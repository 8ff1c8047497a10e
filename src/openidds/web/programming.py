"""Programming: edit with findings as you type → the review screen (every setting old beside new, findings,
override reasons) → confirm (physician) → verify (a second person, for a new drug or concentration) → the program
runs, or waits for the refill that brings its solution. A program that has not run can be cancelled (physician).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openidds import display
from openidds.api.schemas import Id
from openidds.calculations import project
from openidds.clinic.refill import describe_solution
from openidds.data import load_catalog, load_library
from openidds.db.models import Patient, ProgramVersion
from openidds.errors import InputError
from openidds.programfile import parse_program, read_toml
from openidds.programs.clock import from_us
from openidds.programs.program import PumpProgram
from openidds.quantities import Quantity
from openidds.service import pathway, programs
from openidds.service.alerts import page_alerts
from openidds.service.errors import Conflict
from openidds.service.programs import active_version, find_version
from openidds.service.pump import WAITING, program_of, pump_state, solution_json
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


def _held(w: Work, current: ProgramVersion) -> PumpProgram | None:
    """The running program with the fill the pump holds now, when a refill came after the fill its file was written
    with (None: it holds that one). The twin replays the record, refills too: its fill is the last refill's
    (instant, volume, solution), or the implant's."""
    written = program_of(current)
    state = pump_state(w.s, current.patient_id, w.now)
    if state is None:
        return None
    twin = state.twin
    filled_at = from_us(twin.recorded_fill_at)
    if filled_at == written.reservoir.filled_at:
        return None
    volume = Quantity.of(twin.recorded_fill, "mL")
    first = written.reservoir.first_fill and twin.recorded_fill_at == twin.implanted_at  # a refill is not the first
    reservoir = replace(written.reservoir, filled_at=filled_at, volume=volume, first_fill=first)
    return replace(written, reservoir=reservoir, solution=twin.solution)


def _editing(current: ProgramVersion, held: PumpProgram | None) -> programform.ProgramForm:
    """The form of the running program, from what the pump holds now (the last refill, or the implant)."""
    form = programform.from_document(current.document)
    if held is None:
        return form
    res, drugs = held.reservoir, None
    if solution_json(held.solution) != solution_json(program_of(current).solution):
        drugs = [programform.DrugRow(d["name"], d["concentration"]) for d in solution_json(held.solution)]
    filled_at = res.filled_at.astimezone(res.zone).isoformat()  # the patient's wall clock, with its offset
    return programform.at_fill(form, filled_at, str(res.volume), drugs, res.first_fill)


def _edited(current: ProgramVersion, form: Fields, held: PumpProgram | None) -> programform.ProgramForm:
    """The form as posted, over the running program's file (after a refill, no longer the pump's first fill)."""
    base = read_toml(current.document)
    if held is not None and not held.reservoir.first_fill:
        programform.refilled(base)
    return programform.from_fields(form, base)


def _blocked(result: dict[str, Any]) -> str:
    """Why Propose is off ("" when it is on): the program cannot be read, or a hard finding refuses it."""
    if result.get("error"):
        return "Not ready: the program cannot be read; correct it first"
    if any(f["severity"] == "hard" for f in result["findings"]):
        return "Refused: fix the hard findings first"
    return ""


def _preview(
    w: Work, form: programform.ProgramForm, current: ProgramVersion, held: PumpProgram | None
) -> dict[str, Any]:
    """What the use case will find (service.programs.proposal_findings), what changes from what the pump runs and
    holds now, the fill and how long its drugs keep in the pump, and whether it can be proposed (`blocked`)."""
    old = program_of(current) if held is None else held
    try:
        program = parse_program(form.document(), load_library(), load_catalog())
        findings = programs.proposal_findings(w.s, current, program, form.bridge, w.now)
    except InputError as exc:
        result = {**failed_check(exc), "fill": []}
        return {**result, "blocked": _blocked(result)}
    res = program.reservoir
    stable = project(program).stability_expires_at
    fill = [
        ("reservoir filled at", display.instant(res.filled_at, res.zone)),
        ("volume filled", display.volume(res.volume)),
        ("drugs stable in the pump until", display.instant(stable, res.zone)),
    ]
    result = {**program_summary(program, old), "error": None, "findings": findings, "fill": fill}
    return {**result, "blocked": _blocked(result)}


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
    current: ProgramVersion,
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
        offer=programform.offer_for(program_of(current).pump),
        weekdays=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        alerts=page_alerts(w.s, patient.id, patient.timezone, w.now),
    )


@router.get("/patients/{patient_id}/program")
def program_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        held = _held(w, current)
        form = _editing(current, held)
        result = _preview(w, form, current, held)
        return _program_page(request, w, patient, form.with_blank_rows(), result, None, 200, current)


@router.post("/patients/{patient_id}/program/preview")
def program_preview(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        held = _held(w, current)
        edited = _edited(current, form, held)
        result = _preview(w, edited, current, held)
        if is_htmx(request):  # the check, and the Propose button with it (out of band: it is in the form)
            return render(request, "_program_preview.html", check=result, check_id="program-check")
        return _program_page(request, w, patient, edited.with_blank_rows(), result, None, 200, current)


@router.post("/patients/{patient_id}/programs")
def program_propose(request: Request, patient_id: Id, form: Posted) -> Response:
    refused: list[str] = []  # a proposal the hard findings refused: on the record, and the form shown again

    def write(w: Work) -> str:
        current = _running(w, patient_id)
        edited = _edited(current, form, _held(w, current))
        proposal = programs.ProposeProgram(edited.document(), edited.bridge, edited.bridge_off_reason)
        version = programs.propose_program(w.s, w.user, patient_id, proposal, w.now)
        if version.status == "refused":
            refused.append(
                f"Refused: {version.closed_reason}. Nothing was proposed (the refused attempt is kept on the record "
                f"as program version {version.number}): change the program and propose it again"
            )
        return f"/patients/{patient_id}/programs/{version.number}"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        held = _held(w, current)
        edited = _edited(current, form, held)
        result = _preview(w, edited, current, held)
        return _program_page(request, w, patient, edited.with_blank_rows(), result, err.message, err.status, current)

    answer = submit(request, write, show_again)
    if not refused:
        return answer
    with unit_of_work(request) as w:  # committed as refused: the page again, as typed, with the reasons
        return show_again(w, WebError(422, refused[0]))


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
        alerts=page_alerts(w.s, patient.id, patient.timezone, w.now),
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
