"""The refill planner's pages: plan N weeks (CP-SAT beside the earliest-deadline-first greedy), the proposal with
its urgent shortfalls first, booked all or in part, and what was booked or refused (service.planning)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from openidds.api.schemas import Id
from openidds.db.models import (
    Appointment,
    AuditRecord,
    Patient,
    Plan,
    User,
)
from openidds.errors import InputError
from openidds.service.access import require
from openidds.service.errors import NotFound
from openidds.service.settings import current_settings
from openidds.web.calendar import (
    may_role,
    refusal_words,
    today_of,
)
from openidds.web.forms import whole_number
from openidds.web.session import Posted, WebError, Work, render, submit, unit_of_work

router = APIRouter(include_in_schema=False)


# --- the planner --------------------------------------------------------------------------------------------------
def _planning() -> Any:
    from openidds.service import planning  # written beside this page (the planner service)

    return planning


def _planner_form(request: Request, w: Work, values: dict[str, str], error: WebError | None = None) -> Response:
    require(w.user, "plan-refills")
    settings = current_settings(w.s)
    recent = []
    for p in w.s.scalars(select(Plan).order_by(Plan.id.desc()).limit(10)):
        best = p.document.get("cp_sat", {})
        recent.append(
            {
                "id": p.id,
                "created_at": p.created_at,
                "first_day": p.first_day,
                "weeks": p.weeks,
                "visits": best.get("visits"),
                "shortfalls": len(best.get("shortfalls", [])),
                "accepted": len(p.accepted),
            }
        )
    today = today_of(settings, w.now)
    return render(
        request,
        "planner.html",
        error.status if error else 200,
        user=w.user,
        mode="form",
        values={"first_day": today.isoformat(), "weeks": "4", **values},
        error=error,
        recent=recent,
        zone=settings.timezone,
        scheduled=settings.scheduling is not None,
    )


@router.get("/planner")
def planner_page(request: Request) -> Response:
    with unit_of_work(request) as w:
        return _planner_form(request, w, {})


@router.post("/planner")
def run_planner(request: Request, form: Posted) -> Response:
    def write(w: Work) -> str:
        require(w.user, "plan-refills")
        text = form.get("first_day")
        try:
            first = date.fromisoformat(text)
        except ValueError:
            raise InputError("first_day", f"expected a day such as '2027-01-04', got {text[:40]!r}") from None
        weeks = whole_number(form.get("weeks"))
        if not isinstance(weeks, int):
            raise InputError("weeks", f"expected a whole number of weeks from 1 to 26, got {str(weeks)[:20]!r}")
        plan = _planning().propose(w.s, w.user, first, weeks, w.now)
        return f"/planner/{plan.id}"

    def show_again(w: Work, err: WebError) -> Response:
        words = refusal_words(err, {"first_day": "From (day)", "weeks": "Weeks"})
        return _planner_form(request, w, form.as_dict(), WebError(err.status, words, err.field, err.said))

    return submit(request, write, show_again)


def _by_day(bookings: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    days: dict[str, list[dict[str, Any]]] = {}
    for b in sorted(bookings, key=lambda b: (b["day"], b.get("nurse") or "", b["name"])):
        days.setdefault(b["day"], []).append(b)
    return list(days.items())


def _plan_page(
    request: Request, w: Work, plan_id: int, error: WebError | None = None, chosen: list[str] | None = None
) -> Response:
    plan = _planning().find_plan(w.s, w.user, plan_id)
    doc = plan.document
    best, greedy = doc["cp_sat"], doc["greedy"]
    accepted = set(plan.accepted)
    proposed = [b for b in best["bookings"] if not b["fixed"]]
    shortfalls = sorted(best["shortfalls"], key=lambda f: (not f.get("withdrawal_risk"), -int(f.get("days_late") or 0)))
    return render(
        request,
        "planner.html",
        error.status if error else 200,
        user=w.user,
        mode="plan",
        plan=plan,
        best=best,
        greedy=greedy,
        comparison=doc.get("comparison", {}),
        shortfalls=shortfalls,
        days=_by_day(proposed),
        kept=[b for b in best["bookings"] if b["fixed"]],
        accepted=accepted,
        open_count=sum(1 for b in proposed if b["key"] not in accepted),
        chosen=None if chosen is None else set(chosen),
        error=error,
        zone=current_settings(w.s).timezone,
        may_book=may_role(w.user, "book-appointment"),
    )


@router.get("/planner/{plan_id}")
def plan_page(request: Request, plan_id: Id) -> Response:
    with unit_of_work(request) as w:
        return _plan_page(request, w, plan_id)


@router.post("/planner/{plan_id}/accept")
def accept_plan(request: Request, plan_id: Id, form: Posted) -> Response:
    keys = form.getlist("key")

    def write(w: Work) -> str:
        if not keys:
            raise InputError("keys", "tick at least one proposed visit to book")
        _planning().accept(w.s, w.user, plan_id, keys, w.now)
        sequence = w.s.scalar(
            select(func.max(AuditRecord.sequence)).where(
                AuditRecord.entity == f"plan/{plan_id}", AuditRecord.action == "accept-plan"
            )
        )
        return f"/planner/{plan_id}/result?record={sequence}"

    def show_again(w: Work, err: WebError) -> Response:
        words = refusal_words(err, {"keys": "The visits to book"})
        return _plan_page(request, w, plan_id, WebError(err.status, words, err.field, err.said), keys)

    return submit(request, write, show_again)


@router.get("/planner/{plan_id}/result")
def plan_result(request: Request, plan_id: Id, record: int = 0) -> Response:
    with unit_of_work(request) as w:
        plan = _planning().find_plan(w.s, w.user, plan_id)
        found = w.s.get(AuditRecord, record)
        if found is None or found.entity != f"plan/{plan_id}" or found.action != "accept-plan":
            raise NotFound("no such booking of this plan")
        after = found.after or {}
        ids = list(after.get("booked", []))
        rows = (
            w.s.execute(
                select(Appointment, Patient)
                .join(Patient, Patient.id == Appointment.patient_id)
                .where(Appointment.id.in_(ids))
                .order_by(Appointment.starts_at)
            ).all()
            if ids
            else []
        )
        names = dict(w.s.execute(select(User.id, User.username)).all())
        return render(
            request,
            "planner.html",
            user=w.user,
            mode="result",
            plan=plan,
            booked=[(a, p, names.get(a.nurse_id, "") if a.nurse_id else "") for a, p in rows],
            refused=list(after.get("refused", [])),
            zone=current_settings(w.s).timezone,
            error=None,
        )
