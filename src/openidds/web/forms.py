"""Reading posted forms into what the use cases take: the API's own input schemas, so both adapters accept and
refuse the same things, and a refusal names the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from openidds.errors import InputError
from openidds.programs.clock import LocalTimeError, localize
from openidds.validation import ascii_whole, dotted, instant_problem
from openidds.web.format import zone
from openidds.web.session import Fields

M = TypeVar("M", bound=BaseModel)


def parse_in(model: type[M], data: dict[str, Any]) -> M:
    """`data` through one of the API's input schemas; the first problem as an InputError naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = dotted(tuple(err["loc"]))
        message = str(err["msg"]).removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]  # after the field's words: "The pain score: input should be …"
        raise InputError(where, "missing (required)" if err["type"] == "missing" else message) from None


def tri(fields: Fields, name: str) -> bool | None:
    """A yes / no / unknown radio group: unknown is never read as yes."""
    value = fields.get(name)
    return True if value == "yes" else False if value == "no" else None


def whole(fields: Fields, name: str) -> int | str | None:
    """A whole number as typed (left as text when it is not one, so the schema names the field)."""
    value = fields.get(name)
    return None if value == "" else whole_number(value)


def whole_number(text: str) -> int | str:
    """`text` as an int when it is written in the digits 0-9, or as it is (the schema then names the field): '٤٠'
    and '４０' are digits to `int`, not to a clinician's form."""
    number = ascii_whole(text)
    return text if number is None else number


def listed(fields: Fields, name: str) -> list[str]:
    """A comma-separated list ('none' is an empty list)."""
    value = fields.get(name)
    if value.lower() in ("", "none"):
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def local_instant(value: str, tz: str, field: str) -> datetime:
    """A `datetime-local` field, read on the patient's wall clock (a time in a DST gap or overlap is refused)."""
    try:
        naive = datetime.fromisoformat(value) if len(value) <= 60 else None
    except ValueError:
        naive = None
    if naive is None:
        raise InputError(field, f"expected a date and time such as '2026-11-21T09:00', got {value[:60]!r}")
    problem = instant_problem(naive)  # before localizing: year 9999 overflows it
    if problem is not None:
        raise InputError(field, problem)
    if naive.tzinfo is not None:
        return naive
    try:
        return localize(naive, zone(tz))
    except LocalTimeError as exc:
        raise InputError(field, str(exc)) from None


def local_input(at: datetime, tz: str) -> str:
    """An instant as a `datetime-local` value on the patient's wall clock."""
    return f"{at.astimezone(zone(tz)):%Y-%m-%dT%H:%M}"
