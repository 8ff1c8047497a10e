"""The pathway's own rules: its gates, the evaluation read against the chart, trial doses against the library, and
the first program against the trial. Expected gates, statuses and numbers are written by hand from the issue and
clinical rules (the baclofen label's screening doses; CMSC 2015: start at twice the effective dose a day)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openidds.clinic.chart_check import ChartFacts
from openidds.clinic.evaluation import Candidate, evaluate_candidate
from openidds.clinic.pathway import PathwayFacts, gate, pass_gate
from openidds.clinic.trial import Trial, TrialDose, evaluate_trial, first_program_findings
from openidds.data import load_indications, load_library
from openidds.db.models import AuditRecord, PathwayOverride
from openidds.errors import InputError
from openidds.quantities import Quantity
from tests.api_support import (
    FLEX,
    SCREENING,
    START,
    TRIAL,
    Clinic,
    baclofen,
    count,
    eligible_evaluation,
    fast_argon2,
    implant_body,
    new_patient,
    through_trial,
)

LIBRARY = load_library()
INDICATIONS = load_indications()


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


# --- the gates, pure -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("facts", "step", "status", "code"),
    [
        (PathwayFacts(), "trial", "closed", "gate.no-evaluation"),
        (PathwayFacts(evaluation="eligible"), "trial", "open", "gate.open"),
        (PathwayFacts(evaluation="needs-review"), "trial", "needs-override", "gate.evaluation-needs-review"),
        (PathwayFacts(evaluation="not-eligible"), "trial", "closed", "gate.not-eligible"),
        (PathwayFacts(evaluation="eligible", pump_in_place=True), "trial", "closed", "gate.pump-in-place"),
        (PathwayFacts(), "implant", "closed", "gate.no-evaluation"),
        (PathwayFacts(evaluation="eligible"), "implant", "needs-override", "gate.no-trial"),
        (PathwayFacts(evaluation="eligible", trial="success"), "implant", "open", "gate.open"),
        (PathwayFacts(evaluation="eligible", trial="failure"), "implant", "closed", "gate.trial-failed"),
        (
            PathwayFacts(evaluation="eligible", trial="needs-review"),
            "implant",
            "needs-override",
            "gate.trial-needs-review",
        ),
        (PathwayFacts(evaluation="not-eligible", trial="success"), "implant", "closed", "gate.not-eligible"),
        (
            PathwayFacts(evaluation="eligible", trial="success", pump_in_place=True),
            "implant",
            "closed",
            "gate.pump-in-place",
        ),
        (PathwayFacts(), "replacement", "closed", "gate.no-pump"),
        (PathwayFacts(pump_in_place=True), "replacement", "open", "gate.open"),
        (PathwayFacts(), "revision", "closed", "gate.no-pump"),
    ],
)
def test_the_gate_table(facts: PathwayFacts, step: Any, status: str, code: str) -> None:
    g = gate(step, facts)
    assert (g.status, g.code) == (status, code)


def test_only_a_physician_with_a_reason_passes_a_gate_that_needs_review() -> None:
    g = gate("implant", PathwayFacts(evaluation="eligible", trial="needs-review", trial_reasons=("no score",)))
    assert g.message == (
        "the latest trial needs review (no score): a physician accepts it, giving a reason, before the implant"
    )
    assert not pass_gate(g, "", may_override=True).allowed
    assert not pass_gate(g, "reviewed", may_override=False).allowed
    passed = pass_gate(g, "  scores read from the nursing notes ", may_override=True)
    assert (passed.allowed, passed.overridden) == (True, True)
    closed = gate("implant", PathwayFacts(evaluation="eligible", trial="failure"))
    assert not pass_gate(closed, "I insist", may_override=True).allowed  # a closed gate has no override
    open_gate = gate("trial", PathwayFacts(evaluation="eligible"))
    assert pass_gate(open_gate, "", may_override=False).allowed
    assert not pass_gate(open_gate, "just in case", may_override=True).allowed  # nothing to override


# --- the evaluation against the chart ------------------------------------------------------------------------------
GOOD: dict[str, Any] = {
    "conservative_therapy_failed": True,
    "further_surgery_indicated": False,
    "psychological_evaluation": "cleared",
    "active_infection": False,
    "uncorrected_coagulopathy": False,
    "on_anticoagulants": False,
    "allergies": (),
    "psychosis_history": False,
    "active_substance_misuse": False,
    "life_expectancy_3_months_or_more": True,
    "realistic_expectations": True,
    "committed_to_refills_and_follow_up": True,
}


def _evaluate(chart: ChartFacts, drugs: tuple[str, ...] = ("morphine",), **answers: Any) -> Any:
    c = Candidate("cancer-pain", drugs, **{**GOOD, **answers})
    return evaluate_candidate(c, indications=INDICATIONS, library=LIBRARY, chart=chart)


def _item(ev: Any, item: str) -> Any:
    return next(i for i in ev.items if i.item == item)


def test_a_chart_life_expectancy_of_2_months_is_not_answered_away() -> None:
    assert _evaluate(ChartFacts()).status == "eligible"
    ev = _evaluate(ChartFacts(life_expectancy_months=2))
    assert ev.status == "needs-review"
    item = _item(ev, "life-expectancy")
    assert item.status == "needs-review"
    assert item.message.startswith(
        "the chart records a life expectancy of 2 months; the checklist answers '3 months or more: yes'"
    )
    # left unknown, the chart's 2 months answers it: under 3 months contraindicates an implanted pump
    unknown = _evaluate(ChartFacts(life_expectancy_months=2), life_expectancy_3_months_or_more=None)
    assert unknown.status == "not-eligible"
    assert _item(unknown, "life-expectancy").answer == "no (from the chart)"
    assert _evaluate(ChartFacts(life_expectancy_months=9)).status == "eligible"


def test_a_chart_allergy_the_checklist_leaves_out_still_rules_the_drug_out() -> None:
    ev = _evaluate(ChartFacts(allergies=("Morphine (hives)",)), drugs=("morphine", "hydromorphone"))
    item = _item(ev, "allergy")
    assert item.status == "needs-review"
    assert "the chart records Morphine (hives), which the checklist's allergies (none known) leave out" in item.message
    assert "morphine" in item.message  # the drug it excludes is named in the item's own reason


def test_chart_anticoagulants_and_psychosis_against_the_answers() -> None:
    ev = _evaluate(ChartFacts(anticoagulants=("apixaban",)))
    assert _item(ev, "anticoagulation").status == "needs-review"
    assert _item(ev, "anticoagulation").message.startswith(
        "the chart lists apixaban; the checklist answers 'on anticoagulants: no'"
    )
    unknown = _evaluate(ChartFacts(anticoagulants=("apixaban",)), on_anticoagulants=None)
    assert _item(unknown, "anticoagulation").answer.endswith("(from the chart)")
    assert unknown.status != "eligible"  # on anticoagulants: a plan is needed
    zic = _evaluate(ChartFacts(psychosis_history=True), drugs=("ziconotide",))
    assert _item(zic, "psychosis-history").status in ("needs-review", "contraindication")
    assert zic.status != "eligible"


# --- trial doses against the library ------------------------------------------------------------------------------
def _trial(drug: str, dose: str, method: Any = "single-shot-bolus", nrs: int = 3) -> Trial:
    return Trial(method, "pain", drug, (TrialDose(dose, 24, nrs=nrs),), baseline_nrs=8)


def test_a_500_mg_morphine_bolus_is_refused_not_a_success() -> None:
    with pytest.raises(InputError) as exc:
        evaluate_trial(_trial("morphine", "500 mg"), library=LIBRARY, care_area="pain-noncancer")
    assert exc.value.field == "doses[0].dose"
    assert exc.value.message.startswith("morphine 500 mg is above the trial bolus's hard limit 1 mg")
    # 0.2 mg is within PACC 2017's 0.1-0.5 mg: a success; 0.8 mg is above it: the success needs review
    assert evaluate_trial(_trial("morphine", "0.2 mg"), library=LIBRARY, care_area="pain-noncancer").status == "success"
    unusual = evaluate_trial(_trial("morphine", "0.8 mg"), library=LIBRARY, care_area="pain-noncancer")
    assert unusual.status == "needs-review"
    assert [r.code for r in unusual.reasons[:2]] == ["trial.success", "trial.dose-outside-range"]


def test_a_trial_therapy_must_fit_the_care_area() -> None:
    with pytest.raises(InputError) as exc:
        evaluate_trial(_trial("morphine", "0.2 mg"), library=LIBRARY, care_area="spasticity-spinal")
    assert exc.value.field == "therapy"


def test_baclofen_screening_doses_come_from_the_library() -> None:
    rail = LIBRARY.drug("baclofen").care_areas["spasticity-spinal"]
    assert rail.screening is not None
    assert [str(d.value) for d in rail.screening.doses] == ["50 mcg", "75 mcg", "100 mcg"]
    over = Trial("baclofen-screening", "spasticity", "baclofen", (TrialDose("150 mcg", 6, ashworth="1"),), None, "3")
    with pytest.raises(InputError, match="above the trial bolus's hard limit 100 mcg"):
        evaluate_trial(over, library=LIBRARY, care_area="spasticity-spinal")


# --- the first program against the trial --------------------------------------------------------------------------
def test_a_baclofen_trial_effective_at_50_mcg_starts_at_100_not_200_mcg_a_day() -> None:
    # CMSC 2015: twice the effective screening dose a day when the effect lasted 8 h or less: 2 × 50 = 100 mcg/day
    found = first_program_findings(
        "baclofen",
        Quantity.of(100, "mcg/day"),
        Quantity.of(50, "mcg"),
        {"baclofen": Quantity.of(200, "mcg/day")},
        library=LIBRARY,
    )
    assert [(f.severity, f.code) for f in found] == [("soft", "trial.above-starting-dose")]
    assert found[0].message == (
        "baclofen 200 mcg/day is above the 100 mcg/day the trial gives as the starting dose (effective at 50 mcg): "
        "start there, then titrate"
    )
    at_start = first_program_findings(
        "baclofen", Quantity.of(100, "mcg/day"), None, {"baclofen": Quantity.of(100, "mcg/day")}, library=LIBRARY
    )
    assert at_start == []


# --- through the API -------------------------------------------------------------------------------------------
def _evaluated(clinic: Clinic, mrn: str, **answers: Any) -> int:
    pid = new_patient(clinic, mrn)
    body = eligible_evaluation("failed-back-surgery-syndrome", ["morphine"], **answers)
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body).status_code == 201
    return pid


def test_no_trial_after_a_not_eligible_evaluation_and_no_implant_after_a_failed_trial(clinic: Clinic) -> None:
    pid = _evaluated(clinic, "G-1", active_infection=True)
    writes = count(clinic, AuditRecord)
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json=TRIAL)
    assert r.status_code == 409 and r.json()["detail"].startswith("the latest evaluation found a contraindication")
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json={**TRIAL, "override_reason": "treated"})
    assert r.status_code == 409  # a contraindication is never overridden: a new evaluation once it is resolved
    assert count(clinic, AuditRecord) == writes
    body = eligible_evaluation("failed-back-surgery-syndrome", ["morphine"])
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body).status_code == 201
    failed = {**TRIAL, "doses": [{"dose": "0.2 mg", "observation_hours": 24, "nrs": 6}]}  # 8 → 6: 25 % < 50 %
    assert clinic.call("POST", f"/patients/{pid}/trials", "ada", json=failed).json()["outcome"] == "failure"
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(FLEX, START))
    assert r.status_code == 409 and "the latest trial failed" in r.json()["detail"]
    assert clinic.call("GET", f"/patients/{pid}", "ada").json()["stage"] == "trial-failed"


def test_a_second_implant_is_refused_and_the_program_kept(clinic: Clinic) -> None:
    pid = new_patient(clinic, "G-2")
    through_trial(clinic, pid)
    assert clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(FLEX, START)).status_code == 201
    clinic.advance(days=1)
    again = implant_body(FLEX.replace("2026-11-21T09:00", clinic.now.isoformat()), clinic.now)
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=again)
    assert r.status_code == 409
    assert r.json()["detail"] == (
        "a pump is already implanted: record a pump replacement or a catheter revision, not a second implant"
    )
    assert [v["status"] for v in clinic.call("GET", f"/patients/{pid}/programs", "ada").json()] == ["active"]
    lone = new_patient(clinic, "G-3")
    r = clinic.call(
        "POST", f"/patients/{lone}/implants", "ada", json={**implant_body(FLEX, START), "kind": "replacement"}
    )
    assert r.status_code == 409 and r.json()["detail"] == "no pump is in place: a replacement needs an implanted pump"


def test_a_physician_accepts_an_evaluation_that_needs_review_with_a_reason(clinic: Clinic) -> None:
    pid = _evaluated(clinic, "G-4", realistic_expectations=None)  # unknown: needs review
    r = clinic.call("POST", f"/patients/{pid}/trials", "nora", json=TRIAL)
    assert r.status_code == 409 and r.json()["detail"].endswith("(only a physician may override this)")
    r = clinic.call("POST", f"/patients/{pid}/trials", "nora", json={**TRIAL, "override_reason": "ok"})
    assert r.status_code == 403
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json=TRIAL)
    assert r.status_code == 422 and r.json()["field"] == "override_reason"
    reason = "expectations discussed with the patient and her daughter"
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json={**TRIAL, "override_reason": reason})
    assert r.status_code == 201, r.text
    with clinic.sessions() as s:
        rows = list(s.query(PathwayOverride))
        assert [(o.step, o.code, o.reason, o.entity) for o in rows] == [
            ("trial", "gate.evaluation-needs-review", reason, f"trial/{r.json()['id']}")
        ]
    entry = clinic.call("GET", f"/audit?entity=patient/{pid}/trial", "ada").json()[-1]
    assert entry["after"]["gate_override"]["reason"] == reason


def test_an_implant_without_a_trial_needs_a_physicians_reason(clinic: Clinic) -> None:
    pid = _evaluated(clinic, "G-5")
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(FLEX, START))
    assert r.status_code == 422 and r.json()["field"] == "override_reason"
    body = {**implant_body(FLEX, START), "override_reason": "cancer pain, 4 months to live: trial omitted (PACC)"}
    assert clinic.call("POST", f"/patients/{pid}/implants", "ada", json=body).status_code == 201


def test_a_first_program_above_the_trials_starting_dose_is_refused(clinic: Clinic) -> None:
    pid = new_patient(clinic, "G-6", care_area="spasticity-spinal", indications=["spinal-cord-injury-spasticity"])
    body = eligible_evaluation("spinal-cord-injury-spasticity", ["baclofen"])
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body).status_code == 201
    at_50 = {**SCREENING, "doses": [{"dose": "50 mcg", "observation_hours": 6, "ashworth": "1", "effect_hours": 6}]}
    assert clinic.call("POST", f"/patients/{pid}/trials", "ada", json=at_50).json()["outcome"] == "success"
    program = baclofen("2000 mcg/mL", "200 mcg/day")
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(program, START, "programmable-20"))
    assert r.status_code == 422
    assert "baclofen 200 mcg/day is above the 100 mcg/day the trial gives as the starting dose" in r.json()["detail"]
    start = implant_body(baclofen("2000 mcg/mL", "100 mcg/day"), START, "programmable-20")
    assert clinic.call("POST", f"/patients/{pid}/implants", "ada", json=start).status_code == 201


def test_the_api_reads_the_chart_and_refuses_a_500_mg_trial_bolus(clinic: Clinic) -> None:
    pid = new_patient(clinic, "G-7", care_area="pain-cancer", indications=["cancer-pain"], life_expectancy_months=2)
    body = eligible_evaluation("cancer-pain", ["morphine"])  # answers "3 months or more: yes"
    r = clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body)
    assert r.status_code == 201 and r.json()["outcome"] == "needs-review", r.text
    item = next(i for i in r.json()["reasons"] if i["item"] == "life-expectancy")
    assert item["message"].startswith("the chart records a life expectancy of 2 months")
    writes = count(clinic, AuditRecord)
    big = {**TRIAL, "doses": [{"dose": "500 mg", "observation_hours": 24, "nrs": 3}], "override_reason": "reviewed"}
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json=big)
    assert r.status_code == 422 and r.json()["field"] == "doses[0].dose", r.text
    assert count(clinic, AuditRecord) == writes  # nothing recorded, least of all a success


# --- found by an adversarial walk-through --------------------------------------------------------------------------
def _ready(clinic: Clinic, mrn: str, drugs: list[str], **chart: Any) -> int:
    """A patient with `chart` facts, an eligible evaluation planning `drugs`, and a successful morphine trial."""
    pid = new_patient(clinic, mrn, **chart)
    body = eligible_evaluation("failed-back-surgery-syndrome", drugs, allergies=chart.get("allergies", []))
    if "psychosis_history" in chart:
        body["psychosis_history"] = chart["psychosis_history"]
    r = clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body)
    assert r.status_code == 201, r.text
    return pid


def test_the_first_program_file_cannot_contradict_the_chart(clinic: Clinic) -> None:
    # opioid-naive on the chart (0 MME/day), the file says not: checked against the wrong limits otherwise
    pid = _ready(clinic, "X-1", ["morphine", "clonidine"], oral_mme_per_day="0")
    assert clinic.call("POST", f"/patients/{pid}/trials", "ada", json=TRIAL).status_code == 201
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(FLEX, START))
    assert r.status_code == 422
    assert "the chart records no oral opioid (0 MME/day): the patient is opioid-naive" in r.json()["detail"]
    # an allergy recorded on the chart after the evaluation still rules the drug out at the implant
    pid = _ready(clinic, "X-2", ["morphine", "clonidine"])
    assert clinic.call("POST", f"/patients/{pid}/trials", "ada", json=TRIAL).status_code == 201
    version = clinic.call("GET", f"/patients/{pid}", "ada").json()["version"]
    changed = {"version": version, "allergies": ["Morphine sulfate (hives)"]}
    assert clinic.call("PATCH", f"/patients/{pid}", "ada", json=changed).status_code == 200
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(FLEX, START))
    assert r.status_code == 422
    assert "morphine: the chart records an allergy (Morphine sulfate (hives))" in r.json()["detail"]


def test_ziconotide_is_refused_with_psychosis_on_the_chart_whatever_the_file_says(clinic: Clinic) -> None:
    pid = new_patient(clinic, "X-3", psychosis_history=True)
    body = eligible_evaluation("failed-back-surgery-syndrome", ["morphine"], psychosis_history=True)
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body).status_code == 201
    zic = {**TRIAL, "drug": "ziconotide", "doses": [{"dose": "2 mcg", "observation_hours": 24, "nrs": 3}]}
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json=zic)
    assert r.status_code == 422 and r.json()["field"] == "override_reason"  # ziconotide was not planned
    assert "ziconotide was not planned at the evaluation (planned: morphine)" in r.json()["detail"]
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json={**zic, "override_reason": "morphine not tolerated"})
    assert r.status_code == 201
    program = Path("examples/ziconotide-first-fill.toml").read_text()  # it says psychosis_history = false
    fill = program.split('filled_at = "')[1].split('"')[0]
    body = implant_body(program, START, "programmable-20")
    body["program"] = program.replace(f'filled_at = "{fill}"', f'filled_at = "{START.isoformat()}"')
    body["override_reason"] = "morphine not tolerated"
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=body)
    assert r.status_code == 422, r.text
    assert "ziconotide with a history of psychosis on the chart: contraindicated" in r.json()["detail"]


def test_no_response_at_100_mcg_fails_the_screening_in_any_order() -> None:
    doses = (TrialDose("100 mcg", 6, ashworth="3"), TrialDose("50 mcg", 6, ashworth="3"))
    trial = Trial("baclofen-screening", "spasticity", "baclofen", doses, None, "3")
    assert evaluate_trial(trial, library=LIBRARY, care_area="spasticity-spinal").status == "failure"


def test_a_continuous_trial_bounds_the_first_program(clinic: Clinic) -> None:
    pid = _ready(clinic, "X-4", ["morphine", "clonidine"])
    continuous = {
        "method": "continuous-catheter",
        "therapy": "pain",
        "drug": "morphine",
        "baseline_nrs": 8,
        "doses": [{"dose": "0.5 mg/day", "observation_hours": 48, "nrs": 3}],
    }
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json=continuous)
    assert r.status_code == 201 and r.json()["outcome"] == "success", r.text
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(FLEX, START))
    assert r.status_code == 422  # FLEX gives 5.25 mg/day: ten times the 0.5 mg/day that worked
    assert "morphine 5.25 mg/day is above the 0.5 mg/day the trial gives as the starting dose" in r.json()["detail"]


def test_an_evaluation_that_needs_review_after_the_trial_holds_the_implant(clinic: Clinic) -> None:
    pid = _ready(clinic, "X-5", ["morphine", "clonidine"])
    assert clinic.call("POST", f"/patients/{pid}/trials", "ada", json=TRIAL).status_code == 201
    clinic.advance(hours=1)
    again = eligible_evaluation(
        "failed-back-surgery-syndrome", ["morphine", "clonidine"], psychological_evaluation=None
    )
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=again).json()["outcome"] == "needs-review"
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json=implant_body(FLEX, START))
    assert r.status_code == 422 and r.json()["field"] == "override_reason"
    assert (
        "needs review" in r.json()["detail"]
        and "a physician accepts it, giving a reason, before the implant" in (r.json()["detail"])
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("observation_hours", "1e5000"),  # was a 500
        ("dose", "1e-400 mg"),  # was shown with 400 digits
        ("dose", "0.0000001 mg"),
    ],
)
def test_absurd_trial_numbers_are_refused_in_words(clinic: Clinic, field: str, value: str) -> None:
    pid = _ready(clinic, "X-6", ["morphine"])
    dose = {"dose": "0.2 mg", "observation_hours": 24, "nrs": 3, field: value}
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json={**TRIAL, "doses": [dose]})
    assert r.status_code == 422 and r.json()["field"] == f"doses[0].{field}", r.text
    assert len(r.json()["detail"]) < 200


def test_invisible_reasons_and_empty_chart_entries_are_refused(clinic: Clinic) -> None:
    pid = new_patient(clinic, "X-7")
    body = eligible_evaluation("failed-back-surgery-syndrome", ["morphine"], realistic_expectations=None)
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=body).status_code == 201
    r = clinic.call("POST", f"/patients/{pid}/trials", "ada", json={**TRIAL, "override_reason": "\u200b\u200d\ufeff"})
    assert r.status_code == 422 and r.json()["field"] == "override_reason"
    version = clinic.call("GET", f"/patients/{pid}", "ada").json()["version"]
    for entries in (["   "], ["none"], ["\u200b"]):
        r = clinic.call("PATCH", f"/patients/{pid}", "ada", json={"version": version, "allergies": entries})
        assert r.status_code == 422, (entries, r.text)
