"""How the pages write instants, durations and numbers: a thin layer of Jinja filters over `openidds.display`, the
one policy for numbers and times (instants on the patient's or the clinic's wall clock, with the zone named)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup

from openidds import display
from openidds.clinic.dashboard import span
from openidds.errors import InputError
from openidds.quantities import Quantity


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def instant(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def when(value: datetime | str | None, tz: str | None = None) -> str:
    """'25 Jan 2027 08:05 CST' (`display.instant`)."""
    return display.instant(instant(value), zone(tz))


def day(value: datetime | str | None, tz: str | None = None) -> str:
    """'Mon 25 Jan 2027'."""
    return display.day(instant(value), zone(tz))


def through(value: datetime | str | None, tz: str | None = None) -> str:
    """An expiry or beyond-use date kept as the midnight it ends at: 'through Tue 31 Dec 2029'."""
    return display.through(instant(value), zone(tz))


def clock(value: datetime | str | None, tz: str | None = None) -> str:
    """'08:05 CST', beside the day."""
    return display.clock(instant(value), zone(tz))


def iso(value: datetime | str | None) -> str:
    """For an attribute (<time datetime>), never for text."""
    at = instant(value)
    return "" if at is None else at.astimezone(UTC).isoformat()


def relative(value: datetime | str | None, now: datetime) -> str:
    """'in 3 days 4 h' or '2 days ago' (the dashboard's words for a span: `clinic.dashboard.span`)."""
    at = instant(value)
    if at is None:
        return "—"
    words = span((at - now) // timedelta(microseconds=1))
    return f"in {words}" if at >= now else f"{words} ago"


def number(value: Fraction | int | float | str | None, significant: int = 3) -> str:
    """For reading: 3 significant figures (11.4, 0.525), whole numbers in full (1250): `display.number`."""
    return display.number(value, significant)


def ml(value: Quantity | Fraction | int | float | str | None, unit: bool = True) -> Markup:
    """A volume to 0.1 mL with the exact value on hover: <span class="ml" title="exact: 4.49577 mL">4.5 mL</span>
    (`unit=False`: the number alone, for the low end of a band: '21.9 to 26.6 mL')."""
    if value is None or value == "":
        return Markup("—")
    shown = display.volume(value) if unit else display.volume_number(value)
    return Markup('<span class="ml" title="exact: {}">{}</span>').format(display.volume_exact(value), shown)


def volume(value: Quantity | Fraction | int | float | str | None) -> str:
    """A volume to 0.1 mL as plain text, for an attribute or a hint: '14.3 mL'."""
    return display.volume(value)


def dose(value: Quantity | None, unit: str | None = None) -> str:
    """A dose or dose rate to 3 significant figures: '5.25 mg/day'."""
    return display.dose(value, unit)


def duration(minutes: int | timedelta) -> str:
    """'4 h 0 min'."""
    return display.duration(minutes)


def words(value: str) -> str:
    """A stable code ('not-eligible', 'within-band') as words."""
    return value.replace("-", " ").replace("_", " ")


capitalize_first = display.capitalize_first


def refusal(exc: InputError) -> str:
    """A refused input as one line naming its field in words: 'The search: …' (`display.message`)."""
    return display.message(exc)


def options(values: Any) -> list[tuple[str, str]]:
    """Codes as (value, words) pairs for a <select>."""
    return [(str(v), words(str(v))) for v in values]


def choices(items: Any, value: str, text: str) -> list[tuple[str, str]]:
    """Catalog entries as (value, text) pairs for a <select>."""
    return [(str(getattr(i, value)), str(getattr(i, text))) for i in items]


FILTERS: dict[str, Callable[..., Any]] = {
    "when": when,
    "through": through,
    "day": day,
    "clock": clock,
    "iso": iso,
    "number": number,
    "ml": ml,
    "volume": volume,
    "refusal": refusal,
    "dose": dose,
    "duration": duration,
    "words": words,
    "capitalize_first": capitalize_first,
    "relative_to": relative,
    "options": options,
    "choices": choices,
}
