"""The refill, step by step (service.refills): prepare → independent double check → complete.

The refill page offers the solution of the running program and of any program waiting for its refill (its
settings old beside new); the second person checks the preparation on their own login or co-signs on the same
screen with their username and password. The completion page reconciles the withdrawn volume as it is typed and
says which program runs from the fill, with its bridge. Each save is one use case in one transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from openidds import display
from openidds.api.schemas import CompleteIn, DecimalText, Id, PrepareIn
from openidds.calculations import project, reconcile
from openidds.clinic.refill import describe_solution
from openidds.db.models import Flag, Patient, ProgramVersion, Refill
from openidds.devices import PumpModel
from openidds.errors import InputError
from openidds.programs.solution import check_volume
from openidds.quantities import Quantity
from openidds.service import pathway
from openidds.service import refills as refills_service
from openidds.service.access import require
from openidds.service.alerts import page_alerts
from openidds.service.auth import second_person
from openidds.service.errors import Conflict, NotFound
from openidds.service.programs import active_version, bridge_summary, find_version, waiting_for_refill
from openidds.service.pump import program_of, pump_state, solution_json
from openidds.web import format as fmt
from openidds.web import views
from openidds.web.forms import local_instant, parse_in
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

router = APIRouter(include_in_schema=False)
_DECIMAL = TypeAdapter(DecimalText)
OPEN = ("prepared", "checked")
CHECKERS = {True: "a pharmacist or a physician", False: "a nurse, a pharmacist or a physician"}


def _patient(w: Work, patient_id: int, action: Any) -> Patient:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    require(w.user, action, patient_id=patient_id)
    return patient


def _choices(w: Work, patient_id: int) -> list[dict[str, Any]]:
    """The solutions a refill may bring: the running program's, and each waiting program's (with its diff)."""
    running = active_version(w.s, patient_id)
    out: list[dict[str, Any]] = []
    if running is not None:
        prog = program_of(running)
        out.append({"key": "running", "number": None, "solution": solution_json(prog.solution), "version": running})
    for v in waiting_for_refill(w.s, patient_id):
        solution = solution_json(program_of(v).solution)
        bridge = bridge_summary(w.s, v)
        out.append({"key": f"v{v.number}", "number": v.number, "solution": solution, "version": v, "bridge": bridge})
    return out


def _start_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], error: str | None, status: int
) -> Response:
    pump = views.pump_now(w.s, patient.id, w.now)
    if pump is None:
        raise Conflict("no pump is programmed for this patient")
    choices = _choices(w, patient.id)
    if "solution_choice" not in values:
        waiting = [c for c in choices if c["number"] is not None]
        values = {**values, "solution_choice": waiting[0]["key"] if waiting else "running"}
    open_refills = list(
        w.s.scalars(
            select(Refill)
            .where(Refill.patient_id == patient.id, Refill.status.in_(OPEN))
            .order_by(Refill.prepared_at.desc())
        )
    )
    return render(
        request,
        "refill.html",
        status,
        user=w.user,
        patient=patient,
        pump=pump,
        expected=pump.state.twin.expected_residual(),
        choices=choices,
        capacity=pump.state.program.pump.capacity.to("mL"),
        open_refills=open_refills,
        values=values,
        error=error,
        today=f"{w.now.astimezone(fmt.zone(patient.timezone)):%Y-%m-%d}",
        alerts=page_alerts(w.s, patient.id, patient.timezone, w.now),
    )


@router.get("/patients/{patient_id}/refill")
def refill_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "prepare-refill")
        return _start_page(request, w, patient, {}, None, 200)


def expiry_from_form(value: str, tz: str) -> datetime:
    """An expiry or beyond-use *date* is usable through that day: it ends at the next midnight, clinic time."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InputError(
            "expires_at", f"expected the expiry or beyond-use date, such as '2027-03-31', got {value!r}"
        ) from None
    if day.year >= 9999:
        raise InputError("expires_at", f"expected a date before 9999, got {value!r}")
    return local_instant(f"{day + timedelta(days=1)}T00:00", tz, "expires_at")


