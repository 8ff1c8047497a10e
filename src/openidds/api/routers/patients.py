"""Patients: find, add, read, change; the pump now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from openidds.api.answers import PatientOut, PumpOut
from openidds.api.deps import Actor, Now, OnceOnly, Tx
from openidds.api.routers.common import READS, WRITES, row
from openidds.api.schemas import (
    Id,
    NewPatient,
    PatientChanges,
)
from openidds.programs.clock import from_us
from openidds.quantities.units import format_number
from openidds.service import pathway, search
from openidds.service.programs import active_version
from openidds.service.pump import pump_state, refresh_status, solution_json

router = APIRouter(prefix="/api/v1")


# --- patients -----------------------------------------------------------------------------------------------------
def _search_param(description: str) -> Any:
    """A search parameter, read as text: the use case says what is wrong with it, in words (422 naming it)."""
    return Query(default=None, description=description)


@router.get(
    "/patients",
    tags=["patients"],
    response_model=list[PatientOut],
    response_model_exclude_unset=True,
    responses=READS,
)
def list_patients(
    s: Tx,
    at: Now,
    actor: Actor,
    response: Response,
    q: str | None = _search_param(
        "words of the family or given name (any case, accents optional), an MRN or its start, and/or a date of "
        "birth as YYYY-MM-DD or DD/MM/YYYY"
    ),
    stage: str | None = _search_param(f"the pathway stage: {', '.join(search.STAGES)}"),
    drug: str | None = _search_param("a drug of the library, in the pump now (e.g. morphine)"),
    pump: str | None = _search_param("a pump model of the catalog, implanted now (e.g. programmable-40)"),
    due_within_days: str | None = _search_param(
        f"the refill due within this many days, or overdue (0 to {search.DUE_WITHIN_MAX}; 0: overdue only)"
    ),
    limit: str | None = _search_param(f"patients per page, 1 to {search.LIMIT_MAX} (default {search.LIMIT_DEFAULT})"),
    offset: str | None = _search_param("how many matching patients to skip (default 0)"),
) -> list[dict[str, Any]]:
    """Every patient by name; with any parameter, the patients it finds, a page at a time (each with its drugs,
    pump and refill due; the X-Total-Count header says how many match)."""
    given = {
        "q": q,
        "stage": stage,
        "drug": drug,
        "pump": pump,
        "due_within_days": due_within_days,
        "limit": limit,
        "offset": offset,
    }
    if all(v is None for v in given.values()):
        return [pathway.patient_json(p) for p in pathway.list_patients(s, actor)]
    page = search.find_patients(s, actor, search.PatientQuery.from_text(given), at)
    response.headers["X-Total-Count"] = str(page.total)
    return [_found_json(r) for r in page.rows]


def _found_json(r: search.PatientRow) -> dict[str, Any]:
    return {
        **pathway.patient_json(r.patient),
        "drugs": [{"name": d.name, "concentration": d.concentration} for d in r.drugs],
        "pump_model": r.pump_model,
        "next_refill_due": None if r.next_refill_due is None else r.next_refill_due.isoformat(),
        "refill_reason": r.refill_reason,
    }


@router.post(
    "/patients",
    status_code=201,
    tags=["patients"],
    response_model=PatientOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def create_patient(body: NewPatient, once: OnceOnly) -> dict[str, Any]:
    return once.run(
        body, 201, lambda: pathway.patient_json(pathway.create_patient(once.s, once.actor, body.to_command(), once.at))
    )


@router.get(
    "/patients/{patient_id}",
    tags=["patients"],
    response_model=PatientOut,
    response_model_exclude_unset=True,
    responses=READS,
)
def read_patient(patient_id: Id, s: Tx, actor: Actor) -> dict[str, Any]:
    return pathway.patient_json(pathway.read_patient(s, actor, patient_id))


@router.patch(
    "/patients/{patient_id}",
    tags=["patients"],
    response_model=PatientOut,
    response_model_exclude_unset=True,
    responses=WRITES,
)
def update_patient(patient_id: Id, body: PatientChanges, s: Tx, at: Now, actor: Actor) -> dict[str, Any]:
    return pathway.patient_json(pathway.update_patient(s, actor, patient_id, body.to_command(), at))


@router.get(
    "/patients/{patient_id}/pump",
    tags=["patients"],
    response_model=PumpOut,
    response_model_exclude_unset=True,
    responses=READS,
)
def pump(patient_id: Id, s: Tx, at: Now, actor: Actor) -> dict[str, Any]:
    """The patient's pump now, from the twin: reservoir, mode, alarms, and what is projected."""
    pathway.read_patient(s, actor, patient_id)
    state = pump_state(s, patient_id, at)
    status = refresh_status(s, patient_id, at, state)
    if state is None:
        return {"programmed": False, **row(status)}
    twin = state.twin
    running = active_version(s, patient_id)
    return {
        "programmed": True,
        "mode": twin.mode,
        "reservoir_ml": format_number(twin.reservoir, 9),
        "solution": solution_json(twin.solution),
        "program_version": None if running is None else running.number,
        "bridge_ends_at": None if twin.bridge_ends_at is None else from_us(twin.bridge_ends_at).isoformat(),
        "expected_residual_ml": format_number(twin.expected_residual().expected.to("mL"), 9),
        "pocket": {k: format_number(v, 9) for k, v in twin.pocket.items()},
        **{k: v for k, v in row(status).items() if k != "patient_id"},
    }
