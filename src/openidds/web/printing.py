"""Printable records as pages and as PDF (openidds.printing): the same template for both.

- /patients/{pid}/refills/{rid}/record(.pdf): the refill session record (the care team's record: a patient is
  answered "no such page", as on the refill's own page);
- /patients/{pid}/programs/{n}/record(.pdf): the program change record (the same);
- /patients/{pid}/card(.pdf): the patient's emergency card (the care team, and the patient their own);
- /reports/monthly(.pdf)?month=2026-11: the clinic's monthly report ("read-clinic-report").

`?paper=letter` prints on US Letter (A4 by default). Every answer carries the pages' security headers; a PDF is
`inline` (the browser's viewer shows it, and saves it under its file name).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openidds.api.schemas import Id
from openidds.db.models import Patient
from openidds.printing import documents
from openidds.printing.documents import Printed
from openidds.printing.monthly import month_of
from openidds.printing.render import context
from openidds.printing.render import paper as paper_size
from openidds.service import pathway
from openidds.service.access import require
from openidds.web.session import SECURITY_HEADERS, Work, render, staff_page, unit_of_work

router = APIRouter(include_in_schema=False)


def pdf_response(printed: Printed, size: str | None) -> Response:
    body = printed.pdf(paper_size(size))
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'inline; filename="{printed.filename}"'}
    return Response(body, media_type="application/pdf", headers=headers)


def _page(request: Request, w: Work, printed: Printed, links: list[tuple[str, str, str]]) -> Response:
    return render(request, printed.template, user=w.user, links=links, **context(False, **printed.values))


def _staff_record(w: Work, patient_id: int) -> Patient:
    staff_page(w, patient_id)  # a patient: "no such page" (another patient's id: "no such patient")
    return pathway.read_patient(w.s, w.user, patient_id)


# --- the refill session record -------------------------------------------------------------------------------------
@router.get("/patients/{patient_id}/refills/{refill_id}/record")
def refill_record(request: Request, patient_id: Id, refill_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _staff_record(w, patient_id)
        printed = documents.refill(w.s, patient, refill_id, w.now)
        base = f"/patients/{patient_id}/refills/{refill_id}"
        links = [
            ("Download PDF", f"{base}/record.pdf", "download-pdf"),
            ("Letter paper", f"{base}/record.pdf?paper=letter", "download-pdf-letter"),
            ("Back to the refill", base, "back-to-record"),
        ]
        return _page(request, w, printed, links)


@router.get("/patients/{patient_id}/refills/{refill_id}/record.pdf")
def refill_record_pdf(request: Request, patient_id: Id, refill_id: Id, paper: str | None = None) -> Response:
    with unit_of_work(request) as w:
        printed = documents.refill(w.s, _staff_record(w, patient_id), refill_id, w.now)
        return pdf_response(printed, paper)


# --- the program change record -------------------------------------------------------------------------------------
@router.get("/patients/{patient_id}/programs/{number}/record")
def program_record(request: Request, patient_id: Id, number: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _staff_record(w, patient_id)
        printed = documents.program(w.s, patient, number, w.now)
        base = f"/patients/{patient_id}/programs/{number}"
        links = [
            ("Download PDF", f"{base}/record.pdf", "download-pdf"),
            ("Letter paper", f"{base}/record.pdf?paper=letter", "download-pdf-letter"),
            ("Back to the program", base, "back-to-record"),
        ]
        return _page(request, w, printed, links)


@router.get("/patients/{patient_id}/programs/{number}/record.pdf")
def program_record_pdf(request: Request, patient_id: Id, number: Id, paper: str | None = None) -> Response:
    with unit_of_work(request) as w:
        printed = documents.program(w.s, _staff_record(w, patient_id), number, w.now)
        return pdf_response(printed, paper)


# --- the emergency card --------------------------------------------------------------------------------------------
def _card_patient(w: Work, patient_id: int) -> Patient:
    patient = pathway.read_patient(w.s, w.user, patient_id)  # a patient: their own card only (another: 404)
    require(w.user, "read-patient", patient_id=patient_id)
    return patient


@router.get("/patients/{patient_id}/card")
def card(request: Request, patient_id: Id) -> Response:
    with unit_of_work(request) as w:
        patient = _card_patient(w, patient_id)
        printed = documents.card(w.s, patient, w.now)
        back = f"/patients/{patient_id}/pump" if w.user.role == "patient" else f"/patients/{patient_id}"
        links = [
            ("Download PDF", f"/patients/{patient_id}/card.pdf", "download-pdf"),
            ("Letter paper", f"/patients/{patient_id}/card.pdf?paper=letter", "download-pdf-letter"),
            ("Back", back, "back-to-record"),
        ]
        return _page(request, w, printed, links)


@router.get("/patients/{patient_id}/card.pdf")
def card_pdf(request: Request, patient_id: Id, paper: str | None = None) -> Response:
    with unit_of_work(request) as w:
        return pdf_response(documents.card(w.s, _card_patient(w, patient_id), w.now), paper)


# --- the monthly clinic report -------------------------------------------------------------------------------------
@router.get("/reports/monthly")
def monthly(request: Request, month: str | None = None) -> Response:
    with unit_of_work(request) as w:
        require(w.user, "read-clinic-report")
        chosen = month or month_of(w.now, _clinic_zone())
        printed = documents.monthly(w.s, chosen, w.now)
        pdf = f"/reports/monthly.pdf?month={printed.values['doc'].month}"
        links = [
            ("Download PDF", pdf, "download-pdf"),
            ("Letter paper", f"{pdf}&paper=letter", "download-pdf-letter"),
            ("Back to the dashboard", "/clinic", "back-to-record"),
        ]
        return _page(request, w, printed, links)


@router.get("/reports/monthly.pdf")
def monthly_pdf(request: Request, month: str | None = None, paper: str | None = None) -> Response:
    with unit_of_work(request) as w:
        require(w.user, "read-clinic-report")
        printed = documents.monthly(w.s, month or month_of(w.now, _clinic_zone()), w.now)
        return pdf_response(printed, paper)


def _clinic_zone() -> str:
    from openidds.data import load_clinic_settings

    return load_clinic_settings().timezone