def _prepare(form: Fields, w: Work, patient: Patient) -> PrepareIn:
    chosen = form.get("solution_choice") or "running"
    choice = next((c for c in _choices(w, patient.id) if c["key"] == chosen), None)
    if choice is None:
        raise InputError("solution_choice", "choose the solution this refill brings")
    return parse_in(
        PrepareIn,
        {
            "solution": choice["solution"],
            "drug_lot": form.get("drug_lot"),
            "expires_at": expiry_from_form(form.get("expires_at"), patient.timezone),
            "volume_ml": form.get("volume_ml"),
            "program_version": choice["number"],
        },
    )


@router.post("/patients/{patient_id}/refills")
def prepare_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        patient = _patient(w, patient_id, "prepare-refill")
        body = _prepare(form, w, patient)
        refill = refills_service.prepare_refill(w.s, w.user, patient_id, body.to_command(), w.now)
        cosigner = form.get("cosign_username")
        if cosigner:  # the second person checks it now, on this screen, with their own credentials
            checker = second_person(w.s, cosigner, form.raw("cosign_password"), now=w.now, address=w.address)
            refills_service.check_refill(w.s, checker, patient_id, refill.id, w.now)
        return f"/patients/{patient_id}/refills/{refill.id}"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "prepare-refill")
        values = {k: v for k, v in form.as_dict().items() if k != "cosign_password"}
        return _start_page(request, w, patient, values, err.message, err.status)

    # a co-signer who may not check it (403) is shown on the form, as on the refill's own page; a user who may not
    # prepare refills gets the 403 page all the same (show_again checks the role again)
    return submit(request, write, show_again, NOT_ON_RECORD)


