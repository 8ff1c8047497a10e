"""The care team's workflows: evaluation, trial, implant, programming (edit → review → confirm → verify), refill,
follow-up and interrogation.

Each save is one use case of `service.pathway` in one transaction; each live preview (htmx) calls the same pure
rule the use case applies (evaluate_candidate, evaluate_trial, safety.check, reconcile, assess_follow_up) and
writes nothing. Without JavaScript a preview button posts the form and the page comes back with the result.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds import display
from openidds.api.schemas import (
    DecimalText,
    EvaluationIn,
    FollowUpIn,
    Id,
    ImplantIn,
    InterrogationIn,
    TrialIn,
)
from openidds.clinic.evaluation import PSYCH_EVALUATIONS, evaluate_candidate
from openidds.clinic.followup import (
    ADVERSE_EVENTS,
    GRADE_TEXT,
    ODI_SECTIONS,
    PHQ9_FREQUENCY,
    PHQ9_ITEMS,
    assess_follow_up,
)
from openidds.clinic.pathway import PATHWAY_STEPS
from openidds.clinic.scales import ASHWORTH_GRADES, ASHWORTH_TEXT, PENN_FREQUENCY_TEXT, PENN_SEVERITY_TEXT
from openidds.clinic.trial import TRIAL_METHODS, evaluate_trial
from openidds.data import load_catalog, load_indications, load_library
from openidds.db.models import Flag, FollowUp, Patient, Trial
from openidds.errors import InputError
from openidds.programfile import parse_program
from openidds.programs.program import PumpProgram
from openidds.review import diff as review_diff
from openidds.review import settings
from openidds.service import gates, pathway, programs
from openidds.service.access import require
from openidds.service.errors import NotFound
from openidds.service.programs import active_version
from openidds.service.pump import program_of, pump_state
from openidds.twin.records import ALARMS
from openidds.web import programform, views
from openidds.web.forms import listed, local_input, local_instant, parse_in, tri, whole
from openidds.web.pages import may
from openidds.web.patient import therapy_of
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
REPORTED_ROWS = 4  # drugs the pump may report (an admixture has at most a few)
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


def patient_for(w: Work, patient_id: int, action: Any) -> Patient:
    """The patient's record, for a user who may do `action` on it."""
    patient = pathway.read_patient(w.s, w.user, patient_id)
    require(w.user, action, patient_id=patient_id)
    return patient


_patient = patient_for


# --- candidate evaluation ---------------------------------------------------------------------------------------------
def _candidate(form: Fields) -> pathway.RecordEvaluation:
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
    return body.to_command()


def _evaluation_result(form: Fields, patient: Patient) -> tuple[dict[str, Any] | None, str | None]:
    try:
        candidate = _candidate(form).candidate
        result = evaluate_candidate(
            candidate, indications=load_indications(), library=load_library(), chart=programs.chart_facts(patient)
        )
    except InputError as exc:
        return None, display.message(exc)
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
        result, error = _evaluation_result(form, patient)
        if is_htmx(request):
            return render(request, "_evaluation_result.html", result=result, error=error)
        return _evaluation_page(request, w, patient, _values(form, "planned_drugs"), result, error, 200)


@router.post("/patients/{patient_id}/evaluation")
def evaluation_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        pathway.record_evaluation(w.s, w.user, patient_id, _candidate(form), w.now)
        return f"/patients/{patient_id}?done=evaluation"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-evaluation")
        result, _ = _evaluation_result(form, patient)
        return _evaluation_page(request, w, patient, _values(form, "planned_drugs"), result, err.message, err.status)

    return submit(request, write, show_again)


# --- trial ------------------------------------------------------------------------------------------------------------
def _trial(form: Fields) -> pathway.RecordTrial:
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
    return body.to_command()


def _trial_result(form: Fields, patient: Patient) -> tuple[dict[str, Any] | None, str | None]:
    try:
        trial = _trial(form).trial
        return evaluate_trial(trial, library=load_library(), care_area=patient.care_area).as_json(), None
    except InputError as exc:
        return None, display.message(exc)


def _trial_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], result: Any, error: str | None, status: int
) -> Response:
    gate, may_override = gates.gate_for(w.s, w.user, patient.id, "trial")
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
        gate=gate,
        may_override=may_override,
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
        result, error = _trial_result(form, patient)
        if is_htmx(request):
            return render(request, "_trial_result.html", result=result, error=error)
        return _trial_page(request, w, patient, form.as_dict(), result, error, 200)


