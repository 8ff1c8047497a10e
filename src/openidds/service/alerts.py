"""The alert banner of one patient (clinic.alerts), from the patient's dashboard row: the chart, the refill and the
program forms show the same alerts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openidds import display
from openidds.clinic.alerts import Alert, PatientStatusFacts, patient_alerts
from openidds.data import load_library
from openidds.db.models import PatientStatus, Refill
from openidds.programs.clock import from_us, to_us


def chart_alerts(s: Session, patient_id: int, now: datetime, when: Callable[[datetime], str]) -> list[Alert]:
    """The caller has checked that the user may read this patient. `when` puts an instant in words."""
    st = s.get(PatientStatus, patient_id)
    if st is None:
        return []

    def us(at: datetime | None) -> int | None:
        return None if at is None else to_us(at)

    withdrawal = tuple(d.name for d in load_library().drugs if d.withdrawal_risk is not None)
    facts = PatientStatusFacts(
        next_refill_due=us(st.next_refill_due),
        refill_reason=st.refill_reason or "",
        withdrawal_risk=st.withdrawal_risk,
        withdrawal_drugs=withdrawal if st.withdrawal_risk else (),
        critical_alarms=tuple(
            str(a["alarm"]).replace("-", " ") for a in st.active_alarms or () if a.get("priority") == "critical"
        ),
        eri_at=us(st.eri_at),
        end_of_service=us(st.end_of_service),
        replacement_due=us(st.replacement_due),
        flags=tuple(st.flags or ()),
        pending_program=st.pending_program or "",
        refills_in_progress=tuple(
            (
                f"Refill prepared {when(r.prepared_at)}: "
                + ("awaits its independent double check" if r.status == "prepared" else "checked: awaits the fill"),
                f"refills/{r.id}",
            )
            for r in s.scalars(
                select(Refill)
                .where(Refill.patient_id == patient_id, Refill.status.in_(("prepared", "checked")))
                .order_by(Refill.prepared_at)
            )
        ),
    )
    return patient_alerts(facts, to_us(now), lambda at: when(from_us(at)))


def page_alerts(s: Session, patient_id: int, zone: str, now: datetime) -> list[Alert]:
    """The banner for a page about one patient, instants on the zone's clock (openidds.display)."""
    return chart_alerts(s, patient_id, now, lambda at: display.instant(at, zone))
