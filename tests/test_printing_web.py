"""Printing from the web app, on SQLite and PostgreSQL: a nurse records a booked refill and prints its session record
and the patient's emergency card; the same template is the page (with its "Download PDF" link, under the pages'
Content-Security-Policy) and the PDF. Who may print what, as on the records' own pages.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from openidds.db.models import Appointment, User
from tests.test_printing import first_page_png, pdf_text
from tests.web_support import (
    PASSWORD,
    START,
    Browser,
    Clinic,
    fast_argon2,
    implanted_patient,
    new_patient,
    patient_login,
    prepare_data,
    text_by_id,
)


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def link(html: str, element_id: str) -> str:
    found = re.search(rf'<a href="([^"]+)" id="{element_id}"', html)
    assert found, f"no link #{element_id}"
    return found.group(1).replace("&amp;", "&")


def pdf_of(browser: Browser, url: str) -> bytes:
    r = browser.get(url)
    assert r.status_code == 200, r.text[:2000]
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    assert r.headers["cache-control"] == "no-store"
    return r.content


def printable_page(browser: Browser, url: str) -> str:
    """The HTML page of a record: the pages' security headers, no script, its own stylesheet only."""
    r = browser.get(url)
    assert r.status_code == 200, r.text[:2000]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<script" not in r.text and "style=" not in r.text
    assert '<link rel="stylesheet" href="/static/print.css">' in r.text
    return r.text


# The worked example (morphine 10 mg/mL + clonidine 100 mcg/mL, 0.525 mL/day, remote 3 × 0.02 mL a day), 40 mL
# at START. 30 days later 40 - 30 × 0.525 = 24.25 mL is expected (band ± 15 % of 15.75: 21.8875 to 26.6125 mL,
# shown 24.3, 21.9 to 26.6); 24 mL is withdrawn, 40 mL filled. Doses: morphine 0.525 × 10 = 5.25 mg/day, with
# every bolus 0.585 × 10 = 5.85 mg/day; clonidine 0.525 × 100 = 52.5 mcg/day. An admixture: the pharmacist checks.
def test_a_nurse_records_a_booked_refill_and_prints_its_record_and_the_card(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "W-0042", "Lindqvist")
    with clinic.sessions() as s, s.begin():
        nora_id = s.query(User).filter_by(username="nora").one().id
        s.add(
            Appointment(
                patient_id=pid,
                kind="refill",
                starts_at=START + timedelta(days=30),
                minutes=30,
                status="booked",
                nurse_id=nora_id,
                created_by=nora_id,
                created_at=START,
                updated_at=START,
            )
        )
    clinic.advance(days=30)
    nora = Browser(clinic, "nora")
    r = nora.post(f"/patients/{pid}/refills", prepare_data(cosign_username="phil", cosign_password=PASSWORD))
    url = r.headers["location"]
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "24", "filled_ml": "40"})
    assert r.status_code == 303, r.text[:2000]
    record = nora.follow(r).text
    assert text_by_id(record, "refill-title") == "Refill: completed"

    page = printable_page(nora, link(record, "print-session-record"))
    assert text_by_id(page, "print-lot") == "L-77"
    assert text_by_id(page, "print-patient-mrn") == "W-0042"
    body = pdf_of(nora, link(page, "download-pdf"))
    text = pdf_text(body, "web-refill-record")
    for wanted in (
        "Lindqvist, Jane",
        "3 Feb 1960",
        "MRN W-0042",
        "morphine 10 mg/mL 5.25 mg/day 5.85 mg/day",
        "clonidine 100 mcg/mL 52.5 mcg/day",
        "L-77",
        "through Tue 1 Jan 2030",  # the label's date: usable through that day
        "Expected in the reservoir 24.3 mL band 21.9 to 26.6 mL",
        "Withdrawn 24 mL Within the band",
        "Filled 40 mL",
        "Prepared by Nora (nurse), 21 Dec 2026 09:00 CST",
        "Phil (pharmacist), 21 Dec 2026 09:00 CST",
        "Filled by Nora (nurse), 21 Dec 2026 09:00 CST",
        "Not a certified medical device",
    ):
        assert wanted.lower() in text.lower(), (wanted, text)
    first_page_png(body, f"web-refill-record-{clinic.engine.dialect.name}")
    assert pdf_of(nora, link(page, "download-pdf-letter")) != body

    card = printable_page(nora, f"/patients/{pid}/card")
    text = pdf_text(pdf_of(nora, link(card, "download-pdf")), "web-card")
    for wanted in ("Lindqvist, Jane", "MRN W-0042", "morphine 10 mg/mL 5.25 mg/day", "+1 555 555 0100"):
        assert wanted.lower() in text.lower(), (wanted, text)

    review = nora.get(f"/patients/{pid}/programs/1").text
    page = printable_page(nora, link(review, "print-change-record"))
    assert "Program change record: version 1" in text_by_id(page, "print-title")
    assert "Program change record: version 1" in pdf_text(pdf_of(nora, link(page, "download-pdf")))


def test_who_may_print_what_on_the_web(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "W-0043")
    other = new_patient(clinic, "W-0044", "Other")
    patient = patient_login(clinic, pid, "jane")
    stranger = patient_login(clinic, other, "otto")
    admin = Browser(clinic, "root")
    assert pdf_text(pdf_of(patient, f"/patients/{pid}/card.pdf")).count("W-0043") >= 2  # their own card
    assert "Download PDF" in printable_page(patient, f"/patients/{pid}/card")
    assert stranger.get(f"/patients/{pid}/card.pdf").status_code == 404
    assert stranger.get(f"/patients/{pid}/card").status_code == 404
    assert admin.get(f"/patients/{pid}/card.pdf").status_code == 403
    assert patient.get(f"/patients/{pid}/programs/1/record.pdf").status_code == 404  # the clinic's working record
    assert admin.get(f"/patients/{pid}/programs/1/record").status_code == 403
    assert patient.get("/reports/monthly.pdf").status_code == 403
    assert admin.get("/reports/monthly").status_code == 403
    nurse = Browser(clinic, "nora")
    assert nurse.get("/reports/monthly?month=2026-13").status_code == 422
    assert nurse.get(f"/patients/{pid}/card.pdf?paper=folio").status_code == 422
    assert Browser(clinic).get(f"/patients/{pid}/card.pdf").status_code == 303  # not logged in: to the login page


def test_the_monthly_report_page_and_its_plots(clinic: Clinic) -> None:
    implanted_patient(clinic, "W-0045")
    nurse = Browser(clinic, "nora")
    page = printable_page(nurse, "/reports/monthly?month=2026-11")
    assert "Monthly clinic report: November 2026" in text_by_id(page, "print-title")
    assert '<img class="plot" src="data:image/svg+xml;base64,' in page  # allowed by img-src data:, no inline SVG
    assert link(page, "download-pdf") == "/reports/monthly.pdf?month=2026-11"
    assert "Implants, replacements and revisions 1" in pdf_text(pdf_of(nurse, link(page, "download-pdf")))
    default = printable_page(nurse, "/reports/monthly")  # this month on the clinic's clock: November 2026
    assert "November 2026" in text_by_id(default, "print-title")
