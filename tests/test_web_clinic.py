"""The clinic dashboard and the patient chart: what each section shows, linked to the patient."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.web_support import (
    PASSWORD,
    Browser,
    Clinic,
    fast_argon2,
    implanted_patient,
    new_patient,
    prepare_data,
    program_data,
    text_by_id,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fast_argon2(monkeypatch)
    yield


def test_the_dashboard_sorts_refills_into_overdue_this_week_and_the_next_30_days(clinic: Clinic) -> None:
    # the worked example is due on 2027-01-25 (worst-case low-reservoir alarm), 65 days after START
    later = implanted_patient(clinic, "W-1", "Later")
    new_patient(clinic, "W-2", "Waiting")

    def board() -> str:  # a new login each time: the clock jumps past a session's 8 h
        return Browser(clinic, "ada").get("/clinic").text

    page = board()
    assert "Later" not in text_by_id(page, "dash-month") and "No refill is overdue" in page
    clinic.advance(days=40)
    assert "Later" in text_by_id(board(), "dash-month")
    clinic.advance(days=20)
    page = board()
    assert "Later" in text_by_id(page, "dash-week") and "Later" not in text_by_id(page, "dash-month")
    clinic.advance(days=6)
    page = board()
    overdue = text_by_id(page, "dash-overdue")
    assert "Later" in overdue and "W-1" in overdue
    assert f'href="/patients/{later}"' in page.split('id="dash-overdue"')[1].split("</section>")[0]
    assert "Waiting" not in page.split('id="dash-urgent"')[1]  # no pump: in no refill list


def test_a_prepared_refill_is_not_in_the_pump_until_it_is_completed(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "W-1", "Late")
    clinic.advance(days=66)  # 2027-01-26 09:00 CST
    nora = Browser(clinic, "nora")
    r = nora.post(f"/patients/{pid}/refills", prepare_data(cosign_username="phil", cosign_password=PASSWORD))
    url = r.headers["location"]
    # Prepared and checked, nothing is in the pump yet: 66 days of 0.525 mL/day left 40 - 34.65 = 5.35 mL. The
    # worst case (0.46 mL/day at night, 0.66 by day) reaches the 2 mL alarm after 3.35 mL: 5 days give 2.925 mL,
    # 09:00-22:00 on 31 January 0.3575 mL, and the last 0.0675 mL at 0.46 mL/day takes 3 h 31 min: 2027-02-01 01:31.
    week = text_by_id(nora.get("/clinic").text, "dash-week")
    assert "Late, Jane W-1 1 Feb 2027 01:31 CST" in week and "5.4 mL" in week  # 5.35 mL to 0.1 mL, half up
    chart = nora.get(f"/patients/{pid}").text
    assert "Refill checked: morphine 10 mg/mL, clonidine 100 mcg/mL 40 mL, lot L-77" in text_by_id(chart, "timeline")
    assert f'href="{url}"' in chart
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "5.35", "filled_ml": "40"})
    assert r.status_code == 303
    # filled: 40 mL, and the next refill more than 30 days away (64 days of the worst case)
    board = nora.get("/clinic").text
    for section in ("dash-overdue", "dash-week", "dash-month"):
        assert "Late" not in text_by_id(board, section), section
    assert "Refill: within band withdrawn 5.4 mL, expected 5.4 mL" in text_by_id(  # 5.35 mL, to 0.1 mL
        nora.get(f"/patients/{pid}").text, "timeline"
    )


def test_the_chart_shows_the_pathway_the_program_and_the_charts(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    clinic.advance(days=3)
    ada = Browser(clinic, "ada")
    r = ada.post(f"/patients/{pid}/programs", program_data(mode="continuous", rate="0.6 mL/day"))
    ada.post(f"{r.headers['location']}/confirm", {})
    clinic.advance(days=2)
    chart = Browser(clinic, "ada").get(f"/patients/{pid}").text

    timeline = text_by_id(chart, "timeline")
    for entry in (
        "Trial (single shot bolus, morphine): success",
        "Implant: programmable-40",
        "Program version 2: active",
    ):
        assert entry in timeline
    assert re.search(r'data-kind="program".*data-kind="implant".*data-kind="trial"', chart, re.S)  # newest first

    doses = text_by_id(chart, "daily-doses")
    assert "morphine 6 mg/day 6.6 mg/day" in doses and "clonidine 60 mcg/day 66 mcg/day" in doses
    assert text_by_id(chart, "current-program-link") == "Program version 2"

    # the reservoir chart: an accessible SVG with every mark
    reservoir = chart.split('id="reservoir-chart"')[1].split("</figure>")[0]
    assert 'role="img"' in reservoir and 'aria-labelledby="reservoir-chart-title reservoir-chart-desc"' in reservoir
    for mark in ("mark-level", "mark-now", "mark-due", "mark-stability", "mark-alarm", "mark-empty"):
        assert f'class="mark {mark}"' in reservoir, mark
    desc = text_by_id(chart, "reservoir-chart-desc")
    assert "The next refill is due on" in desc and "empty on" in desc
    assert "Next refill due" in text_by_id(chart, "reservoir-chart-table")

    # the dose history: one chart per drug, stepping from 5.25 to 6 mg/day
    assert "5.25 mg/day from Sat 21 Nov 2026 (version 1); 6 mg/day from Tue 24 Nov 2026 (version 2)" in text_by_id(
        chart, "dose-chart-morphine-desc"
    )
    assert 'id="dose-chart-clonidine"' in chart
    # no follow-up yet: the pain chart says so instead of drawing an empty plot
    assert text_by_id(chart, "pain-chart") == "Pain (NRS 0-10) over time: nothing recorded yet."


def test_a_nurse_sees_only_the_workflows_a_nurse_may_start(clinic: Clinic) -> None:
    pid = implanted_patient(clinic)
    actions = text_by_id(Browser(clinic, "nora").get(f"/patients/{pid}").text, "patient-actions")
    assert "Refill" in actions and "Change the program" in actions and "Implant" not in actions
    actions = text_by_id(Browser(clinic, "ada").get(f"/patients/{pid}").text, "patient-actions")
    assert "Implant, replacement or revision" in actions
    # The pharmacist prepares refills (compounded solutions come from the pharmacy), and does nothing else here.
    actions = text_by_id(Browser(clinic, "phil").get(f"/patients/{pid}").text, "patient-actions")
    assert actions.split() == ["Refill"]
