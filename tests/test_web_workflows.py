"""The care team's workflows in the web app, each with its happy path and its refusal, on SQLite and PostgreSQL.

Every save goes through the same use case as the API, so what the API refuses the pages refuse, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from openidds.db.models import AuditRecord, ProgramVersion, Refill
from tests.api_support import count, eligible_evaluation, morphine_program, through_trial
from tests.web_support import (
    PASSWORD,
    START,
    Browser,
    Clinic,
    fast_argon2,
    form_token,
    has_id,
    implanted_patient,
    new_patient,
    page_text,
    prepare_data,
    program_data,
    text_by_id,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


ELIGIBLE = {
    "indication": "failed-back-surgery-syndrome",
    "planned_drugs": ["morphine"],
    "conservative_therapy_failed": "yes",
    "further_surgery_indicated": "no",
    "psychological_evaluation": "cleared",
    "active_infection": "no",
    "uncorrected_coagulopathy": "no",
    "on_anticoagulants": "no",
    "allergies": "none",
    "active_substance_misuse": "no",
    "life_expectancy_3_months_or_more": "yes",
    "realistic_expectations": "yes",
    "committed_to_refills_and_follow_up": "yes",
}


def test_candidate_evaluation_shows_the_result_live_then_saves(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    nora = Browser(clinic, "nora")
    page = nora.get(f"/patients/{pid}/evaluation")
    assert f'hx-post="/patients/{pid}/evaluation/preview"' in page.text
    assert 'aria-live="polite"' in page.text and "<legend>Active infection</legend>" in page.text

    # half answered: needs review, with the items still open
    r = nora.post(f"/patients/{pid}/evaluation/preview", {**ELIGIBLE, "psychological_evaluation": ""}, htmx=True)
    assert r.status_code == 200 and "<html" not in r.text  # a fragment for the live region
    assert text_by_id(r.text, "evaluation-status") == "needs review"
    assert "Psychological evaluation" in text_by_id(r.text, "evaluation-reasons")
    # a contraindication
    r = nora.post(f"/patients/{pid}/evaluation/preview", {**ELIGIBLE, "active_infection": "yes"}, htmx=True)
    assert text_by_id(r.text, "evaluation-status") == "not eligible"
    assert "contraindication" in text_by_id(r.text, "evaluation-reasons")
    # without JavaScript the check button posts the form and the whole page comes back
    r = nora.post(f"/patients/{pid}/evaluation/preview", ELIGIBLE)
    assert "<html" in r.text and text_by_id(r.text, "evaluation-status") == "eligible"
    assert 'value="cleared" checked' in r.text  # the answers are kept

    r = nora.post(f"/patients/{pid}/evaluation", ELIGIBLE)
    assert r.headers["location"] == f"/patients/{pid}?done=evaluation"
    chart = nora.follow(r).text
    assert text_by_id(chart, "patient-stage") == "trial"
    assert "Candidate evaluation: eligible" in text_by_id(chart, "timeline")


def test_an_evaluation_with_bad_input_is_refused_naming_the_field(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    nora = Browser(clinic, "nora")
    r = nora.post(f"/patients/{pid}/evaluation", {**ELIGIBLE, "planned_drugs": []})
    assert r.status_code == 422  # the field in words, not its code (planned_drugs)
    assert text_by_id(r.text, "form-error") == (
        "Not saved The planned drugs: list should have at least 1 item after validation, not 0"
    )
    assert clinic.call("GET", f"/patients/{pid}/evaluations", "nora").json() == []


def test_trial_with_the_computed_outcome(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    ada = Browser(clinic, "ada")
    # No evaluation yet: the page says so and offers no save; a forced post is refused.
    page = ada.get(f"/patients/{pid}/trial").text
    assert text_by_id(page, "gate") == ("Not yet No candidate evaluation is recorded: evaluate before a trial.")
    assert re.search(r'id="trial-save"[^>]*disabled', page)
    evaluation = eligible_evaluation("failed-back-surgery-syndrome", ["morphine"])
    assert clinic.call("POST", f"/patients/{pid}/evaluations", "ada", json=evaluation).status_code == 201
    assert 'id="gate"' not in ada.get(f"/patients/{pid}/trial").text
    trial = {
        "method": "single-shot-bolus",
        "therapy": "pain",
        "drug": "morphine",
        "baseline_nrs": "8",
        "dose-0": "0.2 mg",
        "hours-0": "8",
        "nrs-0": "3",
    }
    r = ada.post(f"/patients/{pid}/trial/preview", trial, htmx=True)
    assert text_by_id(r.text, "trial-status") == "success"
    assert "62.5 %" in text_by_id(r.text, "trial-responses")
    assert "at least 50 %" in text_by_id(r.text, "trial-rule")
    r = ada.post(f"/patients/{pid}/trial/preview", {**trial, "nrs-0": "6"}, htmx=True)
    assert text_by_id(r.text, "trial-status") == "failure"
    r = ada.post(f"/patients/{pid}/trial/preview", {**trial, "nrs-0": "11"}, htmx=True)
    assert (
        text_by_id(r.text, "trial-error") == "The pain score (NRS) of dose 1: input should be less than or equal to 10"
    )

    r = ada.post(f"/patients/{pid}/trial", trial)
    assert r.status_code == 303
    chart = ada.follow(r).text
    assert text_by_id(chart, "patient-stage") == "awaiting implant"


IMPLANT = {
    "kind": "implant",
    "pump_model": "programmable-40",
    "pump_serial": "NGP-9",
    "catheter_model": "intrathecal-one-piece",
    "catheter_length_cm": "60",
    "tip_level": "T10",
    "implanted_at": "2026-11-21T09:00",
    "surgeon": "Dr Ada",
    "source": "form",
    "drug-0-name": "morphine",
    "drug-0-concentration": "10 mg/mL",
    "drug-1-name": "",
    "drug-1-concentration": "",
    "fill-volume": "40 mL",
    "fill-low-alarm": "2 mL",
    "mode": "continuous",
    "dose": "1 mg/day",
    "opioid-naive": "no",
}


def test_implant_with_the_first_program_from_the_form(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    through_trial(clinic, pid)
    ada = Browser(clinic, "ada")
    r = ada.post(f"/patients/{pid}/implant/preview", IMPLANT, htmx=True)
    assert "No hard or soft finding" in text_by_id(r.text, "implant-check-summary")
    assert "1 mg/day" in text_by_id(r.text, "implant-check-daily")
    # refused: the program cannot be read (a rate in the wrong unit), named by its setting
    r = ada.post(f"/patients/{pid}/implant", {**IMPLANT, "dose": "1 mL"})
    assert r.status_code == 422 and "program" in text_by_id(r.text, "form-error")
    r = ada.post(f"/patients/{pid}/implant", IMPLANT)
    assert r.headers["location"] == f"/patients/{pid}?done=implant"
    chart = ada.follow(r).text
    assert text_by_id(chart, "patient-stage") == "implanted"
    assert "1 mg/day" in text_by_id(chart, "daily-doses")
    assert "Implant: programmable-40 (serial NGP-9)" in text_by_id(chart, "timeline")


def test_implant_from_a_pasted_program_file(clinic: Clinic) -> None:
    from tests.web_support import PROGRAM

    pid = new_patient(clinic)
    through_trial(clinic, pid)
    ada = Browser(clinic, "ada")
    r = ada.post(f"/patients/{pid}/implant", {**IMPLANT, "source": "file", "document": PROGRAM})
    assert r.status_code == 303, page_text(r.text)
    assert "5.25 mg/day" in text_by_id(ada.follow(r).text, "daily-doses")


def test_program_findings_as_you_type_and_a_hard_limit_refused_with_the_reason(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    ada = Browser(clinic, "ada")
    page = ada.get(f"/patients/{pid}/program").text
    assert 'value="0.40 mL/day"' in page and 'hx-target="#program-check"' in page
    above = program_data(mode="continuous", rate="2 mL/day")  # 20 mg/day morphine: far above the step limits
    r = ada.post(f"/patients/{pid}/program/preview", above, htmx=True)
    assert "Refused" in text_by_id(r.text, "program-check-summary")
    findings = text_by_id(r.text, "program-check-findings")
    assert 'data-code="titration.hard-max"' in r.text and "20.6 mg/day is above the hard maximum 20 mg/day" in findings
    assert "titration.hard-max" not in findings  # the code is an attribute; the text says it in words
    assert "2 mL/day (20 mg/day morphine)" in text_by_id(r.text, "program-check-changes")
    r = ada.post(f"/patients/{pid}/program/preview", program_data(**{"step-1-rate": "0.6 mg"}), htmx=True)
    assert text_by_id(r.text, "program-check-error") == (
        "The program cannot be read. The rate of step 2 in the program: expected a rate such as '0.5 mL/day', "
        "got '0.6 mg' (a mass)"
    )

    # A forced post is refused with the reason at the top and the form as typed; the refusal is on the record.
    r = ada.post(f"/patients/{pid}/programs", above)
    assert r.status_code == 422 and "above the hard maximum 20 mg/day" in text_by_id(r.text, "form-error")
    assert 'value="2 mL/day"' in r.text
    review = ada.get(f"/patients/{pid}/programs/2").text
    assert text_by_id(review, "version-status") == "refused"
    assert "above the hard maximum 20 mg/day" in text_by_id(review, "refused-reason")
    assert not has_id(review, "confirm-form")  # nothing to confirm
    assert ada.post(f"/patients/{pid}/programs/2/confirm").status_code == 409


def test_a_second_increase_within_24_hours_of_the_last_is_refused_from_the_record(clinic: Clinic) -> None:
    # The implant's first program counts as an increase. 23 h later 5.25 → 6 mg/day (0.6 mL/day continuous,
    # +14.3 %, under the 20 % soft step) is a second increase within morphine's 24 h window: hard, live and saved.
    pid = implanted_patient(clinic)
    clinic.advance(hours=23)
    ada = Browser(clinic, "ada")
    step = program_data(mode="continuous", rate="0.6 mL/day")
    r = ada.post(f"/patients/{pid}/program/preview", step, htmx=True)
    assert "Refused" in text_by_id(r.text, "program-check-summary")
    findings = text_by_id(r.text, "program-check-findings")
    assert 'data-code="titration-window.hard"' in r.text and "Morphine was last increased 23 h ago" in findings
    assert 'data-code="titration.soft-max"' not in r.text
    r = ada.post(f"/patients/{pid}/programs", step)
    assert r.status_code == 422
    review = ada.get(f"/patients/{pid}/programs/2").text
    assert text_by_id(review, "version-status") == "refused"
    assert "morphine was last increased 23 h ago; at most one increase per 24 h" in text_by_id(review, "refused-reason")
    # 25 h after the implant the same step is no longer inside the window: proposed, and it runs once confirmed
    clinic.advance(hours=2)
    ada = Browser(clinic, "ada")
    r = ada.post(f"/patients/{pid}/program/preview", step, htmx=True)
    assert "No hard or soft finding" in text_by_id(r.text, "program-check-summary")
    r = ada.post(f"/patients/{pid}/programs", step)
    assert r.headers["location"] == f"/patients/{pid}/programs/3"
    assert text_by_id(ada.follow(r).text, "version-status") == "proposed"
    r = ada.post(f"/patients/{pid}/programs/3/confirm", {})
    assert text_by_id(ada.follow(r).text, "version-status") == "active"


def test_a_soft_finding_needs_an_override_reason(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=2)  # past the 24 h titration window the implant's first program opened
    ada = Browser(clinic, "ada")
    nora = Browser(clinic, "nora")
    soft = program_data(mode="continuous", rate="0.7 mL/day")  # 5.25 → 7 mg/day: +33 %, above the 20 % soft step
    r = nora.post(f"/patients/{pid}/programs", soft)  # a nurse proposes
    review = nora.follow(r).text
    assert text_by_id(review, "version-status") == "proposed"
    assert "rises from 5.25 mg/day to 7 mg/day (+33.3 %)" in text_by_id(review, "review-findings")
    assert 'data-code="titration.soft-max"' in review and "titration.soft-max" not in text_by_id(
        review, "review-findings"
    )
    changed = text_by_id(review, "review-diff")
    assert "mode flex (period: day) continuous changed" in changed
    assert "morphine daily dose 5.25 mg/day 7 mg/day changed" in changed
    assert not has_id(review, "confirm-form") and has_id(review, "confirm-not-allowed")

    review = ada.get(f"/patients/{pid}/programs/2").text
    assert has_id(review, "confirm-form") and 'name="override:titration.soft-max"' in review
    r = ada.post(f"/patients/{pid}/programs/2/confirm", {"override:titration.soft-max": "  "})
    assert r.status_code == 422
    refusal = text_by_id(r.text, "review-error")
    assert refusal.startswith(
        "Not done The override reasons: each soft finding needs a reason; none is given for “morphine rises from "
        "5.25 mg/day to 7 mg/day (+33.3 %)"
    )
    assert "titration.soft-max" not in refusal
    assert text_by_id(r.text, "version-status") == "proposed"
    reason = "pain uncontrolled on the current dose; reviewed with the patient"
    r = ada.post(f"/patients/{pid}/programs/2/confirm", {"override:titration.soft-max": reason})
    assert r.headers["location"] == f"/patients/{pid}/programs/2?done=active"
    review = ada.follow(r).text
    assert text_by_id(review, "version-status") == "active"
    assert reason in text_by_id(review, "review-overrides")
    board = ada.get("/clinic").text
    assert reason in text_by_id(board, "dash-overrides") and f'href="/patients/{pid}"' in board


# Both drugs doubled and the rates a little over half (tests/api_support.CONCENTRATED): 0.22 / 0.33 / 0.22 mL/day
# is (7 × 0.22 + 15 × 0.33 + 2 × 0.22) / 24 = 0.28875 mL/day, so morphine 5.25 → 5.775 mg/day (+10 %, under the
# 20 % soft step) and clonidine 52.5 → 57.75 mcg/day; each remote dose is 0.2 mg morphine (0.01 mL).
DOUBLED = program_data(
    **{
        "drug-0-concentration": "20 mg/mL",
        "drug-1-concentration": "200 mcg/mL",
        "step-0-rate": "0.22 mL/day",
        "step-1-rate": "0.33 mL/day",
        "step-2-rate": "0.22 mL/day",
        "bolus-volume": "",
        "bolus-dose": "0.2 mg",
    }
)
NO_BRIDGE = {k: v for k, v in DOUBLED.items() if k != "bridge"}  # the bridge box unticked


def _input(html: str, name: str, value: str | None = None) -> str:
    """The <input> tag with this name (and value)."""
    value_part = "" if value is None else rf'(?=[^>]*\bvalue="{re.escape(value)}")'
    found = re.search(rf'<input{value_part}(?=[^>]*\bname="{re.escape(name)}")[^>]*>', html)
    assert found is not None, (name, value)
    return found.group(0)


def test_a_concentration_change_is_verified_by_a_second_person_and_runs_from_its_refill(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=2)  # the change is a 10 % increase: past the 24 h window the implant opened
    ada, bo, phil, nora = (Browser(clinic, name) for name in ("ada", "bo", "phil", "nora"))
    assert " checked" in _input(ada.get(f"/patients/{pid}/program").text, "bridge")  # on unless turned off

    r = ada.post(f"/patients/{pid}/programs", DOUBLED)
    review = ada.follow(r).text
    assert text_by_id(review, "version-status") == "proposed"
    assert "(with a bridge)" in text_by_id(review, "review-status")
    assert "needed" in text_by_id(review, "needs-second")
    diff = text_by_id(review, "review-diff")
    assert "morphine concentration 10 mg/mL 20 mg/mL changed" in diff
    assert "morphine daily dose 5.25 mg/day 5.78 mg/day changed" in diff  # 5.775 to 3 figures, half up
    r = ada.post(f"/patients/{pid}/programs/2/confirm", {})
    assert r.headers["location"] == f"/patients/{pid}/programs/2?done=awaiting-verification"
    review = ada.follow(r).text
    assert text_by_id(review, "version-status") == "awaiting verification"
    assert has_id(review, "verify-blocked")
    # the same physician cannot verify it, nor can a nurse
    r = ada.post(f"/patients/{pid}/programs/2/verify")
    assert r.status_code == 403 and "a second person must" in text_by_id(r.text, "review-error")
    assert text_by_id(r.text, "version-status") == "awaiting verification"
    assert nora.post(f"/patients/{pid}/programs/2/verify").status_code == 403
    # a pharmacist may; verified, it waits for the refill that brings 20 mg/mL: the pump still holds 10 mg/mL
    review = phil.get(f"/patients/{pid}/programs/2").text
    assert has_id(review, "verify-program") and not has_id(review, "verify-blocked")
    r = phil.post(f"/patients/{pid}/programs/2/verify")
    assert r.headers["location"] == f"/patients/{pid}/programs/2?done=verified"
    review = phil.follow(r).text
    assert text_by_id(review, "version-status") == "awaiting refill"
    assert text_by_id(review, "review-notice") == "Verified: the program runs from the refill that brings its solution."
    assert (
        "written for morphine 20 mg/mL, clonidine 200 mcg/mL; the pump runs version 1 until the refill with this "
        "solution is completed, then a bridge bolus" in text_by_id(review, "awaits-refill")
    )
    assert not has_id(review, "cancel-form")  # a pharmacist does not cancel programs; a physician does
    assert has_id(ada.get(f"/patients/{pid}/programs/2").text, "cancel-form")
    assert bo.post(f"/patients/{pid}/programs/2/verify").status_code == 409  # and only once
    chart = nora.get(f"/patients/{pid}").text
    assert text_by_id(chart, "current-program-link") == "Program version 1"
    assert "morphine 5.25 mg/day 5.85 mg/day" in text_by_id(chart, "daily-doses")
    assert "Program version 2: awaiting refill (bridge)" in text_by_id(chart, "timeline")
    # meanwhile a rate change of the running version 1 is proposed (5 mg/day, a decrease)
    r = ada.post(f"/patients/{pid}/programs", program_data(mode="continuous", rate="0.5 mL/day"))
    assert r.headers["location"] == f"/patients/{pid}/programs/3"

    # The refill 30 days after the implant brings the new solution (24.25 mL of the old one expected).
    clinic.advance(days=28)
    nora, ada = Browser(clinic, "nora"), Browser(clinic, "ada")
    page = nora.get(f"/patients/{pid}/refill").text
    assert " checked" in _input(page, "solution_choice", "v2")  # the waiting program's solution, first
    assert " checked" not in _input(page, "solution_choice", "running")
    assert "morphine 20 mg/mL , clonidine 200 mcg/mL : for program version 2" in text_by_id(page, "f-solution")
    assert "after a bridge bolus" in text_by_id(page, "waiting-2")
    cosigned = prepare_data(solution_choice="v2", cosign_username="phil", cosign_password=PASSWORD)
    r = nora.post(f"/patients/{pid}/refills", cosigned)
    url = r.headers["location"]
    record = nora.follow(r).text
    assert text_by_id(record, "refill-title") == "Refill: checked"
    assert "Checked by Phil" in text_by_id(record, "step-check")
    assert text_by_id(record, "refill-solution") == "morphine 20 mg/mL, clonidine 200 mcg/mL"
    assert "Completing this refill applies program version 2" in text_by_id(record, "refill-applies")
    assert text_by_id(record, "refill-save") == "Complete the refill and start program version 2"
    assert text_by_id(record, "expected-ml") == "24.3 mL"  # still the old solution in the pump (24.25, to 0.1 mL)
    # Both drugs doubled, so the old solution runs at twice each new rate: 0.22 → 0.44, 0.33 → 0.66 mL/day. Pump
    # 0.2 mL + 60 cm × 0.0022 mL/cm = 0.332 mL to flush at a mean (7 × 0.44 + 15 × 0.66 + 2 × 0.44) / 24 = 0.5775
    # mL/day: 0.332 / 0.5775 day = 13.8 h. The new morphine dose: 0.28875 mL/day × 20 mg/mL = 5.775 mg/day.
    plan = (
        "0.332 mL of the old solution at 0.44 mL/day / 0.66 mL/day (the new morphine 5.775 mg/day "
        "with the old concentration) for about 13.8 h, then the new program"
    )
    assert (
        text_by_id(record, "refill-bridge-plan")
        == "Bridge bolus: " + plan + ". Program the bridge bolus on the pump as shown."
    )
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "24", "filled_ml": "40"})
    completed = nora.follow(r).text
    assert text_by_id(completed, "reconciliation-status") == "Within the band"
    # after the fill, when the nurse programs the pump, the bridge is still in front of her
    assert (
        text_by_id(completed, "refill-bridge-plan")
        == "Bridge bolus: " + plan + ". The chart shows when the bridge ends."
    )
    review = ada.get(f"/patients/{pid}/programs/2").text
    assert text_by_id(review, "bridge-plan-applied") == "Bridge bolus: " + plan
    assert text_by_id(review, "version-status") == "active"
    assert "Running since 21 Dec 2026 09:00 CST" in text_by_id(review, "review-status")
    assert f'href="{url}"' in review  # applied by this refill
    chart = nora.get(f"/patients/{pid}").text
    assert text_by_id(chart, "current-program-link") == "Program version 2"
    timeline = text_by_id(chart, "timeline")  # dated as it happened: proposed then, running from the refill
    assert "Program version 2 proposed (now active) (bridge)" in timeline
    assert (
        "Program version 2 starts running with the refill that brought its solution, after a bridge bolus" in timeline
    )
    # 0.28875 mL/day × 20 mg/mL = 5.775 mg/day; with 3 remote doses of 0.2 mg, 6.375 mg/day
    assert "morphine 5.78 mg/day 6.38 mg/day" in text_by_id(chart, "daily-doses")  # 5.775, 6.375 to 3 figures
    # version 3 was written against version 1, which version 2 replaced: it can no longer be confirmed
    review = ada.get(f"/patients/{pid}/programs/3").text
    assert text_by_id(review, "version-status") == "cancelled" and not has_id(review, "confirm-form")
    assert "written against version 1, which version 2 replaced before it ran" in text_by_id(review, "refused-reason")
    r = ada.post(f"/patients/{pid}/programs/3/confirm", {})
    assert r.status_code == 409 and "program version 3 is cancelled" in text_by_id(r.text, "review-error")


def test_a_change_without_a_bridge_needs_a_reason_and_a_waiting_program_can_be_cancelled(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=2)
    ada, bo, phil, nora = (Browser(clinic, name) for name in ("ada", "bo", "phil", "nora"))
    r = ada.post(f"/patients/{pid}/programs", NO_BRIDGE)
    assert r.status_code == 422 and "The reason to change without a bridge: " in text_by_id(r.text, "form-error")
    assert 'value="20 mg/mL"' in r.text and " checked" not in _input(r.text, "bridge")  # back as typed
    why = "catheter aspirated at the refill"
    r = ada.post(f"/patients/{pid}/programs", {**DOUBLED, "bridge_off_reason": why})  # a bridge and a reason
    assert r.status_code == 422 and "only for a change without a bridge" in text_by_id(r.text, "form-error")
    assert count(clinic, ProgramVersion) == 1
    r = ada.post(f"/patients/{pid}/programs", {**NO_BRIDGE, "bridge_off_reason": why})
    review = ada.follow(r).text
    assert text_by_id(review, "bridge-off-reason") == why
    assert "(with a bridge)" not in text_by_id(review, "review-status")
    ada.post(f"/patients/{pid}/programs/2/confirm", {})
    review = phil.follow(phil.post(f"/patients/{pid}/programs/2/verify")).text
    assert text_by_id(review, "version-status") == "awaiting refill"
    assert "bridge" not in text_by_id(review, "awaits-refill")
    assert f"without a bridge ({why})" in text_by_id(nora.get(f"/patients/{pid}/refill").text, "waiting-2")

    # a physician cancels it, with a reason; a nurse cannot
    cancel = f"/patients/{pid}/programs/2/cancel"
    assert nora.post(cancel, {"reason": "wrong strength"}).status_code == 403
    r = bo.post(cancel, {"reason": " "})
    assert r.status_code == 422 and "say why the program is cancelled" in text_by_id(r.text, "review-error")
    reason = "the pharmacy cannot compound 20 mg/mL this month"
    r = bo.post(cancel, {"reason": reason})
    assert r.headers["location"] == f"/patients/{pid}/programs/2?done=cancelled"
    review = bo.follow(r).text
    assert text_by_id(review, "version-status") == "cancelled"
    assert text_by_id(review, "review-notice") == "Cancelled: it will not run."
    assert text_by_id(review, "refused-reason") == reason
    assert not has_id(review, "cancel-form") and not has_id(review, "awaits-refill")
    assert bo.post(cancel, {"reason": "again"}).status_code == 409
    page = nora.get(f"/patients/{pid}/refill").text  # nothing waits: the running solution only
    assert 'value="v2"' not in page and " checked" in _input(page, "solution_choice", "running")

    # A concentration change waiting for its verification is closed when another change of version 1 runs first:
    # it can no longer be verified.
    r = ada.post(f"/patients/{pid}/programs", DOUBLED)
    assert r.headers["location"] == f"/patients/{pid}/programs/3"
    ada.post(f"/patients/{pid}/programs/3/confirm", {})
    rate_change = program_data(mode="continuous", rate="0.5 mL/day")
    live = ada.post(f"/patients/{pid}/program/preview", rate_change, htmx=True)  # the editor says it as you type
    assert 'data-code="program.closes-waiting"' in live.text
    assert "If this program runs, it closes version 3" in text_by_id(live.text, "program-check-findings")
    r = ada.post(f"/patients/{pid}/programs", rate_change)
    review = ada.follow(r).text
    assert "if this program runs, it closes version 3 (awaiting verification" in review  # said before confirming
    r = ada.post(f"/patients/{pid}/programs/4/confirm", {})
    assert r.status_code == 422  # the finding in words, not its code (program.closes-waiting)
    assert "none is given for “if this program runs, it closes version 3" in text_by_id(r.text, "review-error")
    reason = {"override:program.closes-waiting": "the rate first; the new concentration is re-ordered"}
    r = ada.post(f"/patients/{pid}/programs/4/confirm", reason)
    assert r.headers["location"] == f"/patients/{pid}/programs/4?done=active"
    r = phil.post(f"/patients/{pid}/programs/3/verify")
    assert r.status_code == 409 and "program version 3 is cancelled" in text_by_id(r.text, "review-error")
    assert "version 4 replaced before it ran" in text_by_id(r.text, "refused-reason")


def test_refill_is_prepared_checked_by_a_second_person_then_filled_against_the_expected_residual(
    clinic: Clinic,
) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=30)
    clinic.user("ned", "nurse")
    nora, phil = Browser(clinic, "nora"), Browser(clinic, "phil")
    page = nora.get(f"/patients/{pid}/refill").text
    # 30 days of 0.525 mL/day from 40 mL: 40 - 15.75 = 24.25 mL expected. The programmable pump's accuracy is
    # ± 15 % of the 15.75 mL delivered, ± 2.3625 mL: 21.8875 to 26.6125 mL, shown to 0.1 mL (half up), the exact
    # values on hover.
    assert text_by_id(page, "expected-ml") == "24.3 mL (band 21.9 to 26.6 mL )"
    assert '<span class="ml" title="exact: 21.8875 mL">21.9</span>' in page
    assert " checked" in _input(page, "solution_choice", "running")
    assert 'type="date"' in _input(page, "expires_at")
    r = nora.post(f"/patients/{pid}/refills", prepare_data(volume_ml="41"))  # more than the reservoir holds
    assert r.status_code == 422
    assert "the volume to fill 41 mL is more than the programmable-40 reservoir can hold (40 mL)" in text_by_id(
        r.text, "form-error"
    )
    assert 'value="L-77"' in r.text  # the form comes back as typed
    r = nora.post(f"/patients/{pid}/refills", prepare_data(expires_at="2026-12-20"))  # usable through yesterday
    assert r.status_code == 422 and "Not saved The expiry or beyond-use date: " in text_by_id(r.text, "form-error")
    assert "do not fill it" in text_by_id(r.text, "form-error")
    assert count(clinic, Refill) == 0

    r = nora.post(f"/patients/{pid}/refills", prepare_data())
    url = r.headers["location"]
    assert re.fullmatch(rf"/patients/{pid}/refills/\d+", url)
    rid = url.rsplit("/", 1)[1]
    record = nora.follow(r).text
    assert text_by_id(record, "refill-title") == "Refill: prepared"
    # an admixture, and clonidine has no labeled product: compounded, so a pharmacist or a physician checks it
    assert text_by_id(record, "refill-compounded") == (
        "yes: an admixture of 2 drugs; clonidine has no labeled intrathecal product"
    )
    assert "You prepared this refill: a pharmacist or a physician other than you checks it" in text_by_id(
        record, "refill-check-blocked"
    )
    assert not has_id(record, "refill-check-form") and has_id(record, "unchecked-warning")
    # prepared is not filled: the twin still expects the old fill's residual
    assert text_by_id(record, "expected-ml") == "24.3 mL"
    assert text_by_id(record, "expected-band") == "21.9 to 26.6 mL"
    assert "24.3 mL (band" in text_by_id(nora.get(f"/patients/{pid}/refill").text, "expected-ml")
    assert "L-77, 40 mL : prepared" in text_by_id(nora.get(f"/patients/{pid}/refill").text, "open-refills")

    # the discrepancy check, live as the withdrawn volume is typed
    check = f"/patients/{pid}/refill/check"
    r = nora.post(check, {"withdrawn_ml": "24", "refill_id": rid}, htmx=True)
    assert "<html" not in r.text and text_by_id(r.text, "reconciliation-status") == "Within the band"
    r = nora.post(check, {"withdrawn_ml": "20", "refill_id": rid}, htmx=True)
    assert text_by_id(r.text, "reconciliation-status") == "Discrepancy: less than expected"
    assert "over-infusion" in text_by_id(r.text, "likely-causes")
    r = nora.post(check, {"withdrawn_ml": "lots", "refill_id": rid}, htmx=True)
    assert "enter the withdrawn volume" in text_by_id(r.text, "refill-check-error")
    # without JavaScript the check button posts the completion form there: the page comes back with the check
    r = nora.post(check, {"withdrawn_ml": "20", "filled_ml": "40", "refill_id": rid})
    assert "<html" in r.text and text_by_id(r.text, "reconciliation-status") == "Discrepancy: less than expected"
    assert 'value="20"' in _input(r.text, "withdrawn_ml")

    # the second person: not a nurse for a compounded solution, and with the right password
    r = nora.post(f"{url}/check")
    assert r.status_code == 403
    assert "a nurse cannot check a prepared refill of a compounded solution" in text_by_id(r.text, "refill-error")
    r = nora.post(f"{url}/check", {"cosign_username": "ned", "cosign_password": PASSWORD})
    assert r.status_code == 403 and "(allowed: a physician, a pharmacist)" in text_by_id(r.text, "refill-error")
    r = nora.post(f"{url}/check", {"cosign_username": "phil", "cosign_password": "not his"})
    assert r.status_code == 422
    assert "The second person's password: wrong username or password" in text_by_id(r.text, "refill-error")
    assert text_by_id(nora.get(url).text, "refill-title") == "Refill: prepared"
    # the pharmacist checks it on his own login; he does not fill it
    record = phil.get(url).text
    assert has_id(record, "refill-check-form") and not has_id(record, "refill-form")
    r = phil.post(f"{url}/check")
    assert "Checked by Phil, 21 Dec 2026 09:00 CST, before the fill" in text_by_id(phil.follow(r).text, "step-check")
    assert phil.post(f"{url}/check").status_code == 409  # checked once

    # the fill
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "20", "filled_ml": "41"})
    assert r.status_code == 422 and text_by_id(r.text, "refill-error") == (
        "Not done The volume filled 41 mL is more than the programmable-40 reservoir can hold (40 mL)"
    )
    assert 'value="20"' in _input(r.text, "withdrawn_ml")  # the form comes back as typed
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "20", "filled_ml": "40"})
    assert r.headers["location"] == url
    result = nora.follow(r).text
    assert text_by_id(result, "refill-title") == "Refill: completed"
    assert text_by_id(result, "reconciliation-status") == "Discrepancy: less than expected"
    assert "pocket fill" in text_by_id(result, "likely-causes")
    # Refilled to 40 mL at 2026-12-21 09:00 CST: the worst case (0.585 mL/day) reaches the 2 mL alarm on
    # 2027-02-24 at 08:05:27 CST (worked in tests/test_api_refills.py), before the 90-day stability runs out.
    assert text_by_id(result, "next-refill-due") == "24 Feb 2027 08:05 CST"
    assert not has_id(result, "refill-form") and not has_id(result, "refill-cancel-form")
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "20", "filled_ml": "40"})
    assert r.status_code == 409 and "it cannot be completed now" in text_by_id(r.text, "refill-error")
    # the discrepancy is on the dashboard, and the refill on the chart
    board = nora.get("/clinic").text
    assert (
        "reconciliation discrepancy: 20 mL withdrawn, less than the 24.3 mL expected (band 21.9 to 26.6 mL)"
        in text_by_id(board, "dash-urgent")
    )
    assert "reconciliation discrepancy: 20 mL withdrawn" not in text_by_id(board, "q-discrepancies")  # she filled it
    physician = Browser(clinic, "ada").get("/clinic").text  # a second person acknowledges it
    assert "reconciliation discrepancy: 20 mL withdrawn" in text_by_id(physician, "q-discrepancies")
    timeline = text_by_id(nora.get(f"/patients/{pid}").text, "timeline")
    assert "Refill: less than expected withdrawn 20 mL, expected 24.3 mL; filled 40 mL of morphine 10 mg/mL" in timeline


def test_a_product_strength_refill_is_checked_by_another_nurse_signing_on_the_same_screen(clinic: Clinic) -> None:
    # Morphine 10 mg/mL alone is a labeled product strength: not compounded, so a nurse may check it.
    pid = implanted_patient(clinic, program=morphine_program(START, "0.5 mL/day"))
    clinic.user("ned", "nurse")
    clinic.advance(days=30)
    nora = Browser(clinic, "nora")
    refills = f"/patients/{pid}/refills"
    # co-signing her own preparation is refused on the form (nothing written, the password not shown again)
    r = nora.post(refills, prepare_data(volume_ml="30", cosign_username="nora", cosign_password=PASSWORD))
    assert r.status_code == 403
    assert "a second person must check a prepared refill before the fill" in text_by_id(r.text, "form-error")
    assert 'value="L-77"' in r.text and PASSWORD not in r.text
    r = nora.post(refills, prepare_data(volume_ml="30", cosign_username="ned", cosign_password="guess"))
    assert r.status_code == 422 and "password: wrong username or password" in text_by_id(r.text, "form-error")
    assert count(clinic, Refill) == 0
    r = nora.post(refills, prepare_data(volume_ml="30", cosign_username="ned", cosign_password=PASSWORD))
    url = r.headers["location"]
    record = nora.follow(r).text
    assert text_by_id(record, "refill-title") == "Refill: checked"
    assert text_by_id(record, "refill-compounded") == "no: every drug is a labeled product strength"
    assert "Checked by Ned" in text_by_id(record, "step-check")
    assert not has_id(record, "unchecked-warning") and not has_id(record, "f-emergency_reason")
    # 30 days of 0.5 mL/day from 40 mL: 25 mL expected, band ± 15 % of the 15 mL delivered: 22.75 to 27.25 mL
    assert text_by_id(record, "expected-ml") == "25 mL"
    assert text_by_id(record, "expected-band") == "22.8 to 27.3 mL"  # to 0.1 mL, half up
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "25", "filled_ml": "35"})  # more than the 30 mL checked
    assert r.status_code == 422
    assert "35 mL is more than was prepared and checked (30 mL)" in text_by_id(r.text, "refill-error")
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "25", "filled_ml": "30"})
    result = nora.follow(r).text
    assert text_by_id(result, "reconciliation-status") == "Within the band"
    assert "withdrawn 25 mL , expected 25 mL ( 22.8 to 27.3 mL )" in text_by_id(result, "reconciliation")


def test_an_unchecked_emergency_fill_needs_a_reason_and_raises_a_review_flag(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, program=morphine_program(START, "0.5 mL/day"))
    clinic.advance(days=30)
    nora, ada, phil = Browser(clinic, "nora"), Browser(clinic, "ada"), Browser(clinic, "phil")
    r = nora.post(f"/patients/{pid}/refills", prepare_data())
    url = r.headers["location"]
    assert has_id(nora.follow(r).text, "unchecked-warning")
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "25", "filled_ml": "40"})
    assert r.status_code == 422
    assert "not been checked by a second person" in text_by_id(r.text, "refill-error")  # not filled by accident
    sure = {"withdrawn_ml": "25", "filled_ml": "40", "emergency_confirmed": "on"}
    r = nora.post(f"{url}/complete", sure)  # ticked, but no reason
    assert r.status_code == 422
    error = text_by_id(r.text, "refill-error")
    assert "The reason to fill without the double check: " in error and "independent double check" in error
    assert text_by_id(nora.get(url).text, "refill-title") == "Refill: prepared"
    why = "low-reservoir alarm at a home visit, no second nurse reachable"
    r = nora.post(f"{url}/complete", {**sure, "emergency_reason": why})
    result = nora.follow(r).text
    assert text_by_id(result, "refill-title") == "Refill: completed"
    assert text_by_id(result, "step-check") == "Not checked before the fill (emergency)"
    assert text_by_id(result, "refill-emergency") == why
    message = f"filled without its independent double check (emergency: {why}): review the preparation"
    assert f"Review: {message}" in text_by_id(result, "refill-flags")
    found = re.search(rf'href="(/patients/{pid}/flags/\d+)"', result)
    assert found is not None
    flag_url = found.group(1)
    board = nora.get("/clinic").text
    assert f"review: {message}" in text_by_id(board, "dash-urgent") and f'href="{flag_url}"' in board
    assert "Refill: within band (filled without its check)" in text_by_id(nora.get(f"/patients/{pid}").text, "timeline")

    flag = nora.get(flag_url).text
    assert text_by_id(flag, "flag-title") == "Flag for review"
    assert message in text_by_id(flag, "flag-message")
    assert text_by_id(flag, "flag-status") == "open" and f'href="{url}"' in flag  # links the refill
    # The check it skipped is done afterwards by a second person: the nurse who filled it is not offered the form.
    assert not has_id(flag, "flag-resolve-form")
    assert "other than Nora" in text_by_id(flag, "flag-who")
    r = nora.post(f"{flag_url}/resolve", {"resolution": "checked it myself"})
    assert r.status_code == 403 and "a second person must review" in page_text(r.text)
    assert has_id(phil.get(flag_url).text, "flag-resolve-form")  # a pharmacist may review it
    r = ada.post(f"{flag_url}/resolve", {"resolution": "  "})
    assert r.status_code == 422 and "say what was done" in text_by_id(r.text, "flag-error")
    done = "preparation checked against the prescription and the label afterwards: correct"
    r = ada.post(f"{flag_url}/resolve", {"resolution": done})
    assert r.headers["location"] == flag_url
    flag = ada.follow(r).text
    assert text_by_id(flag, "flag-status") == f"resolved 21 Dec 2026 09:00 CST by Ada: {done}"
    assert not has_id(flag, "flag-resolve-form")
    assert message not in text_by_id(nora.get("/clinic").text, "dash-urgent")
    assert ada.post(f"{flag_url}/resolve", {"resolution": "again"}).status_code == 409


def test_a_suspected_pocket_fill_raises_an_urgent_flag_with_what_went_into_the_tissue(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=30)
    nora = Browser(clinic, "nora")
    r = nora.post(f"/patients/{pid}/refills", prepare_data(cosign_username="phil", cosign_password=PASSWORD))
    url = r.headers["location"]
    fill = {"withdrawn_ml": "24.25", "filled_ml": "40", "pocket_ml": "5"}
    r = nora.post(f"{url}/complete", fill)  # a volume typed, the box not ticked: refused, not dropped
    assert r.status_code == 422 and text_by_id(r.text, "refill-error") == (
        "Not done The volume that may have gone outside the reservoir: only with a suspected pocket fill"
    )
    r = nora.post(f"{url}/complete", {**fill, "pocket_fill_suspected": "on"})
    result = nora.follow(r).text
    assert "Filled 40 mL (up to 5 mL may have gone outside the reservoir)" in text_by_id(result, "refill-outcome")
    # 5 mL × 10 mg/mL = 50 mg of morphine and 5 mL × 100 mcg/mL = 500 mcg of clonidine into the tissue
    message = (
        "suspected pocket fill: up to 5 mL outside the reservoir (morphine 50 mg; clonidine 500 mcg), an acute dose "
        "into the tissue around the pump"
    )
    assert f"Urgent: {message}" in text_by_id(result, "refill-flags")
    # The reservoir got 35 mL: the worst case (0.585 mL/day) reaches the 2 mL alarm after 33 mL. 56 days give
    # 32.76 mL; the last 0.24 mL at 0.66 mL/day from 09:00 takes 8 h 43.6 min: 2027-02-15 17:43 CST.
    assert text_by_id(result, "next-refill-due") == "15 Feb 2027 17:43 CST"
    assert f"urgent: {message}" in text_by_id(nora.get("/clinic").text, "dash-urgent")
    found = re.search(rf'href="(/patients/{pid}/flags/\d+)"', result)
    assert found is not None
    flag = nora.get(found.group(1)).text
    assert text_by_id(flag, "flag-title") == "Urgent flag" and has_id(flag, "flag-actions")


def test_a_refill_form_sent_twice_is_done_once(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=30)
    nora, phil = Browser(clinic, "nora"), Browser(clinic, "phil")
    refills = f"/patients/{pid}/refills"
    token = form_token(nora.get(f"/patients/{pid}/refill").text, "prepare-form")
    # refused, a form keeps its token: nothing was done, so sending it again corrected does it
    assert nora.post(refills, prepare_data(volume_ml="41", form_token=token)).status_code == 422
    first = nora.post(refills, prepare_data(form_token=token))
    again = nora.post(refills, prepare_data(form_token=token))  # a double click, or back and Save again
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert count(clinic, Refill) == 1
    url = first.headers["location"]
    phil.post(f"{url}/check")

    token = form_token(nora.get(url).text, "refill-form")
    audit = count(clinic, AuditRecord)
    done = {"withdrawn_ml": "24", "filled_ml": "40", "form_token": token}
    first = nora.post(f"{url}/complete", done)
    again = nora.post(f"{url}/complete", done)
    assert first.status_code == again.status_code == 303 and again.headers["location"] == url
    assert count(clinic, AuditRecord) == audit + 1  # one complete-refill record
    assert count(clinic, Refill) == 1
    # a new form for the completed refill is a new request, and refused: the replay was not a second completion
    r = nora.post(f"{url}/complete", {**done, "form_token": "a-new-form"})
    assert r.status_code == 409


def test_a_follow_up_with_the_scales_raises_the_urgent_flags(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    nora = Browser(clinic, "nora")
    page = nora.get(f"/patients/{pid}/follow-up").text
    assert 'value="8"' in page  # the baseline pain from the trial
    visit = {
        "nrs": "3",
        "baseline_nrs": "8",
        **{f"odi-{i}": "2" for i in range(10)},
        **{f"phq-{i}": "1" for i in range(9)},
        "ae-nausea": "1",
        "ae-respiratory-depression": "0",
    }
    r = nora.post(f"/patients/{pid}/follow-up/preview", visit, htmx=True)
    assert "62.5 % relief" in text_by_id(r.text, "score-pain")
    assert "40 %" in text_by_id(r.text, "score-odi")
    flags = text_by_id(r.text, "follow-up-flags")
    assert "URGENT: PHQ-9 item 9" in flags and "nausea (grade 1, mild)" in flags
    r = nora.post(f"/patients/{pid}/follow-up/preview", {**visit, "phq-4": ""}, htmx=True)
    # item 9 is never skipped silently: all 9 or none (the fifth answer left out is "answer 5", not "phq9[4]")
    assert text_by_id(r.text, "follow-up-error") == ("PHQ-9 answer 5: is blank: give a whole number")

    r = nora.post(f"/patients/{pid}/follow-up", visit)
    assert r.status_code == 303
    result = nora.follow(r).text
    assert has_id(result, "urgent-open") and "PHQ-9 item 9" in text_by_id(result, "follow-up-flags")
    board = nora.get("/clinic").text
    assert "PHQ-9 item 9" in text_by_id(board, "dash-urgent")
    chart = nora.get(f"/patients/{pid}").text
    assert "nausea" in text_by_id(chart, "side-effects-table")
    assert "NRS 3" in text_by_id(chart, "pain-chart")
    view = r.headers["location"]
    # one click is not enough: what was done is asked for, and the flag stays open without it
    refused = nora.post(f"{view}/resolve", {"resolution": ""})
    assert refused.status_code == 422 and has_id(refused.text, "urgent-open")
    done = "seen by Dr Okafor today; safety plan agreed"
    r = nora.post(f"{view}/resolve", {"resolution": done})
    assert text_by_id(nora.follow(r).text, "urgent-resolved").endswith(f"by Nora: {done}.")
    assert "PHQ-9 item 9" not in text_by_id(nora.get("/clinic").text, "dash-urgent")


def test_an_interrogation_with_alarms_shows_on_the_chart_and_the_dashboard(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=10, minutes=-1)  # a first reading a minute before 10 days, the second at 10 days
    nora = Browser(clinic, "nora")
    page = nora.get(f"/patients/{pid}/interrogation").text
    assert 'value="morphine"' in _input(page, "reported-0-name") and 'type="hidden"' in _input(page, "reported-0-name")
    assert 'value="clonidine"' in _input(page, "reported-1-name")
    assert has_id(page, "reported-0-concentration") and has_id(page, "reported-1-dose")
    # 10 days of 0.525 mL/day from 40 mL: 34.75 mL expected, band ± 15 % of 5.25 mL = 33.9625 to 35.5375 mL (a
    # minute earlier 0.6 mL/day × 1 min = 0.0004 mL more: 35.5 mL is inside either way); the pump's program as the
    # record has it (5.25 mg/day morphine, 52.5 mcg/day clonidine): no flag
    same = {
        "reported-0-name": "morphine",
        "reported-0-concentration": "10 mg/mL",
        "reported-0-dose": "5.25 mg/day",
        "reported-1-name": "clonidine",
        "reported-1-concentration": "100 mcg/mL",
        "reported-1-dose": "52.5 mcg/day",
    }
    r = nora.post(f"/patients/{pid}/interrogation", {**same, "reservoir_ml": "35.5"})
    assert r.status_code == 303
    assert "No open urgent flag" in text_by_id(nora.get("/clinic").text, "dash-urgent")
    r = nora.post(f"/patients/{pid}/interrogation", {**same, "reported-0-concentration": "lots"})
    assert r.status_code == 422 and "expected a concentration such as" in text_by_id(r.text, "form-error")
    assert 'value="lots"' in r.text  # back as typed

    # A minute later, 10 days in: 30 mL is outside the band (a review flag); the pump was told 20 mg/mL morphine
    # (an urgent flag)
    clinic.advance(minutes=1)
    other = {**same, "reported-0-concentration": "20 mg/mL", "reported-0-dose": ""}
    r = nora.post(
        f"/patients/{pid}/interrogation", {**other, "reservoir_ml": "30", "alarms": ["low-reservoir"], "eri": "on"}
    )
    assert r.status_code == 303
    chart = nora.follow(r).text
    assert "alarms: low-reservoir" in text_by_id(chart, "timeline")
    board = nora.get("/clinic").text
    assert "low reservoir" in text_by_id(board, "dash-alarms")
    assert f'href="/patients/{pid}"' in board.split('id="dash-replacement"')[1]
    urgent = text_by_id(board, "dash-urgent")
    assert (
        "urgent: the pump runs another program than the record: morphine: the pump was told 20 mg/mL, the running "
        "program is written for 10 mg/mL" in urgent
    )
    # shown to 0.1 mL: 34.75 → 34.8, 33.9625 → 34, 35.5375 → 35.5
    assert (
        "review: the pump reports 30 mL in the reservoir, less than the record expects (34.8 mL, band 34 to 35.5 mL)"
        in urgent
    )
    assert urgent.index("urgent: the pump runs") < urgent.index("review: the pump reports")  # urgent first
    flags = sorted(set(re.findall(rf'href="(/patients/{pid}/flags/\d+)"', board)))  # in the queues too
    assert len(flags) == 2
    assert {text_by_id(nora.get(f).text, "flag-title") for f in flags} == {"Urgent flag", "Flag for review"}


def test_a_new_patient_from_the_form(clinic: Clinic) -> None:
    nora = Browser(clinic, "nora")
    form = {
        "mrn": "N-1",
        "family_name": "Poe",
        "given_name": "Ed",
        "birth_date": "1970-01-19",
        "sex": "male",
        "timezone": "America/Chicago",
        "care_area": "spasticity-spinal",
        "indications": ["spinal-cord-injury-spasticity"],
        "allergies": "none",
    }
    r = nora.post("/patients/new", {**form, "care_area": "knees"})
    assert r.status_code == 422 and "The care area: unknown care area 'knees'" in text_by_id(r.text, "form-error")
    r = nora.post("/patients/new", form)
    assert r.status_code == 303
    chart = nora.follow(r).text
    assert text_by_id(chart, "patient-name") == "Poe, Ed" and text_by_id(chart, "patient-stage") == "evaluation"
    assert nora.post("/patients/new", form).status_code == 409  # the MRN is taken


def test_a_catheter_revision_keeps_the_program(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=11)  # the revision on 1 December is recorded once it is done
    ada = Browser(clinic, "ada")
    revision = {**IMPLANT, "kind": "revision", "implanted_at": "2026-12-01T09:00", "catheter_length_cm": "55"}
    r = ada.post(f"/patients/{pid}/implant/preview", revision, htmx=True)
    assert "keeps the pump's program" in r.text
    # a revision keeps the pump in place: another serial is another pump (a replacement)
    r = ada.post(f"/patients/{pid}/implant", revision)
    assert r.status_code == 422 and "keeps the pump in place (programmable-40, serial S-W-0001)" in r.text
    r = ada.post(f"/patients/{pid}/implant", {**revision, "pump_serial": "S-W-0001"})
    assert r.status_code == 303
    chart = ada.follow(r).text
    assert "Catheter revision: programmable-40" in text_by_id(chart, "timeline")
    assert text_by_id(chart, "current-program-link") == "Program version 1"


def test_an_empty_follow_up_or_interrogation_form_is_refused_in_words(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    nora = Browser(clinic, "nora")
    r = nora.post(f"/patients/{pid}/follow-up", {"baseline_nrs": "8"})  # the baseline alone is no finding
    assert r.status_code == 422
    assert "Nothing to record: give a pain score (nrs)" in r.text
    r = nora.post(f"/patients/{pid}/interrogation", {})
    assert r.status_code == 422
    assert "Nothing was read: give the reservoir volume (reservoir_ml)" in r.text
    assert nora.post(f"/patients/{pid}/follow-up", {"nrs": "4"}).status_code == 303
