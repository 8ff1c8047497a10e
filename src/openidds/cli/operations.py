"""`idds plan` and `idds appointments`: the clinic's refill plan and its calendar from the command line.

They act on the clinic database as a named login (`--as USERNAME`): the role matrix decides what that login may do,
and the audit trail records it as that login, exactly as if it had used the web app or the API. Times are the
clinic's wall time ("2027-01-05 10:00"); output is the clinic's zone, or exact JSON with --json.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from openidds.cli.app import JsonOpt, app, emit_json, guarded, whole_option
from openidds.cli.database import AsOpt, DatabaseOpt, acting_user
from openidds.cli.database import open_database as _open_database
from openidds.cli.database import say as _say
from openidds.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openidds.db.models import User


appointments_app = typer.Typer(help="The clinic's appointments: list, book, confirm, attend, miss, cancel.")
app.add_typer(appointments_app, name="appointments")


@contextmanager
def _acting(database: str | None, username: str) -> Iterator[tuple[Session, User]]:
    """A writer's transaction on the clinic database, and the active login named by --as."""
    from openidds.db import writers

    engine = _open_database(database, create=False)
    try:
        with writers(engine)() as s, s.begin():
            yield s, acting_user(s, username)
    finally:
        engine.dispose()


def _service_errors() -> tuple[type[Exception], ...]:
    from openidds.service.errors import ServiceError

    return (ServiceError,)


@contextmanager
def _refusals() -> Iterator[None]:
    """A use case's refusal (403, 404, 409) as a one-line error, exit 2, like bad input."""
    try:
        yield
    except _service_errors() as exc:
        raise InputError(getattr(exc, "field", None) or "request", getattr(exc, "message", str(exc))) from None


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(option, f"expected a day as YYYY-MM-DD, got '{text}'") from None


def _local(text: str, zone: str, option: str) -> datetime:
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(option, f"expected the clinic's wall time as 'YYYY-MM-DD HH:MM', got '{text}'") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=ZoneInfo(zone))


