"""Printable records (openidds.printing) through the API, on SQLite and PostgreSQL: the refill session record, the
program change record, the emergency card and the monthly clinic report, each as a PDF whose text is read back
(pypdf) and whose first page is drawn (pypdfium2) and saved under test-output/printing/ for a person to look at.

Every expected value is worked out here from the inputs, never read from the code under test.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader

from openidds.db.models import Appointment, Interrogation, User
from openidds.printing.render import LocalOnly, pdf_from_html
from tests.api_support import (
    START,
    Clinic,
    continuous_flex,
    fast_argon2,
    implant,
    implanted_patient,
    morphine_program,
    new_patient,
    spastic_patient,
)

OUT = Path(__file__).resolve().parent.parent / "test-output" / "printing"
MORPHINE = [{"name": "morphine", "concentration": "10 mg/mL"}]


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)


def pdf_text(body: bytes, name: str = "") -> str:
    """Every page's text, whitespace folded to single spaces (kept beside the PNG when `name` is given)."""
    reader = PdfReader(io.BytesIO(body))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    if name:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{name}.txt").write_text("\n".join(page.extract_text() or "" for page in reader.pages))
    return text


def pages(body: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(body)).pages]


def first_page_png(body: bytes, name: str) -> Path:
    """Page 1 drawn at 1.5×, saved; it must not be blank (enough dark pixels for text and rules)."""
    image = pdfium.PdfDocument(body)[0].render(scale=1.5).to_pil()
    dark = sum(1 for value in image.convert("L").getdata() if value < 128)
    assert dark > image.width * image.height // 200, f"page 1 of {name} looks blank ({dark} dark pixels)"
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    image.save(path)
    return path


def get_pdf(clinic: Clinic, path: str, who: str) -> bytes:
    r = clinic.call("GET", path, who)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    return r.content


# --- a patient with a completed refill ----------------------------------------------------------------------------
# Morphine 10 mg/mL alone at 0.5 mL/day (5 mg/day; no patient bolus, so the worst case is the program), 40 mL at
# START (21 Nov 2026 09:00 CST). 30 days later 30 × 0.5 = 15 mL has gone: 25 mL is expected, 25 mL is withdrawn,
# 40 mL filled at 21 Dec 2026 09:00 CST. The band is the pump's ±15 % of the 15 mL delivered (programmable-40):
# 25 ± 2.25 = 22.75 to 27.25 mL, shown to 0.1 mL half up as 22.8 to 27.3 (a whole volume is shown as '25 mL').
# The low-reservoir alarm at 2 mL: (40 - 2) / 0.5 = 76 days after the fill, 7 Mar 2027 09:00 CST (daylight saving
# starts on 14 Mar 2027). The lot's expiry date is 31 Jan 2027.
def refilled_patient(clinic: Clinic) -> tuple[int, int]:
    pid = new_patient(clinic, "MRN-4417", family_name="Okafor", given_name="Amara", birth_date="1958-07-14")
    implant(clinic, pid, morphine_program(START, "0.5 mL/day"), START)
    clinic.advance(days=30)
    body = {
        "drug_lot": "LOT-A7731",
        "solution": MORPHINE,
        "expires_at": "2027-02-01T06:00:00+00:00",  # midnight in Chicago: usable through 31 Jan
        "volume_ml": "40",
    }
    r = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=body)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "phil").status_code == 200
    r = clinic.call(
        "POST", f"/patients/{pid}/refills/{rid}/complete", "nora", json={"withdrawn_ml": "25", "filled_ml": "40"}
    )
    assert r.status_code == 200, r.text
    return pid, rid


