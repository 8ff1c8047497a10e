"""Finding a patient (GET /api/v1/patients with a query, the /patients page): by name, MRN or date of birth, and by
stage, drug, pump and refill window, a page at a time.

Everything is read from what is stored, never from a twin: the stage and date of birth from `patients`, the refill
due from the dashboard's status row (`patient_status`, kept current on every write by service.pump.refresh_status),
the pump from the implant now in the patient, and the drugs from the program that runs (a new solution's program is
active only once the refill that brings it is done, so its drugs are what the pump holds). The structured filters
are SQL; the text is matched here, on the few columns read, so names match without regard to case or accents on
SQLite and PostgreSQL alike ("jose" finds "José"), and the order is the same on both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from openidds.data import load_catalog, load_library
from openidds.db.models import Implant, Patient, PatientStatus, ProgramVersion, User
from openidds.errors import InputError
from openidds.service.access import require
from openidds.tomlinput import read_toml
from openidds.validation import mrn_key, plain_text

# The care pathway's stages, in its order (service.pathway moves a patient through them).
STAGES = ("evaluation", "not-eligible", "trial", "trial-failed", "awaiting-implant", "implanted")
LIMIT_DEFAULT = 50
LIMIT_MAX = 200
OFFSET_MAX = 1_000_000
DUE_WITHIN_MAX = 366  # days
Q_MAX = 200  # characters
_CHUNK = 500  # ids per IN (…): well inside every driver's limit on bound parameters

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")  # ASCII digits: `\d` is every script's
_DMY_DATE = re.compile(r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}")
_TERMS = re.compile(r"[\s,;]+")
DATE_FORMATS = "YYYY-MM-DD (1960-02-03) or DD/MM/YYYY (25/12/1960)"


@dataclass(frozen=True, slots=True)
class PatientQuery:
    """What to find. `q`: words of the family or given name (each must be in one, any case, with or without
    accents), or an MRN or the start of one, and/or a date of birth (YYYY-MM-DD or DD/MM/YYYY). Filters: `stage` (one
    of STAGES), `drug` (a drug of the library, in the pump now), `pump` (a catalog pump model, implanted now),
    `due_within_days` (the refill due within that many days, or overdue; 0: overdue only). A page of `limit` rows
    from `offset`."""

    q: str = ""
    stage: str | None = None
    drug: str | None = None
    pump: str | None = None
    due_within_days: int | None = None
    limit: int = LIMIT_DEFAULT
    offset: int = 0

    @classmethod
    def from_text(cls, values: Mapping[str, str | None]) -> PatientQuery:
        """From a query string or a GET form: every value as text, a blank one as not given. InputError naming
        the field when a number is not one."""
        text = {k: (v or "").strip() for k, v in values.items()}
        due = text.get("due_within_days", "")
        return cls(
            q=text.get("q", ""),
            stage=text.get("stage") or None,
            drug=text.get("drug") or None,
            pump=text.get("pump") or None,
            due_within_days=_whole(due, "due_within_days", _DUE_WORDS) if due else None,
            limit=_whole(text.get("limit", ""), "limit", _LIMIT_WORDS) if text.get("limit") else LIMIT_DEFAULT,
            offset=_whole(text.get("offset", ""), "offset", _OFFSET_WORDS) if text.get("offset") else 0,
        )


# Named in words by the field (openidds.display.field_words): "The refill window: must be a whole number …".
_DUE_WORDS = f"must be a whole number of days from 0 to {DUE_WITHIN_MAX} (0: overdue)"
_LIMIT_WORDS = f"must be a whole number from 1 to {LIMIT_MAX}"
_OFFSET_WORDS = f"must be a whole number from 0 to {OFFSET_MAX}"


def _whole(text: str, field: str, words: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise InputError(field, f"{words}, not '{text[:40]}'")
    return int(text)


@dataclass(frozen=True, slots=True)
class DrugShown:
    name: str  # the library's name
    concentration: str  # as the program file writes it, e.g. "10 mg/mL"


@dataclass(frozen=True, slots=True)
class PatientRow:
    patient: Patient
    drugs: tuple[DrugShown, ...]  # in the pump now (the running program's solution); () without one
    pump_model: str | None  # the catalog model implanted now; None before the implant
    next_refill_due: datetime | None  # from the status row; None without a programmed pump
    refill_reason: str


@dataclass(frozen=True, slots=True)
class PatientPage:
    rows: tuple[PatientRow, ...]
    total: int  # patients matching, on every page
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        after = self.offset + self.limit
        return after if after < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


@dataclass(frozen=True, slots=True)
class _Text:
    """`q` read: a date of birth, and the words left for the name or the MRN."""

    born: date | None
    words: tuple[str, ...]  # folded (see fold)
    mrn: str  # the words as an MRN is compared (validation.mrn_key): an MRN or its start ("" when none)


def find_patients(s: Session, actor: User, query: PatientQuery, now: datetime) -> PatientPage:
    """The patients matching `query`, by family then given name (an exact MRN first), one page of them, and how
    many match. A patient's own login finds at most itself (as list_patients). `now`: the instant the refill window
    counts from."""
    patient = actor.role == "patient"
    if not patient:
        require(actor, "read-dashboard")
    elif actor.patient_id is not None:
        require(actor, "read-patient", patient_id=actor.patient_id)
    text, drug, model = _check(query)
    if patient and actor.patient_id is None:
        return PatientPage((), 0, query.limit, query.offset)

    conditions: list[ColumnElement[bool]] = []
    if patient:
        conditions.append(Patient.id == actor.patient_id)
    if text.born is not None:
        conditions.append(Patient.birth_date == text.born)
    if query.stage is not None:
        conditions.append(Patient.stage == query.stage)
    if query.due_within_days is not None:
        conditions.append(PatientStatus.next_refill_due <= now + timedelta(days=query.due_within_days))
    pump = (
        select(Implant.pump_model)
        .where(Implant.patient_id == Patient.id, Implant.kind != "revision")  # a revision keeps the pump
        .order_by(Implant.implanted_at.desc(), Implant.id.desc())
        .limit(1)
        .correlate(Patient)
        .scalar_subquery()
    )
    if model is not None:
        conditions.append(pump == model)
    found = s.execute(
        select(
            Patient.id,
            Patient.family_name,
            Patient.given_name,
            Patient.mrn,
            pump.label("pump_model"),
            PatientStatus.next_refill_due,
            PatientStatus.refill_reason,
        )
        .outerjoin(PatientStatus, PatientStatus.patient_id == Patient.id)
        .where(*conditions)
    ).all()

    keyed = [(mrn_key(r.mrn) != text.mrn, fold(r.family_name), fold(r.given_name), r.id, r) for r in found]
    keyed = [k for k in keyed if _matches(text, k[1], k[2], k[4].mrn)]
    drugs: dict[int, tuple[DrugShown, ...]] = {}
    if drug is not None:
        drugs = _drugs(s, [k[3] for k in keyed])
        keyed = [k for k in keyed if any(d.name == drug for d in drugs.get(k[3], ()))]
    keyed.sort(key=lambda k: k[:4])
    matches = [k[4] for k in keyed]

    shown = matches[query.offset : query.offset + query.limit]
    ids = [r.id for r in shown]
    if drug is None:
        drugs = _drugs(s, ids)
    patients = {p.id: p for p in _chunked(s, ids, lambda chunk: select(Patient).where(Patient.id.in_(chunk)))}
    rows = tuple(
        PatientRow(patients[r.id], drugs.get(r.id, ()), r.pump_model, r.next_refill_due, r.refill_reason or "")
        for r in shown
    )
    return PatientPage(rows, len(matches), query.limit, query.offset)


def _check(query: PatientQuery) -> tuple[_Text, str | None, str | None]:
    """Every field in bounds (InputError naming it, in words); `q` read, and the drug and the pump as the library
    and the catalog name them."""
    if not 1 <= query.limit <= LIMIT_MAX:
        raise InputError("limit", f"{_LIMIT_WORDS}, not {query.limit}")
    if not 0 <= query.offset <= OFFSET_MAX:
        raise InputError("offset", f"{_OFFSET_WORDS}, not {query.offset}")
    if query.due_within_days is not None and not 0 <= query.due_within_days <= DUE_WITHIN_MAX:
        raise InputError("due_within_days", f"{_DUE_WORDS}, not {query.due_within_days}")
    if query.stage is not None and query.stage not in STAGES:
        raise InputError("stage", f"unknown stage '{query.stage[:40]}' (choose {', '.join(STAGES)})")
    drug = None if query.drug is None else load_library().drug(query.drug[:80], "drug").name
    pump = None if query.pump is None else load_catalog().pump(query.pump[:80], "pump").id
    return read_text(query.q), drug, pump


def read_text(q: str) -> _Text:
    """`q` as a date of birth (a word written as a date) and words for the name or the MRN."""
    text = plain_text(q, "q", Q_MAX)
    born: date | None = None
    words = []
    for word in _TERMS.split(text):
        if not word:
            continue
        day = _date(word)
        if day is None:
            words.append(word)
        elif born is not None and day != born:
            raise InputError("q", f"two dates of birth ({born.isoformat()} and {day.isoformat()}): give one")
        else:
            born = day
    return _Text(born, tuple(fold(w) for w in words), mrn_key(" ".join(words)) if words else "")


def _date(word: str) -> date | None:
    """A word written as a date (YYYY-MM-DD or DD/MM/YYYY) as that date; None when it is not written as one.
    InputError when it is written as one but is no day of the calendar (31/02/1960)."""
    if _ISO_DATE.fullmatch(word):
        year, month, day = (int(p) for p in word.split("-"))
    elif _DMY_DATE.fullmatch(word):
        day, month, year = (int(p) for p in word.split("/"))
        if day != month and day <= 12 and month <= 12:  # 01/08/1968: 1 August or January 8? Never guess a patient
            raise InputError(
                "q",
                f"'{word}' could be read day first or month first: write the date of birth as {year:04d}-MM-DD",
            )
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        raise InputError("q", f"'{word}' is not a date of birth: write it as {DATE_FORMATS}") from None


def fold(text: str) -> str:
    """For matching and ordering names: case and accents set aside ("Müller" and "muller" are one)."""
    if text.isascii():  # most names: nothing to take apart
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _matches(text: _Text, family: str, given: str, mrn: str) -> bool:
    """Whether the words are the start of the MRN, or each in the (folded) family or given name."""
    if not text.words or mrn_key(mrn).startswith(text.mrn):
        return True
    name = f"{family} {given}"
    return all(w in name for w in text.words)


def _drugs(s: Session, ids: Sequence[int]) -> dict[int, tuple[DrugShown, ...]]:
    """Each patient's drugs in the pump now: those of their running program (none without one)."""
    out: dict[int, tuple[DrugShown, ...]] = {}
    numbers: dict[int, int] = {}
    for pid, number, document in _chunked(
        s,
        ids,
        lambda chunk: select(ProgramVersion.patient_id, ProgramVersion.number, ProgramVersion.document).where(
            ProgramVersion.patient_id.in_(chunk), ProgramVersion.status == "active"
        ),
        scalars=False,
    ):
        if number >= numbers.get(pid, number):  # only one runs; should two say so, the newer
            numbers[pid] = number
            out[pid] = solution_of(document)
    return out


@lru_cache(maxsize=4096)
def solution_of(document: str) -> tuple[DrugShown, ...]:
    """The drugs a stored program file names (it was read in full when it was written, so only its [[drugs]] are
    read here), with their names as the library writes them."""
    try:
        drugs = read_toml(document).get("drugs", [])
    except InputError:
        return ()
    return tuple(
        DrugShown(str(d.get("name", "")).strip().lower(), str(d.get("concentration", "")).strip())
        for d in drugs
        if isinstance(d, dict)
    )


def _chunked(
    s: Session, ids: Sequence[int], statement: Callable[[list[int]], Any], scalars: bool = True
) -> Iterator[Any]:
    """`statement` for the ids, _CHUNK at a time: its ORM objects (`scalars`) or its rows."""
    for i in range(0, len(ids), _CHUNK):
        chunk = list(ids[i : i + _CHUNK])
        yield from (s.scalars(statement(chunk)) if scalars else s.execute(statement(chunk)))


def describe(drugs: Iterable[DrugShown]) -> str:
    """'morphine 10 mg/mL, clonidine 100 mcg/mL' (as the chart's timeline writes a solution)."""
    return ", ".join(f"{d.name} {d.concentration}".strip() for d in drugs)
