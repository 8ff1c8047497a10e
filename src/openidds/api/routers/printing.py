"""Printable records as PDF (openidds.printing): the same documents as the web's print pages.

Who may read one is who may read the record: the patient's records ("read-patient": the care team, and a patient
their own; another patient's answers 404, the admin 403), the monthly report "read-clinic-report". `paper`: a4
(the default) or letter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from openidds.api.deps import Actor, Now, Tx
from openidds.api.routers.common import READS
from openidds.api.schemas import Id
from openidds.printing import documents
from openidds.printing.documents import Printed
from openidds.printing.monthly import month_of
from openidds.printing.render import paper as paper_size
from openidds.service import pathway
from openidds.service.access import require

router = APIRouter(prefix="/api/v1", tags=["printing"])

PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}, "description": "The PDF"},
    **READS,
}
Paper = Annotated[str | None, Query(description="a4 (the default) or letter", max_length=10)]
Month = Annotated[
    str | None, Query(description="the month, as 2026-11 (default: this month, clinic time)", max_length=7)
]


def _pdf(printed: Printed, size: str | None) -> Response:
    body = printed.pdf(paper_size(size))
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{printed.filename}"', "Cache-Control": "no-store"},
    )


@router.get(
    "/patients/{patient_id}/refills/{refill_id}/record.pdf",
    response_class=Response,
    responses=PDF,
    summary="The refill session record (PDF)",
)
def refill_record_pdf(patient_id: Id, refill_id: Id, s: Tx, actor: Actor, at: Now, paper: Paper = None) -> Response:
    """The preparation (solution, lot, expiry or beyond-use date), its second-person check, the fill (expected
    beside withdrawn with the band and the verdict, filled), the settings and the alarm and refill dates to enter
    on the programmer, and who prepared, checked and filled it, when."""
    patient = pathway.read_patient(s, actor, patient_id)
    return _pdf(documents.refill(s, patient, refill_id, at), paper)


@router.get(
    "/patients/{patient_id}/programs/{number}/record.pdf",
    response_class=Response,
    responses=PDF,
    summary="The program change record (PDF)",
)
def program_record_pdf(patient_id: Id, number: Id, s: Tx, actor: Actor, at: Now, paper: Paper = None) -> Response:
    """Every setting old beside new, the findings, the overrides with their reasons, who proposed, confirmed and
    verified it."""
    patient = pathway.read_patient(s, actor, patient_id)
    return _pdf(documents.program(s, patient, number, at), paper)


@router.get(
    "/patients/{patient_id}/card.pdf",
    response_class=Response,
    responses=PDF,
    summary="The patient's emergency card (PDF)",
)
def card_pdf(patient_id: Id, s: Tx, actor: Actor, at: Now, paper: Paper = None) -> Response:
    """The drugs in the pump with their concentrations and daily doses, the pump and catheter, what an MRI does to
    the pump, the withdrawal signs of a drug whose sudden stop is dangerous (baclofen), and the clinic's numbers."""
    patient = pathway.read_patient(s, actor, patient_id)
    return _pdf(documents.card(s, patient, at), paper)


@router.get("/reports/monthly.pdf", response_class=Response, responses=PDF, summary="The monthly clinic report (PDF)")
def monthly_pdf(s: Tx, actor: Actor, at: Now, month: Month = None, paper: Paper = None) -> Response:
    """Refills, discrepancies, alarms, overrides with their reasons, missed visits and the work of each clinician
    in one calendar month on the clinic's clock, with plots."""
    require(actor, "read-clinic-report")
    from openidds.data import load_clinic_settings

    chosen = month or month_of(at, load_clinic_settings().timezone)
    return _pdf(documents.monthly(s, chosen, at), paper)