def test_refill_session_record(clinic: Clinic) -> None:
    pid, rid = refilled_patient(clinic)
    body = get_pdf(clinic, f"/patients/{pid}/refills/{rid}/record.pdf", "nora")
    text = pdf_text(body, "refill-record")
    for wanted in (
        "Refill session record",
        "Okafor, Amara",  # two identifiers: the name with the date of birth, and the MRN
        "14 Jul 1958",
        "MRN-4417",
        "morphine",
        "10 mg/mL",
        "5 mg/day",  # 0.5 mL/day × 10 mg/mL
        "LOT-A7731",
        "through Sun 31 Jan 2027",
        "Expected in the reservoir 25 mL band 22.8 to 27.3 mL",
        "Withdrawn 25 mL Within the band",
        "Filled 40 mL",
        "7 Mar 2027 09:00 CST",  # the low-reservoir alarm to enter on the programmer
        "Prepared by Nora (nurse), 21 Dec 2026",
        "Checked by (second person) Phil (pharmacist), 21 Dec 2026",
        "Filled by Nora (nurse), 21 Dec 2026 09:00 CST",
        "Serial SN-1".lower(),
        "Not a certified medical device",
        "DEMO DATA",
    ):
        assert wanted.lower() in text.lower(), (wanted, text)
    for number, page in enumerate(pages(body), 1):  # every page: the identifiers, the footer, its number
        assert "Okafor, Amara" in page and "MRN-4417" in page, page
        assert "Not a certified medical device" in page and f"Page {number} of" in page, page
    first_page_png(body, f"refill-record-{clinic.engine.dialect.name}")
    letter = get_pdf(clinic, f"/patients/{pid}/refills/{rid}/record.pdf?paper=letter", "nora")
    width, height = PdfReader(io.BytesIO(letter)).pages[0].mediabox.upper_right
    assert (round(float(width)), round(float(height))) == (612, 792)  # 8.5 × 11 in
    width, height = PdfReader(io.BytesIO(body)).pages[0].mediabox.upper_right
    assert (round(float(width)), round(float(height))) == (595, 842)  # A4: 210 × 297 mm


def test_who_may_print_what(clinic: Clinic) -> None:
    pid, rid = refilled_patient(clinic)
    other = new_patient(clinic, "MRN-9000")
    clinic.user("amara", "patient", patient_id=pid)
    clinic.user("someone", "patient", patient_id=other)
    record = f"/patients/{pid}/refills/{rid}/record.pdf"
    assert clinic.call("GET", record, "phil").status_code == 200  # the pharmacist reads the record
    assert clinic.call("GET", record, "root").status_code == 403  # the admin sees no clinical record
    assert clinic.call("GET", record, "someone").status_code == 404  # another patient's: as if it did not exist
    assert clinic.call("GET", f"/patients/{pid}/refills/{rid + 99}/record.pdf", "nora").status_code == 404
    assert clinic.call("GET", f"/patients/{other}/refills/{rid}/record.pdf", "nora").status_code == 404
    card = f"/patients/{pid}/card.pdf"
    assert "Okafor, Amara" in pdf_text(get_pdf(clinic, card, "amara"))  # the patient prints their own card
    assert clinic.call("GET", card, "someone").status_code == 404
    assert clinic.call("GET", card, "root").status_code == 403
    r = clinic.call("GET", f"{record}?paper=legal", "nora")
    assert r.status_code == 422 and r.json()["field"] == "paper", r.text
    assert clinic.call("GET", "/reports/monthly.pdf?month=2026-12", "root").status_code == 403
    assert clinic.call("GET", "/reports/monthly.pdf?month=2026-12", "amara").status_code == 403
    for bad in ("2026-13", "12-2026", "2026-1", "tomorrow"):
        r = clinic.call("GET", f"/reports/monthly.pdf?month={bad}", "nora")
        assert r.status_code == 422 and r.json()["field"] == "month", (bad, r.text)