@router.post("/patients/{patient_id}/trial")
def trial_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        cmd = replace(_trial(form), override_reason=form.get("override_reason"))
        pathway.record_trial(w.s, w.user, patient_id, cmd, w.now)
        return f"/patients/{patient_id}?done=trial"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-trial")
        result, _ = _trial_result(form, patient)
        return _trial_page(request, w, patient, form.as_dict(), result, err.message, err.status)

    return submit(request, write, show_again)


# --- program checks (shared by the implant and the programming workflow) ----------------------------------------------
def failed_check(exc: InputError) -> dict[str, Any]:
    """A program that cannot be checked: the one-line reason, nothing else to show."""
    return {"error": display.message(exc), "findings": [], "changes": [], "daily": [], "program": None}


def program_summary(program: PumpProgram, old: PumpProgram | None) -> dict[str, Any]:
    """Beside the findings: what changes from the running program, and the daily volumes and doses."""
    changes = [r for r in review_diff(old, program) if r.changed] if old is not None else []
    daily = [
        (k, v)
        for k, v in settings(program).items()
        if k.startswith("daily") or k.endswith(("daily dose", "worst case"))
    ]
    return {"changes": changes, "daily": daily, "program": program}


# --- implant ----------------------------------------------------------------------------------------------------------
def _implant(form: Fields, patient: Patient) -> tuple[pathway.RecordImplant, programform.ProgramForm | None]:
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
    cmd = body.to_command()
    if kind == "revision":
        return cmd, None
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
    pump = programform.chosen_pump(load_catalog(), body.pump_model)
    if pump is not None:  # every mode is offered until the pump is chosen: the pump's own, said in words
        programform.check_offer(first, pump)
    return cmd, first


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
    kind = values.get("kind") or "implant"
    gate, may_override = gates.gate_for(w.s, w.user, patient.id, kind if kind in PATHWAY_STEPS else "implant")
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
        offer=programform.offer_for(programform.chosen_pump(catalog, values.get("pump_model"))),  # all, or the pump's
        gate=gate,
        may_override=may_override,
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
    """What the use case will find in the first program (service.programs.first_program_findings)."""
    try:
        cmd, first = _implant(form, patient)
    except InputError as exc:
        return failed_check(exc), programform.from_fields(form, {})
    if first is None:
        return None, programform.from_fields(form, {})
    running = active_version(s, patient.id)
    old = None if running is None else program_of(running)
    try:
        program = parse_program(first.document(), load_library(), load_catalog())
        findings = programs.first_program_findings(s, patient.id, program, cmd.implanted_at)
        if cmd.kind == "implant":
            findings += programs.trial_dose_findings(s, patient.id, program)
    except InputError as exc:
        return failed_check(exc), first
    return {**program_summary(program, old), "error": None, "findings": findings}, first


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
        cmd, first = _implant(form, patient)
        document = None if first is None else first.document()
        cmd = replace(cmd, program=document, override_reason=form.get("override_reason"))
        pathway.record_implant(w.s, w.user, patient_id, cmd, w.now)
        return f"/patients/{patient_id}?done=implant"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-implant")
        result, first = _implant_check(w.s, patient, form)
        values = form.as_dict()
        return _implant_page(request, w, patient, values, first.with_blank_rows(), result, err.message, err.status)

    return submit(request, write, show_again)


# --- follow-up --------------------------------------------------------------------------------------------------------
def _visit(form: Fields) -> pathway.RecordFollowUp:
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
    return body.to_command()


def _follow_up_result(s: Session, patient_id: int, form: Fields, now: datetime) -> tuple[Any, str | None]:
    try:
        visit = _visit(form).visit
        state = pump_state(s, patient_id, now)
        if state is not None:  # as the use case does: some findings are urgent only with the drug in the pump
            visit = replace(visit, drugs=tuple(i.drug.name for i in state.twin.solution))
        return assess_follow_up(visit, library=load_library()).as_json(), None
    except InputError as exc:
        return None, display.message(exc)


