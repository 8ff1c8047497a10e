"""The clinic dashboard and the patient chart: what each section shows, linked to the patient."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.web_support import Browser, Clinic, fast_argon2, implanted_patient, new_patient, program_data, text_by_id


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
    assert "patient-actions" not in Browser(clinic, "phil").get(f"/patients/{pid}").text
