"""The care team's workflows: evaluation, trial, implant, programming (edit → review → confirm → verify), refill,
follow-up and interrogation.

Each save is one use case of `service.pathway` in one transaction; each live preview (htmx) calls the same pure
rule the use case applies (evaluate_candidate, evaluate_trial, safety.check, reconcile, assess_follow_up) and
writes nothing. Without JavaScript a preview button posts the form and the page comes back with the result.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds.api.schemas import (
    DecimalText,
    EvaluationIn,
    FollowUpIn,
    Id,
    ImplantIn,
    InterrogationIn,
    RefillIn,
    TrialIn,
)
from openidds.calculations import reconcile
from openidds.clinic.evaluation import PSYCH_EVALUATIONS, Candidate, evaluate_candidate
from openidds.clinic.followup import (
    ADVERSE_EVENTS,
    GRADE_TEXT,
    ODI_SECTIONS,
    PHQ9_FREQUENCY,
    PHQ9_ITEMS,
    FollowUpVisit,
    assess_follow_up,
)
from openidds.clinic.roles import Action
from openidds.clinic.scales import ASHWORTH_GRADES, ASHWORTH_TEXT, PENN_FREQUENCY_TEXT, PENN_SEVERITY_TEXT
from openidds.clinic.trial import TRIAL_METHODS, evaluate_trial
from openidds.clinic.trial import Trial as TrialInput
from openidds.data import load_catalog, load_indications, load_library
from openidds.db.models import FollowUp, Patient, ProgramVersion, Refill, Trial
from openidds.errors import InputError
from openidds.programfile import parse_program, read_toml
from openidds.quantities import Quantity
from openidds.review import diff as review_diff
from openidds.review import settings
from openidds.safety import check
from openidds.service import pathway
from openidds.service.access import require
from openidds.service.errors import Conflict, NotFound
from openidds.service.pump import program_of, pump_state, solution_json
from openidds.twin.pump import ALARMS
from openidds.web import programform, views
from openidds.web.forms import listed, local_input, local_instant, parse_in, tri, whole
from openidds.web.pages import may
from openidds.web.session import (
    NOT_ON_RECORD,
    Fields,
    Posted,
    WebError,
    Work,
    is_htmx,
    render,
    submit,
    unit_of_work,
)

router = APIRouter(include_in_schema=False)

EVALUATION_QUESTIONS = (
    ("conservative_therapy_failed", "Conservative treatment has failed or was not tolerated"),
    ("further_surgery_indicated", "Further corrective surgery is indicated"),
    ("active_infection", "Active infection"),
    ("uncorrected_coagulopathy", "Uncorrected coagulopathy"),
    ("on_anticoagulants", "Takes anticoagulant or antiplatelet medicines"),
    ("anticoagulation_plan", "Has a documented hold-and-restart plan for them"),
    ("psychosis_history", "History of psychosis"),
    ("active_substance_misuse", "Active substance misuse"),
    ("life_expectancy_3_months_or_more", "Life expectancy of 3 months or more"),
    ("realistic_expectations", "Realistic expectations of the therapy"),
    ("committed_to_refills_and_follow_up", "Committed to refills and follow-up visits"),
)
TRIAL_ROWS = 3
_DECIMAL = TypeAdapter(DecimalText)
ODI_SECTION_NAMES = (
    "pain intensity",
    "personal care",
    "lifting",
    "walking",
    "sitting",
    "standing",
    "sleeping",
    "sex life",
    "social life",
    "travelling",
)
PHQ9_QUESTIONS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things",
    "Moving or speaking so slowly that other people could have noticed, or being so fidgety or restless",
    "Thoughts that you would be better off dead, or of hurting yourself",
)


def _patient(w: Work, patient_id: int, action: Any) -> Patient:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    require(w.user, action, patient_id=patient_id)
    return patient


# --- candidate evaluation ---------------------------------------------------------------------------------------------
def _candidate(form: Fields) -> tuple[Candidate, dict[str, Any]]:
    allergies = form.get("allergies")
    body = parse_in(
        EvaluationIn,
        {
            "indication": form.get("indication"),
            "planned_drugs": form.getlist("planned_drugs"),
            "psychological_evaluation": form.get("psychological_evaluation") or None,
            "allergies": None if allergies == "" else listed(form, "allergies"),
            "time_since_onset": form.get("time_since_onset") or None,
            **{name: tri(form, name) for name, _ in EVALUATION_QUESTIONS},
        },
    )
    return body.to_candidate(), body.model_dump()


def _evaluation_result(form: Fields) -> tuple[dict[str, Any] | None, str | None]:
    try:
        candidate, _ = _candidate(form)
        result = evaluate_candidate(candidate, indications=load_indications(), library=load_library())
    except InputError as exc:
        return None, str(exc)
    return result.as_json(), None


def _evaluation_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], result: Any, error: str | None, status: int
) -> Response:
    return render(
        request,
        "evaluation.html",
        status,
        user=w.user,
        patient=patient,
        values=values,
        result=result,
        error=error,
        questions=EVALUATION_QUESTIONS,
        psych=PSYCH_EVALUATIONS,
        indications=load_indications().indications,
        drugs=load_library().drugs,
    )


def _values(form: Fields, *lists: str) -> dict[str, Any]:
    values: dict[str, Any] = form.as_dict()
    for name in lists:
        values[name] = form.getlist(name)
    return values


@router.get("/patients/{patient_id}/evaluation")
def evaluation_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-evaluation")
        values = {"indication": (patient.indications or [""])[0], "planned_drugs": []}
        return _evaluation_page(request, w, patient, values, None, None, 200)


@router.post("/patients/{patient_id}/evaluation/preview")
def evaluation_preview(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-evaluation")
        result, error = _evaluation_result(form)
        if is_htmx(request):
            return render(request, "_evaluation_result.html", result=result, error=error)
        return _evaluation_page(request, w, patient, _values(form, "planned_drugs"), result, error, 200)


@router.post("/patients/{patient_id}/evaluation")
def evaluation_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        candidate, answers = _candidate(form)
        pathway.record_evaluation(w.s, w.user, patient_id, candidate, answers, w.now)
        return f"/patients/{patient_id}?done=evaluation"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-evaluation")
        result, _ = _evaluation_result(form)
        return _evaluation_page(request, w, patient, _values(form, "planned_drugs"), result, err.message, err.status)

    return submit(request, write, show_again)


# --- trial ------------------------------------------------------------------------------------------------------------
def _trial(form: Fields) -> tuple[TrialInput, dict[str, Any]]:
    doses = []
    for i in range(TRIAL_ROWS):
        if not form.get(f"dose-{i}"):
            continue
        effects = [{"name": n, "intolerable": False} for n in listed(form, f"effects-{i}")]
        effects += [{"name": n, "intolerable": True} for n in listed(form, f"intolerable-{i}")]
        doses.append(
            {
                "dose": form.get(f"dose-{i}"),
                "observation_hours": whole(form, f"hours-{i}") or form.get(f"hours-{i}"),
                "nrs": whole(form, f"nrs-{i}"),
                "ashworth": form.get(f"ashworth-{i}") or None,
                "side_effects": effects,
                "effect_hours": whole(form, f"effect-hours-{i}"),
            }
        )
    body = parse_in(
        TrialIn,
        {
            "method": form.get("method") or None,
            "therapy": form.get("therapy") or None,
            "drug": form.get("drug"),
            "doses": doses,
            "baseline_nrs": whole(form, "baseline_nrs"),
            "baseline_ashworth": form.get("baseline_ashworth") or None,
        },
    )
    return body.to_trial(), body.model_dump()


def _trial_result(form: Fields) -> tuple[dict[str, Any] | None, str | None]:
    try:
        trial, _ = _trial(form)
        return evaluate_trial(trial, library=load_library()).as_json(), None
    except InputError as exc:
        return None, str(exc)


def _trial_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], result: Any, error: str | None, status: int
) -> Response:
    return render(
        request,
        "trial.html",
        status,
        user=w.user,
        patient=patient,
        values=values,
        result=result,
        error=error,
        methods=TRIAL_METHODS,
        drugs=load_library().drugs,
        grades=ASHWORTH_GRADES,
        rows=range(TRIAL_ROWS),
    )


@router.get("/patients/{patient_id}/trial")
def trial_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-trial")
        therapy = "spasticity" if patient.care_area.startswith("spasticity") else "pain"
        values = {
            "therapy": therapy,
            "method": "baclofen-screening" if therapy == "spasticity" else "single-shot-bolus",
        }
        return _trial_page(request, w, patient, values, None, None, 200)


@router.post("/patients/{patient_id}/trial/preview")
def trial_preview(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-trial")
        result, error = _trial_result(form)
        if is_htmx(request):
            return render(request, "_trial_result.html", result=result, error=error)
        return _trial_page(request, w, patient, form.as_dict(), result, error, 200)


@router.post("/patients/{patient_id}/trial")
def trial_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        trial, details = _trial(form)
        pathway.record_trial(w.s, w.user, patient_id, trial, details, w.now)
        return f"/patients/{patient_id}?done=trial"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-trial")
        result, _ = _trial_result(form)
        return _trial_page(request, w, patient, form.as_dict(), result, err.message, err.status)

    return submit(request, write, show_again)


# --- program checks (shared by the implant and the programming workflow) ----------------------------------------------
def _check_program(document: str, old: Any, now: datetime | None, starting: bool) -> dict[str, Any]:
    """What the use case will find: the program parsed, checked against the running one, and what changed."""
    try:
        program = parse_program(document, load_library(), load_catalog())
        findings = [
            f.as_json()
            for f in check(program, program.context, old, library=load_library(), now=now, starting=starting)
        ]
    except InputError as exc:
        return {"error": str(exc), "findings": [], "changes": [], "daily": []}
    changes = [r for r in review_diff(old, program) if r.changed] if old is not None else []
    daily = [
        (k, v)
        for k, v in settings(program).items()
        if k.startswith("daily") or k.endswith(("daily dose", "worst case"))
    ]
    return {"error": None, "findings": findings, "changes": changes, "daily": daily}


# --- implant ----------------------------------------------------------------------------------------------------------
def _implant(form: Fields, patient: Patient) -> tuple[dict[str, Any], programform.ProgramForm | None]:
    """The implant record (through the API's schema) and the first program's form, or None for a revision."""
    kind = form.get("kind") or "implant"
    at = local_instant(form.get("implanted_at"), patient.timezone, "implanted_at")
    body = parse_in(
        ImplantIn,
        {
            "kind": kind,
            "pump_model": form.get("pump_model"),
            "pump_serial": form.get("pump_serial"),
            "catheter_model": form.get("catheter_model"),
            "catheter_length_cm": form.get("catheter_length_cm"),
            "tip_level": form.get("tip_level"),
            "implanted_at": at,
            "surgeon": form.get("surgeon"),
            "notes": form.get("notes"),
        },
    )
    data = body.to_data()
    if kind == "revision":
        return data, None
    context: dict[str, Any] = {"care_area": patient.care_area}
    if patient.psychosis_history is not None:
        context["psychosis_history"] = patient.psychosis_history
    skeleton = {
        "pump": {
            "model": body.pump_model,
            "catheter": {"model": body.catheter_model, "length": f"{body.catheter_length_cm} cm"},
        },
        "reservoir": {"filled_at": at.isoformat(), "timezone": patient.timezone},
        "drugs": [],
        "program": {},
        "context": context,
    }
    first = programform.from_fields(form, skeleton)
    first.filled_at = at.isoformat()  # the first fill is at the implant
    return data, first


def _implant_page(
    request: Request,
    w: Work,
    patient: Patient,
    values: dict[str, Any],
    first: programform.ProgramForm,
    result: Any,
    error: str | None,
    status: int,
) -> Response:
    catalog = load_catalog()
    return render(
        request,
        "implant.html",
        status,
        user=w.user,
        patient=patient,
        values=values,
        form=first,
        result=result,
        error=error,
        pumps=catalog.pumps,
        catheters=catalog.catheters,
        drugs=load_library().drugs,
        modes=programform.MODES,
    )


def _blank_first_program() -> programform.ProgramForm:
    first = programform.ProgramForm(base={}, drugs=[programform.DrugRow()], fill_volume="", low_alarm="")
    first.opioid_naive = ""
    return first.with_blank_rows()


@router.get("/patients/{patient_id}/implant")
def implant_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-implant")
        values = {"kind": "implant", "implanted_at": local_input(w.now, patient.timezone), "tip_level": "T10"}
        return _implant_page(request, w, patient, values, _blank_first_program(), None, None, 200)


def _implant_check(s: Session, patient: Patient, form: Fields) -> tuple[dict[str, Any] | None, programform.ProgramForm]:
    try:
        _, first = _implant(form, patient)
    except InputError as exc:
        return {"error": str(exc), "findings": [], "changes": [], "daily": []}, programform.from_fields(form, {})
    if first is None:
        return None, programform.from_fields(form, {})
    running = pathway.active_version(s, patient.id)
    old = None if running is None else program_of(running)
    return _check_program(first.document(), old, None, old is None), first


@router.post("/patients/{patient_id}/implant/preview")
def implant_preview(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-implant")
        result, first = _implant_check(w.s, patient, form)
        if is_htmx(request):
            return render(request, "_program_check.html", check=result, check_id="implant-check")
        return _implant_page(request, w, patient, form.as_dict(), first.with_blank_rows(), result, None, 200)


@router.post("/patients/{patient_id}/implant")
def implant_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        patient = _patient(w, patient_id, "record-implant")
        data, first = _implant(form, patient)
        pathway.record_implant(w.s, w.user, patient_id, data, None if first is None else first.document(), w.now)
        return f"/patients/{patient_id}?done=implant"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-implant")
        result, first = _implant_check(w.s, patient, form)
        values = form.as_dict()
        return _implant_page(request, w, patient, values, first.with_blank_rows(), result, err.message, err.status)

    return submit(request, write, show_again)


# --- programming: edit, with findings as you type ---------------------------------------------------------------------
def _running(w: Work, patient_id: int) -> ProgramVersion:
    current = pathway.active_version(w.s, patient_id)
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
        result = _check_program(form.document(), program_of(current), w.now, False)
        return _program_page(request, w, patient, form.with_blank_rows(), result, None, 200)


@router.post("/patients/{patient_id}/program/preview")
def program_preview(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        edited = programform.from_fields(form, read_toml(current.document))
        result = _check_program(edited.document(), program_of(current), w.now, False)
        if is_htmx(request):
            return render(request, "_program_check.html", check=result, check_id="program-check")
        return _program_page(request, w, patient, edited.with_blank_rows(), result, None, 200)


@router.post("/patients/{patient_id}/programs")
def program_propose(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        current = _running(w, patient_id)
        edited = programform.from_fields(form, read_toml(current.document))
        version = pathway.propose_program(w.s, w.user, patient_id, edited.document(), w.now, edited.bridge)
        return f"/patients/{patient_id}/programs/{version.number}"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "propose-program")
        current = _running(w, patient_id)
        edited = programform.from_fields(form, read_toml(current.document))
        result = _check_program(edited.document(), program_of(current), w.now, False)
        return _program_page(request, w, patient, edited.with_blank_rows(), result, err.message, err.status)

    return submit(request, write, show_again)


# --- programming: the review screen, confirm, verify ------------------------------------------------------------------
def _version(s: Session, patient_id: int, number: int) -> ProgramVersion:
    version = s.scalars(
        select(ProgramVersion).where(ProgramVersion.patient_id == patient_id, ProgramVersion.number == number)
    ).first()
    if version is None:
        raise NotFound(f"no program version {number}")
    return version


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
    version = _version(w.s, patient_id, number)
    who = views.names(w.s, [version.proposed_by, version.confirmed_by, version.verified_by])
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
        done=request.query_params.get("done", ""),
    )


@router.get("/patients/{patient_id}/programs/{number}")
def program_review(request: Request, patient_id: Id, number: Id) -> Response:
    with unit_of_work(request) as w:
        if w.user.role == "patient":
            pathway.read_patient(w.s, w.user, patient_id)
            raise NotFound("no such page")
        return _review_page(request, w, patient_id, number)


def _overrides(form: Fields) -> dict[str, str]:
    return {k.removeprefix("override:"): form.get(k) for k in form.names() if k.startswith("override:")}


@router.post("/patients/{patient_id}/programs/{number}/confirm")
def program_confirm(request: Request, patient_id: Id, number: Id, form: Posted) -> Response:
    overrides = _overrides(form)

    def write(w: Work) -> str:
        # an empty reason goes to the use case as missing, so it names the finding that needs one
        given = {code: why for code, why in overrides.items() if why}
        version = pathway.confirm_program(w.s, w.user, patient_id, number, given, w.now)
        return f"/patients/{patient_id}/programs/{number}?done={version.status}"

    def show_again(w: Work, err: WebError) -> Response:
        return _review_page(request, w, patient_id, number, err.message, err.status, overrides)

    return submit(request, write, show_again, NOT_ON_RECORD)


@router.post("/patients/{patient_id}/programs/{number}/verify")
def program_verify(request: Request, patient_id: Id, number: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        pathway.verify_program(w.s, w.user, patient_id, number, w.now)
        return f"/patients/{patient_id}/programs/{number}?done=verified"

    def show_again(w: Work, err: WebError) -> Response:
        return _review_page(request, w, patient_id, number, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


# --- refill -----------------------------------------------------------------------------------------------------------
def _refill_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], error: str | None, status: int
) -> Response:
    pump = views.pump_now(w.s, patient.id, w.now)
    if pump is None:
        raise Conflict("no pump is programmed for this patient")
    expected = pump.state.twin.expected_residual()
    withdrawn = values.get("withdrawn_ml", "")
    return render(
        request,
        "refill.html",
        status,
        user=w.user,
        patient=patient,
        pump=pump,
        expected=expected,
        solution=solution_json(pump.state.program.solution),
        capacity=pump.state.program.pump.capacity.to("mL"),
        values=values,
        error=error,
        check=_reconcile(expected, withdrawn) if withdrawn else None,
    )


def _reconcile(expected: Any, withdrawn: str) -> dict[str, Any]:
    """The discrepancy check on the volume as typed: read as the save reads it (`RefillIn.withdrawn_ml`)."""
    try:
        volume = Fraction(_DECIMAL.validate_python(withdrawn))
    except ValidationError:
        return {"error": f"enter the withdrawn volume in mL (a number such as 12.5), got {withdrawn!r}"}
    result = reconcile(expected, Quantity.of(volume, "mL"))
    return {"error": None, "result": result.value, "notes": result.assumptions, "expected": expected}


@router.get("/patients/{patient_id}/refill")
def refill_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-refill")
        return _refill_page(request, w, patient, {}, None, 200)


@router.post("/patients/{patient_id}/refill/check")
def refill_check(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-refill")
        if not is_htmx(request):
            return _refill_page(request, w, patient, form.as_dict(), None, 200)
        state = pump_state(w.s, patient_id, w.now)
        if state is None:
            raise Conflict("no pump is programmed for this patient")
        withdrawn = form.get("withdrawn_ml")
        result = _reconcile(state.twin.expected_residual(), withdrawn) if withdrawn else None
        return render(request, "_refill_check.html", check=result)


@router.post("/patients/{patient_id}/refill")
def refill_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        state = pump_state(w.s, patient_id, w.now)  # the solution in the pump: the twin's (a bridge keeps the old)
        solution = [] if state is None else solution_json(state.program.solution)
        body = parse_in(
            RefillIn,
            {
                "drug_lot": form.get("drug_lot"),
                "solution": solution,
                "compounded": form.checked("compounded"),
                "withdrawn_ml": form.get("withdrawn_ml"),
                "filled_ml": form.get("filled_ml"),
            },
        )
        refill = pathway.record_refill(w.s, w.user, patient_id, body.to_data(), w.now)
        return f"/patients/{patient_id}/refills/{refill.id}"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-refill")
        return _refill_page(request, w, patient, form.as_dict(), err.message, err.status)

    return submit(request, write, show_again)


def _refill_result(
    request: Request, w: Work, patient_id: int, refill_id: int, error: str | None = None, status: int = 200
) -> Response:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    refill = w.s.get(Refill, refill_id)
    if refill is None or refill.patient_id != patient_id:
        raise NotFound(f"no refill {refill_id}")
    action: Action = "verify-compounded-refill" if refill.compounded else "verify-refill"
    who = views.names(w.s, [refill.recorded_by, refill.verified_by])
    return render(
        request,
        "refill_result.html",
        status,
        user=w.user,
        patient=patient,
        refill=refill,
        who=who,
        error=error,
        can_verify=refill.verified_by is None and may(w.user, action, patient_id),
        second_blocked=refill.verified_by is None and w.user.id == refill.recorded_by,
    )


@router.get("/patients/{patient_id}/refills/{refill_id}")
def refill_result(request: Request, patient_id: Id, refill_id: Id) -> Response:
    with unit_of_work(request) as w:
        if w.user.role == "patient":
            pathway.read_patient(w.s, w.user, patient_id)
            raise NotFound("no such page")
        return _refill_result(request, w, patient_id, refill_id)


@router.post("/patients/{patient_id}/refills/{refill_id}/verify")
def refill_verify(request: Request, patient_id: Id, refill_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        pathway.verify_refill(w.s, w.user, patient_id, refill_id, w.now)
        return f"/patients/{patient_id}/refills/{refill_id}"

    def show_again(w: Work, err: WebError) -> Response:
        return _refill_result(request, w, patient_id, refill_id, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


# --- follow-up --------------------------------------------------------------------------------------------------------
def _visit(form: Fields) -> tuple[FollowUpVisit, dict[str, Any]]:
    odi = [whole(form, f"odi-{i}") for i in range(ODI_SECTIONS)]
    phq = [whole(form, f"phq-{i}") for i in range(PHQ9_ITEMS)]
    events = []
    for item in ADVERSE_EVENTS:
        grade = whole(form, f"ae-{item}")
        if grade is not None:
            events.append({"item": item, "grade": grade})
    body = parse_in(
        FollowUpIn,
        {
            "nrs": whole(form, "nrs"),
            "baseline_nrs": whole(form, "baseline_nrs"),
            "oswestry": None if all(v is None for v in odi) else odi,
            "phq9": None if all(v is None for v in phq) else [("" if v is None else v) for v in phq],
            "ashworth": form.get("ashworth") or None,
            "previous_ashworth": form.get("previous_ashworth") or None,
            "penn_frequency": whole(form, "penn_frequency"),
            "penn_severity": whole(form, "penn_severity"),
            "adverse_events": events,
        },
    )
    return body.to_visit(), body.model_dump()


def _follow_up_result(s: Session, patient_id: int, form: Fields, now: datetime) -> tuple[Any, str | None]:
    try:
        visit, _ = _visit(form)
        state = pump_state(s, patient_id, now)
        if state is not None:  # as the use case does: some findings are urgent only with the drug in the pump
            visit = replace(visit, drugs=tuple(i.drug.name for i in state.twin.solution))
        return assess_follow_up(visit, library=load_library()).as_json(), None
    except InputError as exc:
        return None, str(exc)


def _follow_up_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], result: Any, error: str | None, status: int
) -> Response:
    return render(
        request,
        "follow_up.html",
        status,
        user=w.user,
        patient=patient,
        values=values,
        result=result,
        error=error,
        odi_sections=ODI_SECTION_NAMES,
        phq9_questions=PHQ9_QUESTIONS,
        phq9_answers=PHQ9_FREQUENCY,
        grades=ASHWORTH_GRADES,
        ashworth_text=ASHWORTH_TEXT,
        penn_frequency=PENN_FREQUENCY_TEXT,
        penn_severity=PENN_SEVERITY_TEXT,
        events=ADVERSE_EVENTS,
        grade_text=GRADE_TEXT,
    )


def _follow_up_defaults(s: Session, patient_id: int) -> dict[str, Any]:
    """The baseline pain from the trial and the last Ashworth grade, so the flags compare like with like."""
    values: dict[str, Any] = {}
    trial = s.scalars(select(Trial).where(Trial.patient_id == patient_id).order_by(Trial.recorded_at.desc())).first()
    if trial is not None and trial.details.get("baseline_nrs") is not None:
        values["baseline_nrs"] = str(trial.details["baseline_nrs"])
    last = s.scalars(select(FollowUp).where(FollowUp.patient_id == patient_id).order_by(FollowUp.at.desc())).first()
    if last is not None and "ashworth" in last.scores:
        values["previous_ashworth"] = str(last.scores["ashworth"]["grade"])
    return values


@router.get("/patients/{patient_id}/follow-up")
def follow_up_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-follow-up")
        return _follow_up_page(request, w, patient, _follow_up_defaults(w.s, patient_id), None, None, 200)


@router.post("/patients/{patient_id}/follow-up/preview")
def follow_up_preview(request: Request, patient_id: Id, form: Posted) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-follow-up")
        result, error = _follow_up_result(w.s, patient_id, form, w.now)
        if is_htmx(request):
            return render(request, "_follow_up_result.html", result=result, error=error)
        return _follow_up_page(request, w, patient, form.as_dict(), result, error, 200)


@router.post("/patients/{patient_id}/follow-up")
def follow_up_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        visit, entered = _visit(form)
        row = pathway.record_follow_up(w.s, w.user, patient_id, visit, entered, w.now)
        return f"/patients/{patient_id}/follow-ups/{row.id}"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-follow-up")
        result, _ = _follow_up_result(w.s, patient_id, form, w.now)
        return _follow_up_page(request, w, patient, form.as_dict(), result, err.message, err.status)

    return submit(request, write, show_again)


def _follow_up_view(
    request: Request, w: Work, patient_id: int, follow_up_id: int, error: str | None = None, status: int = 200
) -> Response:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    row = w.s.get(FollowUp, follow_up_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound(f"no follow-up {follow_up_id}")
    who = views.names(w.s, [row.recorded_by])
    return render(
        request,
        "follow_up_result.html",
        status,
        user=w.user,
        patient=patient,
        row=row,
        who=who,
        error=error,
        events=ADVERSE_EVENTS,
        grade_text=GRADE_TEXT,
        can_resolve=row.urgent and row.resolved_at is None and may(w.user, "record-follow-up", patient_id),
    )


@router.get("/patients/{patient_id}/follow-ups/{follow_up_id}")
def follow_up_view(request: Request, patient_id: Id, follow_up_id: Id) -> Response:
    with unit_of_work(request) as w:
        return _follow_up_view(request, w, patient_id, follow_up_id)


@router.post("/patients/{patient_id}/follow-ups/{follow_up_id}/resolve")
def follow_up_resolve(request: Request, patient_id: Id, follow_up_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        pathway.resolve_flag(w.s, w.user, patient_id, follow_up_id, w.now)
        return f"/patients/{patient_id}/follow-ups/{follow_up_id}"

    def show_again(w: Work, err: WebError) -> Response:
        return _follow_up_view(request, w, patient_id, follow_up_id, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


# --- interrogation ----------------------------------------------------------------------------------------------------
def _interrogation_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], error: str | None, status: int
) -> Response:
    return render(
        request, "interrogation.html", status, user=w.user, patient=patient, values=values, error=error, alarms=ALARMS
    )


@router.get("/patients/{patient_id}/interrogation")
def interrogation_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-follow-up")
        return _interrogation_page(request, w, patient, {"alarms": []}, None, 200)


@router.post("/patients/{patient_id}/interrogation")
def interrogation_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        body = parse_in(
            InterrogationIn,
            {
                "reservoir_ml": form.get("reservoir_ml") or None,
                "alarms": form.getlist("alarms"),
                "eri": form.checked("eri"),
            },
        )
        pathway.record_interrogation(w.s, w.user, patient_id, body.to_data(), w.now)
        return f"/patients/{patient_id}?done=interrogation"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-follow-up")
        return _interrogation_page(request, w, patient, _values(form, "alarms"), err.message, err.status)

    return submit(request, write, show_again)