def _follow_up_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], result: Any, error: str | None, status: int
) -> Response:
    return render(
        request,
        "follow_up.html",
        status,
        user=w.user,
        patient=patient,
        therapy=therapy_of(patient.care_area),  # pain: NRS and Oswestry; spasticity: Modified Ashworth and Penn
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
        row = pathway.record_follow_up(w.s, w.user, patient_id, _visit(form), w.now)
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
        pathway.resolve_follow_up(w.s, w.user, patient_id, follow_up_id, form.get("resolution"), w.now)
        return f"/patients/{patient_id}/follow-ups/{follow_up_id}"

    def show_again(w: Work, err: WebError) -> Response:
        return _follow_up_view(request, w, patient_id, follow_up_id, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)


# --- interrogation ----------------------------------------------------------------------------------------------------
def _interrogation_page(
    request: Request, w: Work, patient: Patient, values: dict[str, Any], error: str | None, status: int
) -> Response:
    running = active_version(w.s, patient.id)
    drugs = [] if running is None else [i.drug for i in program_of(running).solution]
    return render(
        request,
        "interrogation.html",
        status,
        user=w.user,
        patient=patient,
        values=values,
        error=error,
        alarms=ALARMS,
        drugs=drugs,
    )


@router.get("/patients/{patient_id}/interrogation")
def interrogation_page(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _patient(w, patient_id, "record-follow-up")
        return _interrogation_page(request, w, patient, {"alarms": []}, None, 200)


def _reported(form: Fields) -> list[dict[str, Any]]:
    """The drugs as the pump reports them: a row counts once its concentration is filled in."""
    out = []
    for i in range(REPORTED_ROWS):
        name, conc = form.get(f"reported-{i}-name"), form.get(f"reported-{i}-concentration")
        if name and conc:
            out.append({"name": name, "concentration": conc, "daily_dose": form.get(f"reported-{i}-dose") or None})
    return out


@router.post("/patients/{patient_id}/interrogation")
def interrogation_save(request: Request, patient_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        body = parse_in(
            InterrogationIn,
            {
                "reservoir_ml": form.get("reservoir_ml") or None,
                "alarms": form.getlist("alarms"),
                "eri": form.checked("eri"),
                "reported": _reported(form),
            },
        )
        pathway.record_interrogation(w.s, w.user, patient_id, body.to_command(), w.now)
        return f"/patients/{patient_id}?done=interrogation"

    def show_again(w: Work, err: WebError) -> Response:
        patient = _patient(w, patient_id, "record-follow-up")
        return _interrogation_page(request, w, patient, _values(form, "alarms"), err.message, err.status)

    return submit(request, write, show_again)


# --- flags raised by the use cases -------------------------------------------------------------------------------
def _flag_page(
    request: Request, w: Work, patient_id: int, flag_id: int, error: str | None = None, status: int = 200
) -> Response:
    patient = pathway.read_patient(w.s, w.user, patient_id)
    flag = w.s.get(Flag, flag_id)
    if flag is None or flag.patient_id != patient_id:
        raise NotFound(f"no flag {flag_id}")
    who = views.names(w.s, [flag.raised_by, flag.resolved_by])
    return render(
        request,
        "flag.html",
        status,
        user=w.user,
        patient=patient,
        flag=flag,
        who=who,
        error=error,
        can_resolve=flag.resolved_at is None and may(w.user, pathway.flag_action(flag), patient_id, flag.raised_by),
        second_person=flag.resolved_at is None and pathway.flag_action(flag) == "review-unchecked-refill",
    )


@router.get("/patients/{patient_id}/flags/{flag_id}")
def flag_view(request: Request, patient_id: Id, flag_id: Id) -> Response:
    with unit_of_work(request) as w:
        staff_page(w, patient_id)
        return _flag_page(request, w, patient_id, flag_id)


@router.post("/patients/{patient_id}/flags/{flag_id}/resolve")
def flag_resolve(request: Request, patient_id: Id, flag_id: Id, form: Posted) -> Response:
    def write(w: Work) -> str:
        pathway.resolve_flag(w.s, w.user, patient_id, flag_id, form.get("resolution"), w.now)
        return f"/patients/{patient_id}/flags/{flag_id}"

    def show_again(w: Work, err: WebError) -> Response:
        return _flag_page(request, w, patient_id, flag_id, err.message, err.status)

    return submit(request, write, show_again, NOT_ON_RECORD)