# --- one refill: check, complete, cancel ---------------------------------------------------------------------------
def _record_page(
    request: Request,
    w: Work,
    patient_id: int,
    refill_id: int,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    refill = w.s.get(Refill, refill_id)
    if refill is None or refill.patient_id != patient_id:
        raise NotFound(f"no refill {refill_id}")
    action = refills_service.check_action(refill)
    who = views.names(w.s, [refill.prepared_by, refill.checked_by, refill.recorded_by, refill.cancelled_by])
    waiting: ProgramVersion | None = None
    if refill.program_number is not None:
        waiting = find_version(w.s, patient_id, refill.program_number)
    pump = views.pump_now(w.s, patient_id, w.now) if refill.status in OPEN else None
    written = waiting if waiting is not None else active_version(w.s, patient_id)
    prescription = None
    if written is not None and refill.status in OPEN:
        prog = program_of(written)
        prescription = {
            "number": written.number,
            "solution": describe_solution(prog.solution),
            "doses": [(name, display.dose(d.program)) for name, d in project(prog).daily_dose.items()],
            "capacity": prog.pump.capacity.to("mL"),
        }
    flags = list(w.s.scalars(select(Flag).where(Flag.patient_id == patient_id, Flag.entity == f"refill/{refill.id}")))
    values = values if values is not None else {}  # the nurse types what she filled: nothing is assumed
    withdrawn = values.get("withdrawn_ml", "")
    return render(
        request,
        "refill_result.html",
        status,
        user=w.user,
        patient=patient,
        refill=refill,
        who=who,
        waiting=waiting,
        prescription=prescription,
        bridge_text="" if waiting is None or refill.status == "cancelled" else bridge_summary(w.s, waiting),
        pump=pump,
        expected=None if pump is None else pump.state.twin.expected_residual(),
        flags=flags,
        values=values,
        error=error,
        check=None
        if pump is None or not withdrawn
        else _reconcile(pump.state.twin.expected_residual(), withdrawn, pump.state.program.pump),
        can_check=refill.status == "prepared" and may(w.user, action, patient_id) and w.user.id != refill.prepared_by,
        can_complete=refill.status in OPEN and may(w.user, "record-refill", patient_id),
        can_cancel=refill.status in OPEN and may(w.user, "prepare-refill", patient_id),
        compounded_checker=CHECKERS[refill.compounded],
        alerts=page_alerts(w.s, patient.id, patient.timezone, w.now),
    )


def _reconcile(expected: Any, withdrawn: str, pump: PumpModel | None = None) -> dict[str, Any]:
    """The discrepancy check on the volume as typed: read as the save reads it (`CompleteIn.withdrawn_ml`), and
    refused as the save refuses it when the pump cannot hold it."""
    try:
        volume = Fraction(_DECIMAL.validate_python(withdrawn))
        if pump is not None:
            check_volume(pump, volume, "withdrawn_ml", "the withdrawn volume")
    except ValidationError:
        return {"error": f"enter the withdrawn volume in mL (a number such as 12.5), got {withdrawn!r}"}
    except InputError as exc:
        return {"error": exc.message}
    result = reconcile(expected, Quantity.of(volume, "mL"))
    return {"error": None, "result": result.value, "notes": result.assumptions, "expected": expected}


@router.get("/patients/{patient_id}/refills/{refill_id}")
def refill_record(request: Request, patient_id: Id, refill_id: Id) -> Response:
    with unit_of_work(request) as w:
        staff_page(w, patient_id)
        return _record_page(request, w, patient_id, refill_id)


@router.post("/patients/{patient_id}/refills/{refill_id}/check")
def refill_check_save(request: Request, patient_id: Id, refill_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        checker = w.user
        if form.get("cosign_username"):
            checker = second_person(
                w.s, form.get("cosign_username"), form.raw("cosign_password"), now=w.now, address=w.address
            )
        refills_service.check_refill(w.s, checker, patient_id, refill_id, w.now)
        return f"/patients/{patient_id}/refills/{refill_id}"

    def show_again(w: Work, err: WebError) -> Response:
        return _record_page(request, w, patient_id, refill_id, None, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


@router.post("/patients/{patient_id}/refills/{refill_id}/complete")
def refill_complete_save(request: Request, patient_id: Id, refill_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        require(w.user, "record-refill", patient_id=patient_id)  # who may fill first: a refusal is its own page
        unchecked = w.s.get(Refill, refill_id)
        if unchecked is not None and unchecked.status == "prepared" and not form.checked("emergency_confirmed"):
            raise WebError(
                422,
                "this solution has not been checked by a second person: have it checked first, or give the "
                "emergency reason and tick that you fill it unchecked",
                "emergency_confirmed",
            )
        suspected = form.checked("pocket_fill_suspected")
        body = parse_in(
            CompleteIn,
            {
                "withdrawn_ml": form.get("withdrawn_ml"),
                "filled_ml": form.get("filled_ml"),
                "emergency_reason": form.get("emergency_reason"),
                "pocket_fill_suspected": suspected,
                # a volume typed without the box ticked goes to the use case, which refuses it (naming the field):
                # never dropped silently, so a suspected pocket fill is not lost for a missed tick
                "pocket_ml": form.get("pocket_ml") or None,
            },
        )
        refills_service.complete_refill(w.s, w.user, patient_id, refill_id, body.to_command(), w.now)
        return f"/patients/{patient_id}/refills/{refill_id}"

    def show_again(w: Work, err: WebError) -> Response:
        return _record_page(request, w, patient_id, refill_id, form.as_dict(), err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


@router.post("/patients/{patient_id}/refills/{refill_id}/cancel")
def refill_cancel_save(request: Request, patient_id: Id, refill_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        refills_service.cancel_refill(w.s, w.user, patient_id, refill_id, form.get("reason"), w.now)
        return f"/patients/{patient_id}/refills/{refill_id}"

    def show_again(w: Work, err: WebError) -> Response:
        return _record_page(request, w, patient_id, refill_id, None, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


@router.post("/patients/{patient_id}/refill/check")
def refill_volume_check(request: Request, patient_id: Id, form: Posted) -> Response:
    """The live discrepancy check beside the completion form (htmx), or the page again without JavaScript."""
    with unit_of_work(request) as w:
        pathway.read_patient(w.s, w.user, patient_id)
        require(w.user, "record-refill", patient_id=patient_id)
        refill_id = form.get("refill_id")
        if not is_htmx(request) and refill_id.isdecimal() and len(refill_id) < 10:
            return _record_page(request, w, patient_id, int(refill_id), form.as_dict())
        state = pump_state(w.s, patient_id, w.now)
        if state is None:
            raise Conflict("no pump is programmed for this patient")
        withdrawn = form.get("withdrawn_ml")
        expected = state.twin.expected_residual()
        result = _reconcile(expected, withdrawn, state.program.pump) if withdrawn else None
        return render(request, "_refill_check.html", check=result)
