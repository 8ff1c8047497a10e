"""Column types that keep the core's exactness: aware UTC instants and exact Fractions."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no zones); always handed back aware, in UTC. Naive input is refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: instants are UTC and must carry their zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class ExactNumber(TypeDecorator[Fraction]):
    """An exact Fraction as text ('2.15' is kept as 43/20): volumes never pass through a float."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        f = Fraction(value)
        return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"

    def process_result_value(self, value: str | None, dialect: Dialect) -> Fraction | None:
        return None if value is None else exact_from_text(value)


def exact_from_text(stored: str) -> Fraction:
    """What ExactNumber stores ('43/20' or '7') back as the exact number."""
    return Fraction(stored)