# --- a program change with an override ----------------------------------------------------------------------------
# The worked example (0.525 mL/day flex: morphine 5.25 mg/day) changed two days after the implant to 0.7 mL/day
# continuous: morphine 7 mg/day, +33.3 %, over the soft titration limit of 20 % [U]: confirmed with a reason.
def test_program_change_record(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "MRN-5120")
    clinic.advance(days=2)
    r = clinic.call("POST", f"/patients/{pid}/programs", "nora", json={"document": continuous_flex("0.7 mL/day")})
    assert r.status_code == 201, r.text
    reason = "pain uncontrolled at 5.25 mg/day for two weeks"
    r = clinic.call(
        "POST", f"/patients/{pid}/programs/2/confirm", "ada", json={"overrides": {"titration.soft-max": reason}}
    )
    assert r.status_code == 200, r.text
    body = get_pdf(clinic, f"/patients/{pid}/programs/2/record.pdf", "bo")
    text = pdf_text(body, "program-record")
    for wanted in (
        "Program change record: version 2",
        "Doe-MRN-5120, Jane",
        "3 Feb 1960",
        "MRN-5120",
        "Morphine daily dose 5.25 mg/day 7 mg/day changed",  # old beside new
        "Mode flex (period: day) continuous changed",
        "Morphine concentration 10 mg/mL 10 mg/mL",  # unchanged, shown all the same
        "morphine rises from 5.25 mg/day to 7 mg/day (+33.3 %)",
        "[U]",  # the unconfirmed policy keeps its marker
        f"Reason: {reason}",
        "Proposed by Nora (nurse), 23 Nov 2026 09:00 CST",
        "Confirmed by (physician) Ada (physician), 23 Nov 2026 09:00 CST",
        "Not a certified medical device",
    ):
        assert wanted.lower() in text.lower(), (wanted, text)
    first_page_png(body, f"program-record-{clinic.engine.dialect.name}")
    assert clinic.call("GET", f"/patients/{pid}/programs/9/record.pdf", "ada").status_code == 404


# --- the emergency card ---------------------------------------------------------------------------------------------
# Spinal baclofen 2000 mcg/mL at 200 mcg/day in a programmable-20 pump (tests/api_support.spastic_patient).
def test_emergency_card_with_baclofen(clinic: Clinic) -> None:
    pid = spastic_patient(clinic, "MRN-7001")
    clinic.advance(days=3)
    body = get_pdf(clinic, f"/patients/{pid}/card.pdf", "nora")
    text = pdf_text(body, "emergency-card")
    for wanted in (
        "I have an implanted intrathecal drug pump",
        "Doe-MRN-7001, Jane",
        "3 Feb 1960",
        "MRN-7001",
        "baclofen 2000 mcg/mL 200 mcg/day",
        "Catheter intrathecal-one-piece, 60 cm, tip at T10",
        "serial SN-1",
        "MRI:",
        "never let the pump run empty",
        "itching, fever, fast heartbeat, returning stiffness or spasms, confusion",
        "+1 555 555 0100",  # the clinic, in hours (the shipped demo settings)
        "+1 555 555 0199",  # on call
        "DEMO DATA",
        "Not a certified medical device",
    ):
        assert wanted.lower() in text.lower(), (wanted, text)
    assert len(pages(body)) <= 2, "a card the patient carries fits on a sheet"
    first_page_png(body, f"emergency-card-{clinic.engine.dialect.name}")


# --- the monthly report ---------------------------------------------------------------------------------------------
def test_monthly_report(clinic: Clinic) -> None:
    pid, _ = refilled_patient(clinic)  # one refill, 21 Dec 2026, within the band: prepared and filled by Nora
    with clinic.sessions() as s, s.begin():
        nora = s.query(User).filter_by(username="nora").one().id
        at = datetime(2026, 12, 10, 15, 30, tzinfo=UTC)  # 09:30 CST
        for status, day in (("missed", 10), ("attended", 21), ("cancelled", 22), ("booked", 30)):
            s.add(
                Appointment(
                    patient_id=pid,
                    kind="refill",
                    starts_at=at.replace(day=day),
                    minutes=30,
                    status=status,
                    nurse_id=nora,
                    status_reason="no transport" if status == "missed" else "",
                    created_by=nora,
                    created_at=START,
                    updated_at=START,
                )
            )
        s.add(Interrogation(patient_id=pid, at=at + timedelta(days=5), alarms=["low-reservoir"], recorded_by=nora))
        s.add(
            Appointment(
                patient_id=pid,
                kind="refill",
                starts_at=datetime(2027, 1, 1, 6, tzinfo=UTC),
                minutes=30,
                status="missed",
                created_by=nora,
                created_at=START,
                updated_at=START,
            )
        )  # 1 Jan 00:00 CST
    body = get_pdf(clinic, "/reports/monthly.pdf?month=2026-12", "phil")
    text = pdf_text(body, "monthly-report")
    for wanted in (
        "Monthly clinic report: December 2026",
        "Refills completed 1",
        "within the expected band 1",
        "with a discrepancy 0",
        "Visits booked in the month 4",
        "attended 1 missed 1 cancelled 1",
        "10 Dec 2026 09:30 CST Okafor, Amara (MRN MRN-4417) Refill visit missed (with Nora): no transport",
        "The pump reported: low reservoir",
        "Nora (nurse) 1 0 1 1 1",  # prepared, checked, filled, attended, missed
        "Phil (pharmacist) 0 1 0 0 0",
        "Not a certified medical device",
        "DEMO DATA",
    ):
        assert wanted.lower() in text.lower(), (wanted, text)
    assert "1 Jan 2027" not in text  # a visit at midnight on 1 Jan (clinic time) is January's
    first_page_png(body, f"monthly-report-{clinic.engine.dialect.name}")
    assert "Refills completed 0" in pdf_text(get_pdf(clinic, "/reports/monthly.pdf?month=2026-10", "nora"))


