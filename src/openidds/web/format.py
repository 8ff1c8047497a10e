"""How the pages write instants, durations and numbers: on the patient's wall clock, with the zone named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openidds.clinic.dashboard import span
from openidds.quantities.units import format_number


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
    """'2027-01-25 08:05 CST'."""
    at = instant(value)
    if at is None:
        return "—"
    local = at.astimezone(zone(tz))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def day(value: datetime | str | None, tz: str | None = None) -> str:
    """'Mon 25 Jan 2027'."""
    at = instant(value)
    if at is None:
        return "—"
    local = at.astimezone(zone(tz))
    return f"{local:%a} {local.day} {local:%b %Y}"


def through(value: datetime | str | None, tz: str | None = None) -> str:
    """An expiry or beyond-use date kept as the midnight it ends at: 'through Tue 31 Dec 2029'."""
    at = instant(value)
    if at is None:
        return "—"
    local = at.astimezone(zone(tz))
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return "through " + day(at - timedelta(microseconds=1), tz)
    return "until " + when(at, tz)


def iso(value: datetime | str | None) -> str:
    at = instant(value)
    return "" if at is None else at.astimezone(UTC).isoformat()


def relative(value: datetime | str | None, now: datetime) -> str:
    """'in 3 days 4 h' or '2 days ago' (the dashboard's words for a span: `clinic.dashboard.span`)."""
    at = instant(value)
    if at is None:
        return "—"
    words = span((at - now) // timedelta(microseconds=1))
    return f"in {words}" if at >= now else f"{words} ago"


def number(value: Fraction | int | float | str | None, significant: int = 4) -> str:
    """For reading: `significant` digits at most (24.25, 11.38, 0.525), but whole numbers in full (1250)."""
    if value is None or value == "":
        return "—"
    exact = Fraction(value) if not isinstance(value, float) else Fraction(value).limit_denominator(10**6)
    if exact == 0:
        return "0"
    digits = max(significant, len(str(abs(int(exact)))))  # never round away whole units
    with localcontext() as ctx:
        ctx.prec = digits
        rounded = Decimal(exact.numerator) / Decimal(exact.denominator)
    return format_number(Fraction(rounded), digits)


def words(value: str) -> str:
    """A stable code ('not-eligible', 'within-band') as words."""
    return value.replace("-", " ").replace("_", " ")


def capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:]


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
    "iso": iso,
    "number": number,
    "words": words,
    "capitalize_first": capitalize_first,
    "relative_to": relative,
    "options": options,
    "choices": choices,
}
