"""The care team's workflows in the web app, each with its happy path and its refusal, on SQLite and PostgreSQL.

Every save goes through the same use case as the API, so what the API refuses the pages refuse, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web_support import (
    Browser,
    Clinic,
    fast_argon2,
    has_id,
    implanted_patient,
    new_patient,
    page_text,
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
    assert r.status_code == 422 and "planned_drugs" in text_by_id(r.text, "form-error")
    assert clinic.call("GET", f"/patients/{pid}/evaluations", "nora").json() == []


def test_trial_with_the_computed_outcome(clinic: Clinic) -> None:
    pid = new_patient(clinic)
    ada = Browser(clinic, "ada")
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
    assert "nrs" in text_by_id(r.text, "trial-error")

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
    assert "titration.hard-max" in findings and "20.6 mg/day is above the hard maximum 20 mg/day" in findings
    assert "2 mL/day (20 mg/day morphine)" in text_by_id(r.text, "program-check-changes")
    r = ada.post(f"/patients/{pid}/program/preview", program_data(**{"step-1-rate": "0.6 mg"}), htmx=True)
    assert "program.steps[1].rate" in text_by_id(r.text, "program-check-error")

    r = ada.post(f"/patients/{pid}/programs", above)
    assert r.headers["location"] == f"/patients/{pid}/programs/2"
    review = ada.follow(r).text
    assert text_by_id(review, "version-status") == "refused"
    assert "above the hard maximum 20 mg/day" in text_by_id(review, "refused-reason")
    assert not has_id(review, "confirm-form")  # nothing to confirm
    assert ada.post(f"/patients/{pid}/programs/2/confirm").status_code == 409


def test_a_soft_finding_needs_an_override_reason(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    ada = Browser(clinic, "ada")
    nora = Browser(clinic, "nora")
    soft = program_data(mode="continuous", rate="0.7 mL/day")  # 5.25 → 7 mg/day: +33 %, above the 20 % soft step
    r = nora.post(f"/patients/{pid}/programs", soft)  # a nurse proposes
    review = nora.follow(r).text
    assert text_by_id(review, "version-status") == "proposed"
    assert "titration.soft-max" in text_by_id(review, "review-findings")
    changed = text_by_id(review, "review-diff")
    assert "mode flex (period: day) continuous changed" in changed
    assert "morphine daily dose 5.25 mg/day 7 mg/day changed" in changed
    assert not has_id(review, "confirm-form") and has_id(review, "confirm-not-allowed")

    review = ada.get(f"/patients/{pid}/programs/2").text
    assert has_id(review, "confirm-form") and 'name="override:titration.soft-max"' in review
    r = ada.post(f"/patients/{pid}/programs/2/confirm", {"override:titration.soft-max": "  "})
    assert r.status_code == 422
    assert "each soft finding needs a reason: titration.soft-max" in text_by_id(r.text, "review-error")
    assert text_by_id(r.text, "version-status") == "proposed"
    reason = "pain uncontrolled on the current dose; reviewed with the patient"
    r = ada.post(f"/patients/{pid}/programs/2/confirm", {"override:titration.soft-max": reason})
    assert r.headers["location"] == f"/patients/{pid}/programs/2?done=active"
    review = ada.follow(r).text
    assert text_by_id(review, "version-status") == "active"
    assert reason in text_by_id(review, "review-overrides")
    board = ada.get("/clinic").text
    assert reason in text_by_id(board, "dash-overrides") and f'href="/patients/{pid}"' in board


def test_a_concentration_change_needs_a_second_person(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    ada, bo, phil = Browser(clinic, "ada"), Browser(clinic, "bo"), Browser(clinic, "phil")
    doubled = program_data(
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
    r = ada.post(f"/patients/{pid}/programs", doubled)
    review = ada.follow(r).text
    assert "needed" in text_by_id(review, "needs-second")
    assert "morphine concentration 10 mg/mL 20 mg/mL changed" in text_by_id(review, "review-diff")
    r = ada.post(f"/patients/{pid}/programs/2/confirm", {})
    review = ada.follow(r).text
    assert text_by_id(review, "version-status") == "awaiting verification"
    assert has_id(review, "verify-blocked")
    # the same physician cannot verify it
    r = ada.post(f"/patients/{pid}/programs/2/verify")
    assert r.status_code == 403 and "a second person must" in text_by_id(r.text, "review-error")
    assert text_by_id(r.text, "version-status") == "awaiting verification"
    # a pharmacist may
    review = phil.get(f"/patients/{pid}/programs/2").text
    assert has_id(review, "verify-program") and not has_id(review, "verify-blocked")
    r = phil.post(f"/patients/{pid}/programs/2/verify")
    assert r.headers["location"] == f"/patients/{pid}/programs/2?done=verified"
    assert text_by_id(phil.follow(r).text, "version-status") == "active"
    assert bo.post(f"/patients/{pid}/programs/2/verify").status_code == 409  # and only once


def test_refill_with_the_expected_residual_a_discrepancy_and_the_next_due_date(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=30)
    nora, phil = Browser(clinic, "nora"), Browser(clinic, "phil")
    page = nora.get(f"/patients/{pid}/refill").text
    # 30 days of 0.525 mL/day from 40 mL: 40 - 15.75 = 24.25 mL expected. The programmable pump's accuracy is
    # ± 15 % of the 15.75 mL delivered, ± 2.3625 mL: 21.8875 to 26.6125 mL, shown to 4 significant digits.
    assert text_by_id(page, "expected-ml") == "24.25 mL"
    assert text_by_id(page, "expected-band") == "21.89 to 26.61 mL"
    r = nora.post(f"/patients/{pid}/refill/check", {"withdrawn_ml": "24"}, htmx=True)
    assert text_by_id(r.text, "reconciliation-status") == "Within the band"
    r = nora.post(f"/patients/{pid}/refill/check", {"withdrawn_ml": "20"}, htmx=True)
    assert text_by_id(r.text, "reconciliation-status") == "Discrepancy: less than expected"
    assert "over-infusion" in text_by_id(r.text, "likely-causes")
    r = nora.post(f"/patients/{pid}/refill/check", {"withdrawn_ml": "lots"}, htmx=True)
    assert "enter the withdrawn volume" in text_by_id(r.text, "refill-check-error")

    refill = {"withdrawn_ml": "20", "drug_lot": "L-77", "filled_ml": "40"}
    r = nora.post(f"/patients/{pid}/refill", {**refill, "filled_ml": "41"})  # more than the reservoir holds
    assert r.status_code == 422 and "at most the reservoir's 40 mL" in text_by_id(r.text, "form-error")
    assert 'value="20"' in r.text  # the form comes back as typed
    r = nora.post(f"/patients/{pid}/refill", refill)
    assert r.status_code == 303
    result = nora.follow(r).text
    assert text_by_id(result, "reconciliation-status") == "Discrepancy: less than expected"
    assert "pocket fill" in text_by_id(result, "likely-causes")
    # Refilled to 40 mL at 2026-12-21 09:00 CST: the worst case (0.585 mL/day) reaches the 2 mL alarm on
    # 2027-02-24 at 08:05:27 CST (worked in tests/test_api_refills.py), before the 90-day stability runs out.
    assert text_by_id(result, "next-refill-due") == "2027-02-24 08:05 CST"
    # the flag is on the dashboard, linked to the patient
    assert "reconciliation discrepancy: less than expected" in text_by_id(nora.get("/clinic").text, "dash-urgent")
    # the second check: not the nurse who recorded it
    url = r.headers["location"]
    r = nora.post(f"{url}/verify")
    assert r.status_code == 403 and "second person" in text_by_id(r.text, "refill-error")
    r = phil.post(f"{url}/verify")
    assert "verified by Phil" in text_by_id(phil.follow(r).text, "refill-verified")


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
    assert "phq9" in text_by_id(r.text, "follow-up-error")  # item 9 is never skipped silently: all 9 or none

    r = nora.post(f"/patients/{pid}/follow-up", visit)
    assert r.status_code == 303
    result = nora.follow(r).text
    assert has_id(result, "urgent-open") and "PHQ-9 item 9" in text_by_id(result, "follow-up-flags")
    board = nora.get("/clinic").text
    assert "PHQ-9 item 9" in text_by_id(board, "dash-urgent")
    chart = nora.get(f"/patients/{pid}").text
    assert "nausea" in text_by_id(chart, "side-effects-table")
    assert "NRS 3" in text_by_id(chart, "pain-chart")
    r = nora.post(f"{r.headers['location']}/resolve")
    assert has_id(nora.follow(r).text, "urgent-resolved")
    assert "PHQ-9 item 9" not in text_by_id(nora.get("/clinic").text, "dash-urgent")


def test_an_interrogation_with_alarms_shows_on_the_chart_and_the_dashboard(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    nora = Browser(clinic, "nora")
    r = nora.post(f"/patients/{pid}/interrogation", {"reservoir_ml": "30", "alarms": ["low-reservoir"], "eri": "on"})
    assert r.status_code == 303
    chart = nora.follow(r).text
    assert "alarms: low-reservoir" in text_by_id(chart, "timeline")
    board = nora.get("/clinic").text
    assert "low reservoir" in text_by_id(board, "dash-alarms")
    assert f'href="/patients/{pid}"' in board.split('id="dash-replacement"')[1]


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
    assert r.status_code == 422 and "care_area" in text_by_id(r.text, "form-error")
    r = nora.post("/patients/new", form)
    assert r.status_code == 303
    chart = nora.follow(r).text
    assert text_by_id(chart, "patient-name") == "Poe, Ed" and text_by_id(chart, "patient-stage") == "evaluation"
    assert nora.post("/patients/new", form).status_code == 409  # the MRN is taken


def test_a_catheter_revision_keeps_the_program(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    ada = Browser(clinic, "ada")
    revision = {**IMPLANT, "kind": "revision", "implanted_at": "2026-12-01T09:00", "catheter_length_cm": "55"}
    r = ada.post(f"/patients/{pid}/implant/preview", revision, htmx=True)
    assert "keeps the pump's program" in r.text
    r = ada.post(f"/patients/{pid}/implant", revision)
    assert r.status_code == 303
    chart = ada.follow(r).text
    assert "Catheter revision: programmable-40" in text_by_id(chart, "timeline")
    assert text_by_id(chart, "current-program-link") == "Program version 1"
