"""Work queues per role, the chart's alert banner, and one replacement rule for API and web. Who sees what is
written by hand from the role rules (a second person checks; a pharmacist or a physician checks a compounded
refill); waits and dates are worked by hand."""

from __future__ import annotations

from typing import Any

import pytest

from openidds.clinic.alerts import PatientStatusFacts, patient_alerts
from openidds.clinic.replacement import replacement_plan
from openidds.data import load_catalog
from openidds.programs.clock import DAY_US
from tests.api_support import (
    CONCENTRATED,
    CONCENTRATED_SOLUTION,
    Clinic,
    complete_body,
    fast_argon2,
    implanted_patient,
    prepare_body,
)
from tests.web_support import Browser, text_by_id


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def queues(clinic: Clinic, who: str) -> dict[str, Any]:
    r = clinic.call("GET", "/queues", who)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def kinds(q: dict[str, Any], name: str) -> list[tuple[str, int]]:
    return [(i["kind"], i["patient_id"]) for i in q[name]]


def test_each_role_sees_what_waits_for_them_with_how_long(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "Q-1")
    clinic.advance(days=2)
    # A concentration change: proposed by bo, confirmed by ada: a second person (not bo, not ada) verifies it.
    assert clinic.call("POST", f"/patients/{pid}/programs", "bo", json={"document": CONCENTRATED}).status_code == 201
    assert queues(clinic, "ada")["awaiting_my_check"][0]["what"] == "program v2 proposed: awaits confirmation"
    assert kinds(queues(clinic, "nora"), "awaiting_my_check") == []  # a nurse confirms nothing
    assert clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "ada", json={}).status_code == 200
    clinic.advance(days=4, hours=3)
    phil = queues(clinic, "phil")
    assert kinds(phil, "awaiting_my_check") == [("verify", pid)]
    assert phil["awaiting_my_check"][0]["waited"] == "4 days 3 h"
    assert phil["awaiting_my_check"][0]["what"].startswith("program v2 for morphine 20 mg/mL")
    assert kinds(queues(clinic, "ada"), "awaiting_my_check") == []  # who confirmed it does not verify it
    assert kinds(queues(clinic, "bo"), "awaiting_my_check") == []  # nor who proposed it
    assert clinic.call("POST", f"/patients/{pid}/programs/2/verify", "phil").status_code == 200
    assert kinds(queues(clinic, "nora"), "awaiting_refill") == [("awaiting-refill", pid)]

    # The compounded refill that brings it: checked by a pharmacist or a physician, never by who prepared it.
    body = prepare_body(solution=CONCENTRATED_SOLUTION)
    r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=body)
    assert r.status_code == 201, r.text
    clinic.advance(days=4)
    phil = queues(clinic, "phil")
    assert kinds(phil, "awaiting_my_check") == [("check", pid)]
    assert phil["awaiting_my_check"][0]["waited"] == "4 days"
    assert "compounded" in phil["awaiting_my_check"][0]["what"]
    assert kinds(queues(clinic, "nora"), "awaiting_my_check") == []
    assert kinds(queues(clinic, "ada"), "awaiting_my_check") == [("check", pid)]
    assert clinic.call("GET", "/queues", "root").status_code == 403  # the admin reads no clinical work