@app.command("plan")
def plan(
    as_user: AsOpt,
    weeks: Annotated[str, typer.Option("--weeks", help="Weeks to plan (1 to 26).")] = "4",
    first: Annotated[str | None, typer.Option("--from", help="The first day, YYYY-MM-DD (default: today).")] = None,
    book: Annotated[bool, typer.Option("--book", help="Book the whole proposal.")] = False,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose refill bookings for every patient under the nurses' capacity and skills (CP-SAT), with the
    earliest-deadline-first greedy printed beside it; urgent shortfalls first. --book books the proposal."""
    from openidds.service import planning
    from openidds.service.appointments import appointment_json
    from openidds.service.settings import current_settings

    with guarded():
        n = whole_option(weeks, "--weeks", 1, planning.WEEKS_MAX)
        day = _day(first, "--from")
        with _acting(database, as_user) as (s, user), _refusals():
            now = datetime.now(UTC)
            zone = current_settings(s).timezone
            start = day or now.astimezone(ZoneInfo(zone)).date()
            proposal = planning.propose(s, user, start, n, now)
            answer: dict[str, Any] = planning.plan_json(proposal)
            if book:
                done = planning.accept(s, user, proposal.id, None, now)
                answer["booked"] = [appointment_json(a) for a in done.booked]
                answer["refused"] = done.refused
    if as_json:
        emit_json(answer)
        return
    _print_plan(answer)


def _print_plan(p: dict[str, Any]) -> None:
    best, greedy = p["cp_sat"], p["greedy"]
    _say(f"Refill plan {p['id']}: {p['patients']} patients, {p['weeks']} weeks from {p['first_day']}")
    _say(f"{'':24}{'CP-SAT':>12}{'greedy (EDF)':>16}")
    for label, key in (
        ("visits", "visits"),
        ("days late in window", "late_in_window"),
        ("busiest day", "max_daily_load"),
    ):
        _say(f"{label:24}{best[key]:>12}{greedy[key]:>16}")
    _say(f"{'past latest safe day':24}{len(best['shortfalls']):>12}{len(greedy['shortfalls']):>16}")
    _say(f"{'status':24}{best['status']:>12}{greedy['status']:>16}")
    if best["shortfalls"]:
        _say("")
        _say("URGENT: capacity cannot keep these patients safe:")
        for f in best["shortfalls"]:
            risk = " (baclofen: withdrawal risk)" if f["withdrawal_risk"] else ""
            _say(f"  {f['mrn']} {f['name']}{risk}: {f['days_late']} days past {f['latest']}: {f['reason']}")
    _say("")
    new = [b for b in best["bookings"] if not b["fixed"]]
    _say(f"Proposed: {len(new)} bookings ({len(best['bookings']) - len(new)} already booked, kept)")
    for b in new:
        again = " (re-planned after a missed visit)" if b["missed_before"] else ""
        late = b["day"] > b["latest"]
        window = f"overdue since {b['latest']}" if late else f"window {b['earliest']} – {b['latest']}"
        _say(f"  {b['day']}  {b['nurse']:<14} {b['mrn']} {b['name']} ({window}){again}")
    if "booked" in p:
        _say("")
        _say(f"Booked {len(p['booked'])}; refused {len(p['refused'])}")
        for r in p["refused"]:
            _say(f"  refused {r['patient']}: {r['why']}")


@appointments_app.command("list")
def appointments_list(
    as_user: AsOpt,
    first: Annotated[str | None, typer.Option("--from", help="The first day, YYYY-MM-DD (default: today).")] = None,
    days: Annotated[str, typer.Option("--days", help="How many days (1 to 62).")] = "7",
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The clinic's visits, day by day, in the clinic's time."""
    from openidds import display
    from openidds.service.appointments import appointment_json, calendar_between
    from openidds.service.settings import current_settings

    with guarded():
        n = whole_option(days, "--days", 1, 62)
        day = _day(first, "--from")
        with _acting(database, as_user) as (s, user), _refusals():
            zone = current_settings(s).timezone
            start = day or datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
            found = calendar_between(s, user, start, n)
            rows = [{**appointment_json(a), "mrn": p.mrn, "name": f"{p.family_name}, {p.given_name}"} for a, p in found]
    if as_json:
        emit_json({"from": start.isoformat(), "days": n, "appointments": rows})
        return
    if not rows:
        _say(f"No visits from {start.isoformat()} for {n} days.")
    for r in rows:
        at = display.instant(datetime.fromisoformat(r["starts_at"]), zone)
        _say(f"{r['id']:>5}  {at}  {r['kind_text']:<28} {r['status']:<10} {r['mrn']} {r['name']}")


@appointments_app.command("book")
def appointments_book(
    mrn: Annotated[str, typer.Argument(metavar="MRN", help="The patient's medical record number.")],
    at: Annotated[str, typer.Option("--at", help="The clinic's wall time, 'YYYY-MM-DD HH:MM'.")],
    as_user: AsOpt,
    kind: Annotated[
        str, typer.Option("--kind", help="refill, follow-up, replacement, mri-pre or mri-post.")
    ] = "refill",
    nurse: Annotated[str | None, typer.Option("--nurse", help="One of the clinic's nurses.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, when outside the refill window or over capacity.")] = "",
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Book a visit for a patient (refused outside the refill window unless --reason says why)."""
    from sqlalchemy import select

    from openidds.clinic.settings import VISIT_KINDS
    from openidds.db.models import Patient
    from openidds.service.appointments import BookAppointment, appointment_json, book
    from openidds.service.settings import current_settings

    with guarded():
        if kind not in VISIT_KINDS:
            raise InputError("--kind", f"expected one of {', '.join(VISIT_KINDS)}, got '{kind}'")
        with _acting(database, as_user) as (s, user), _refusals():
            patient = s.scalars(select(Patient).where(Patient.mrn == mrn.strip())).first()
            if patient is None:
                raise InputError("MRN", f"no patient with MRN '{mrn}'")
            when = _local(at, current_settings(s).timezone, "--at")
            cmd = BookAppointment(kind, when, None, nurse, False, "", reason)
            booked = appointment_json(book(s, user, patient.id, cmd, datetime.now(UTC)))
    if as_json:
        emit_json(booked)
        return
    _say(f"Booked appointment {booked['id']}: {booked['kind_text']} for {mrn} at {at}.")


def _change_command(status: str, help_text: str) -> None:
    @appointments_app.command(status, help=help_text)
    def command(
        appointment_id: Annotated[str, typer.Argument(metavar="ID", help="The appointment's id.")],
        as_user: AsOpt,
        reason: Annotated[str, typer.Option("--reason", help="Why (cancel and miss need one).")] = "",
        refill: Annotated[str | None, typer.Option("--refill", help="attend: the refill's id.")] = None,
        database: DatabaseOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        from openidds.db.models import Appointment
        from openidds.service.appointments import ChangeAppointment, appointment_json, change

        word = {"confirm": "confirmed", "attend": "attended", "miss": "missed", "cancel": "cancelled"}[status]
        with guarded():
            number = whole_option(appointment_id, "ID", 1, 2**31 - 1)
            refill_id = None if refill is None else whole_option(refill, "--refill", 1, 2**31 - 1)
            with _acting(database, as_user) as (s, user), _refusals():
                found = s.get(Appointment, number)
                if found is None:
                    raise InputError("ID", f"no appointment {number}")
                cmd = ChangeAppointment(word, reason, refill_id)  # type: ignore[arg-type]
                done = appointment_json(change(s, user, found.patient_id, number, cmd, datetime.now(UTC)))
        if as_json:
            emit_json(done)
            return
        _say(f"Appointment {number} is {done['status']}.")


for _status, _help in (
    ("confirm", "The patient said they will come."),
    ("attend", "The visit happened (--refill ID links the refill recorded)."),
    ("miss", "The patient did not come (--reason): they are told; a baclofen refill goes to on call."),
    ("cancel", "Cancel a visit (--reason)."),
):
    _change_command(_status, _help)