# --- no network -----------------------------------------------------------------------------------------------------
def test_the_renderer_fetches_nothing_but_its_own_files() -> None:
    fetcher = LocalOnly()
    for url in ("https://cdn.example.org/font.woff2", "http://127.0.0.1:8000/static/print.css", "file:///etc/passwd"):
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)
    with pytest.raises(BaseException, match="Error fetching"):  # WeasyPrint stops: nothing half-styled
        pdf_from_html('<img src="https://cdn.example.org/logo.png">')
    assert pdf_from_html('<link rel="stylesheet" href="print.css"><p>ok</p>').startswith(b"%PDF-")


# --- the command line -----------------------------------------------------------------------------------------------
def test_idds_print_writes_the_same_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_helpers import assert_no_crash, run
    from tests.clinic_db import clinic_fixture

    fast_argon2(monkeypatch)
    for clinic in clinic_fixture("sqlite", tmp_path):
        _, rid = refilled_patient(clinic)
        database = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
        out = tmp_path / "card.pdf"
        result = run("print", "card", "--patient", "MRN-4417", "--out", out, "--database", database)
        assert (result.exit_code, result.stdout.startswith(f"wrote {out}")) == (0, True), result.stderr
        assert "MRN-4417" in pdf_text(out.read_bytes()) and "morphine 10 mg/mL 5 mg/day" in pdf_text(out.read_bytes())
        refill_out = tmp_path / "refill.pdf"
        result = run(
            "print", "refill", "--patient", "MRN-4417", "--refill", str(rid), "--out", refill_out,
            "--database", database, "--paper", "letter",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert "LOT-A7731" in pdf_text(refill_out.read_bytes())
        result = run(
            "print", "program", "--patient", "MRN-4417", "--version", "1", "--out", out, "--database", database
        )
        assert result.exit_code == 0 and "Program change record: version 1" in pdf_text(out.read_bytes())
        result = run("print", "report", "--month", "2026-12", "--out", out, "--database", database)
        assert result.exit_code == 0 and "Refills completed 1" in pdf_text(out.read_bytes())
        for args, said in (
            (("card", "--patient", "NOPE"), "error: --patient: no patient with MRN 'NOPE'"),
            (("refill", "--patient", "MRN-4417", "--refill", "99"), "error: no refill 99"),
            (("report", "--month", "2026-13"), "error: --month: expected a month such as '2026-11', got '2026-13'"),
            (("card", "--patient", "MRN-4417", "--paper", "folio"), "error: --paper: expected 'a4' or 'letter'"),
        ):
            result = run("print", *args, "--out", out, "--database", database)
            assert_no_crash(result)
            assert result.exit_code == 2 and result.stderr.startswith(said), (args, result.stderr)
            assert result.stderr.count("\n") == 1
        result = run("print", "card", "--patient", "MRN-4417", "--out", tmp_path / "card.txt", "--database", database)
        assert result.exit_code == 2 and "--out" in result.stderr