def test_a_discrepancy_waits_to_be_acknowledged_with_a_note(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "Q-2")
    clinic.advance(days=30)
    rid = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare_body()).json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "ada").status_code == 200
    # FLEX delivers 0.525 mL/day: 40 - 30 x 0.525 = 24.25 mL expected; 10 mL withdrawn is far below the band
    r = clinic.call("POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json=complete_body("10"))
    assert r.status_code == 200 and r.json()["reconciliation"] == "less-than-expected"
    # a second person acknowledges it: not nora, who filled it
    assert queues(clinic, "nora")["discrepancies"] == []
    ada = queues(clinic, "ada")
    assert kinds(ada, "discrepancies") == [("discrepancy", pid)]
    # 24.25 - 10 = 14.25 mL unaccounted for: morphine 10 mg/mL x 14.25 = 142.5 mg (3 figures: 143), clonidine 1425 mcg
    assert ada["discrepancies"][0]["what"] == (
        "reconciliation discrepancy: 10 mL withdrawn, less than the 24.3 mL expected (band 21.9 to 26.6 mL): up to "
        "14.3 mL unaccounted for (morphine 143 mg; clonidine 1425 mcg), delivered beyond the program or lost"
    )
    assert ada["discrepancies"][0]["urgent"] is True  # a shortfall: assess the patient now, marked so in the queue
    assert kinds(ada, "flags") == []  # a discrepancy is listed once, with the discrepancies
    flag = next(f for f in clinic.call("GET", f"/patients/{pid}/flags", "ada").json() if f["resolved_at"] is None)
    assert (flag["code"], flag["urgent"]) == ("refill.discrepancy", True)  # assess the patient now
    resolve = f"/patients/{pid}/flags/{flag['id']}/resolve"
    done = {"resolution": "interrogated: 10.1 mL in the reservoir; the pump over-infused: reported, patient observed"}
    assert clinic.call("POST", resolve, "nora", json=done).status_code == 403
    assert clinic.call("POST", resolve, "ada", json={"resolution": " "}).status_code == 422
    assert clinic.call("POST", resolve, "ada", json=done).status_code == 200
    assert queues(clinic, "ada")["discrepancies"] == []


# --- replacement planning: one rule ------------------------------------------------------------------------------
def test_replacement_is_planned_182_days_before_the_end_of_service() -> None:
    battery = load_catalog().pump("programmable-40", "pump").battery
    eri = 1_000 * DAY_US
    plan = replacement_plan(battery, eri)
    assert plan is not None
    # label: end of service 90 days after ERI; plan by 182 days before it: 92 days before ERI
    assert plan.end_of_service == eri + 90 * DAY_US
    assert plan.plan_by == eri - 92 * DAY_US
    assert replacement_plan(load_catalog().pump("constant-flow-30-0.5", "pump").battery, None) is None


def test_the_banner_says_what_a_nurse_must_see_first() -> None:
    now = 2_000 * DAY_US
    facts = PatientStatusFacts(
        next_refill_due=now - 2 * DAY_US,
        refill_reason="drug stability in the pump runs out",
        withdrawal_risk=True,
        withdrawal_drugs=("baclofen",),
        eri_at=now - 10 * DAY_US,
        end_of_service=now + 80 * DAY_US,
        replacement_due=now - 102 * DAY_US,
        flags=(
            {"code": "phq9.item-9", "urgent": True, "message": "PHQ-9 item 9 answered 1", "link": "follow-ups/4"},
            {"code": "refill.discrepancy", "urgent": False, "message": "10 mL withdrawn", "link": "flags/7"},
        ),
        pending_program="program v3 awaits its refill",
    )
    alerts = patient_alerts(facts, now, when=lambda us: f"day {us // DAY_US}")
    assert [(a.level, a.code) for a in alerts] == [
        ("hard", "urgent-flag"),
        ("hard", "refill-overdue"),
        ("hard", "withdrawal-risk"),
        ("hard", "eri"),
        ("soft", "program-awaits-refill"),
        ("soft", "discrepancy"),
    ]
    assert alerts[1].message == "Refill overdue by 2 days: was due day 1998 (drug stability in the pump runs out)"
    assert alerts[3].message == (
        "Elective replacement indicator since day 1990; end of service day 2080 (80 days from now): "
        "replace the pump before it stops"
    )
    assert (alerts[5].link, alerts[5].action) == ("flags/7", "acknowledge it")


def test_the_chart_and_the_forms_show_the_banner_and_the_dashboard_the_queues(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "Q-3")
    clinic.advance(days=2)
    assert clinic.call("POST", f"/patients/{pid}/programs", "bo", json={"document": CONCENTRATED}).status_code == 201
    assert clinic.call("POST", f"/patients/{pid}/programs/2/confirm", "bo", json={}).status_code == 200
    phil = Browser(clinic, "phil")
    board = phil.get("/clinic").text
    assert "program v2 for morphine 20 mg/mL" in text_by_id(board, "q-check")
    ada = Browser(clinic, "ada")
    for page in (f"/patients/{pid}", f"/patients/{pid}/refill", f"/patients/{pid}/program"):
        banner = text_by_id(ada.get(page).text, "alert-banner")
        assert "Not running yet: program v2 awaits its second-person verification" in banner, page
    clinic.advance(days=200)  # FLEX runs dry long before: the refill is overdue
    banner = text_by_id(Browser(clinic, "ada").get(f"/patients/{pid}").text, "alert-banner")
    assert banner.startswith("Alerts for this patient Refill overdue by ")  # the most severe first


def test_chart_offers_no_candidate_evaluation_once_implanted(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "Q-4")
    chart = Browser(clinic, "ada").get(f"/patients/{pid}").text
    assert 'id="action-evaluation"' not in chart and 'id="action-trial"' not in chart


def test_an_overdue_refill_is_in_my_work_and_a_prepared_one_in_the_banner(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "Q-5")
    r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare_body())
    assert r.status_code == 201, r.text
    banner = text_by_id(Browser(clinic, "ada").get(f"/patients/{pid}").text, "alert-banner")
    assert "Refill prepared 21 Nov 2026 09:00 CST: awaits its independent double check" in banner  # START, Chicago
    assert queues(clinic, "nora")["refills_overdue"] == []
    clinic.advance(days=200)  # FLEX empties its 40 mL long before 200 days
    nora = queues(clinic, "nora")
    assert kinds(nora, "refills_overdue") == [("refill-overdue", pid)]
    assert nora["refills_overdue"][0]["link"] == f"/patients/{pid}/refill"
    assert kinds(queues(clinic, "phil"), "refills_overdue") == [("refill-overdue", pid)]  # a pharmacist prepares too
