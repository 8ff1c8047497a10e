"""`idds print card|refill|program|report`: a printable record as a PDF file, from the clinic database.

The same documents as the web's print pages and the API's PDFs (openidds.printing), for whoever holds the database
(an operator, as `idds audit verify`): no login, so no role check. Registered on the `idds` app by cli/app.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openidds.cli.app import app, guarded
from openidds.cli.database import DatabaseOpt
from openidds.cli.database import open_database as _open_database
from openidds.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openidds.db.models import Patient
    from openidds.printing.documents import Printed

print_app = typer.Typer(help="Printable records as PDF: a refill, a program change, a patient's card, a month.")
app.add_typer(print_app, name="print")

OutOpt = Annotated[Path, typer.Option("--out", metavar="FILE.pdf", help="Where to write the PDF.")]
PaperOpt = Annotated[str, typer.Option("--paper", metavar="a4|letter", help="The paper size.")]
PatientOpt = Annotated[str, typer.Option("--patient", metavar="MRN", help="The patient's MRN.")]


def _patient(s: Session, mrn: str) -> Patient:
    from sqlalchemy import select

    from openidds.db.models import Patient

    found = s.scalars(select(Patient).where(Patient.mrn == mrn.strip())).first()
    if found is None:
        raise InputError("--patient", f"no patient with MRN {mrn!r}")
    return found


@contextmanager
def _as_options() -> Iterator[None]:
    """A refused month or paper is named as the option it came from ('--month: expected …')."""
    try:
        yield
    except InputError as exc:
        if exc.field in ("month", "paper"):
            raise InputError(f"--{exc.field}", exc.message) from None
        raise


def _write(database: str | None, out: Path, paper: str, make: object) -> None:
    """Open the database, build the record (`make(session, now)`), write its PDF to `out`: one line on success."""
    from openidds.db import sessions
    from openidds.printing.render import paper as paper_size
    from openidds.service.errors import ServiceError

    with guarded(), _as_options():
        size = paper_size(paper)
        if out.suffix.lower() != ".pdf":
            raise InputError("--out", f"expected a file name ending in .pdf, got '{out}'")
        if not out.parent.is_dir():
            raise InputError("--out", f"no directory '{out.parent}'")
        engine = _open_database(database, create=False)
        try:
            with sessions(engine)() as s:
                try:
                    printed: Printed = make(s, datetime.now(UTC))  # type: ignore[operator]
                except ServiceError as exc:  # a refill or a program the patient does not have
                    raise InputError("", exc.message) from None
                body = printed.pdf(size)
        finally:
            engine.dispose()
        try:
            out.write_bytes(body)
        except OSError as exc:
            raise InputError("--out", f"cannot write '{out}' ({exc.strerror or exc})") from None
    sys.stdout.write(f"wrote {out} ({len(body)} bytes)\n")


@print_app.command("card")
def card(patient: PatientOpt, out: OutOpt, paper: PaperOpt = "a4", database: DatabaseOpt = None) -> None:
    """The patient's emergency card: drugs, concentrations, daily doses, pump, catheter, MRI, the clinic's numbers."""
    from openidds.printing import documents

    _write(database, out, paper, lambda s, now: documents.card(s, _patient(s, patient), now))


@print_app.command("refill")
def refill(
    patient: PatientOpt,
    refill_id: Annotated[int, typer.Option("--refill", min=1, help="The refill's number (its id).")],
    out: OutOpt,
    paper: PaperOpt = "a4",
    database: DatabaseOpt = None,
) -> None:
    """The refill session record."""
    from openidds.printing import documents

    _write(database, out, paper, lambda s, now: documents.refill(s, _patient(s, patient), refill_id, now))


@print_app.command("program")
def program(
    patient: PatientOpt,
    version: Annotated[int, typer.Option("--version", min=1, help="The program's version number.")],
    out: OutOpt,
    paper: PaperOpt = "a4",
    database: DatabaseOpt = None,
) -> None:
    """The program change record: old beside new, findings, overrides with their reasons, who confirmed it."""
    from openidds.printing import documents

    _write(database, out, paper, lambda s, now: documents.program(s, _patient(s, patient), version, now))


@print_app.command("report")
def report(
    month: Annotated[str, typer.Option("--month", metavar="YYYY-MM", help="The month, on the clinic's clock.")],
    out: OutOpt,
    paper: PaperOpt = "a4",
    database: DatabaseOpt = None,
) -> None:
    """The monthly clinic report."""
    from openidds.printing import documents

    _write(database, out, paper, lambda s, now: documents.monthly(s, month, now))
