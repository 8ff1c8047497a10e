"""One printed record ready to render: its template, the values the template reads, and a file name for it.

The adapters (web, API, CLI) check who may read it first, then call one of these and `render.pdf` (or the web's
`render` for the HTML page). A file name carries no patient's name: the record's kind, its number and the MRN's
record id are enough to find it again, and a downloaded file's name is seen by more people than its content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openidds.db.models import Patient
from openidds.printing import gather, plots
from openidds.printing.monthly import monthly_report
from openidds.printing.render import Paper
from openidds.printing.render import pdf as render_pdf


@dataclass(frozen=True)
class Printed:
    template: str
    values: dict[str, Any]
    filename: str  # for Content-Disposition, without a patient's name

    def pdf(self, size: Paper = "a4") -> bytes:
        return render_pdf(self.template, size, **self.values)


def refill(s: Session, patient: Patient, refill_id: int, now: datetime) -> Printed:
    doc = gather.refill_record(s, patient, refill_id)
    values = {"doc": doc, "patient": doc.patient, "clinic": doc.clinic, "printed_at": now}
    return Printed("print/refill.html", values, f"refill-{doc.refill_id}-patient-{patient.id}.pdf")


def program(s: Session, patient: Patient, number: int, now: datetime) -> Printed:
    doc = gather.program_record(s, patient, number)
    values = {"doc": doc, "patient": doc.patient, "clinic": doc.clinic, "printed_at": now}
    return Printed("print/program.html", values, f"program-v{doc.number}-patient-{patient.id}.pdf")


def card(s: Session, patient: Patient, now: datetime) -> Printed:
    doc = gather.emergency_card(s, patient, now)
    values = {"doc": doc, "patient": doc.patient, "clinic": doc.clinic, "printed_at": now}
    return Printed("print/card.html", values, f"emergency-card-patient-{patient.id}.pdf")


def monthly(s: Session, month: str, now: datetime) -> Printed:
    doc = monthly_report(s, month, now)
    doc.plots["refills"] = plots.refills_plot(doc.refills_per_week)
    if doc.workload:
        doc.plots["workload"] = plots.workload_plot(doc.workload)
    values = {"doc": doc, "patient": None, "clinic": doc.clinic, "printed_at": now}
    return Printed("print/monthly.html", values, f"clinic-report-{doc.month}.pdf")
