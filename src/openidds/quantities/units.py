"""A small typed units layer, exact by construction.

Base units: mg (mass), mL (volume), day (time), cm (length). A unit is a dimension vector and an exact
factor to the base. Adding quantities of different dimensions raises `UnitMismatchError`; parsing a quantity
of the wrong kind for a field raises `InputError` naming the field. Nothing is ever converted silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Final

from openidds.errors import InputError, UnitMismatchError

# Exponents of (mass, volume, time, length).
Dimension = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Kind:
    """A named dimension: what a field expects, said the way a clinician says it."""

    name: str
    dimension: Dimension
    example: str

    def describe(self) -> str:
        return f"{self.name} such as '{self.example}'"


MASS: Final = Kind("a mass", (1, 0, 0, 0), "2 mg")
VOLUME: Final = Kind("a volume", (0, 1, 0, 0), "2 mL")
TIME: Final = Kind("a duration", (0, 0, 1, 0), "10 min")
LENGTH: Final = Kind("a length", (0, 0, 0, 1), "60 cm")
CONCENTRATION: Final = Kind("a concentration", (1, -1, 0, 0), "10 mg/mL")
RATE: Final = Kind("a rate", (0, 1, -1, 0), "0.5 mL/day")
DOSE_RATE: Final = Kind("a dose rate", (1, 0, -1, 0), "400 mcg/day")
VOLUME_PER_LENGTH: Final = Kind("a volume per length", (0, 1, 0, -1), "0.002 mL/cm")
DIMENSIONLESS: Final = Kind("a plain number", (0, 0, 0, 0), "3")

KINDS: Final = (MASS, VOLUME, TIME, LENGTH, CONCENTRATION, RATE, DOSE_RATE, VOLUME_PER_LENGTH, DIMENSIONLESS)
_KIND_BY_DIMENSION: Final = {k.dimension: k for k in KINDS}


def kind_of(dimension: Dimension) -> Kind | None:
    return _KIND_BY_DIMENSION.get(dimension)


@dataclass(frozen=True, slots=True)
class Unit:
    symbol: str
    dimension: Dimension
    factor: Fraction  # base units per one of this unit

    def __truediv__(self, other: Unit) -> Unit:
        dim = tuple(a - b for a, b in zip(self.dimension, other.dimension, strict=True))
        return Unit(f"{self.symbol}/{other.symbol}", dim, self.factor / other.factor)  # type: ignore[arg-type]


_SIMPLE: Final[dict[str, Unit]] = {}


def _add(symbols: tuple[str, ...], dimension: Dimension, factor: Fraction) -> None:
    canonical = Unit(symbols[0], dimension, factor)
    for s in symbols:
        _SIMPLE[s] = canonical


_add(("mg",), (1, 0, 0, 0), Fraction(1))
_add(("mcg", "µg", "μg", "ug"), (1, 0, 0, 0), Fraction(1, 1000))  # U+00B5 and U+03BC both occur in the wild
_add(("g",), (1, 0, 0, 0), Fraction(1000))
_add(("mL", "ml"), (0, 1, 0, 0), Fraction(1))
_add(("µL", "μL", "uL", "ul", "µl", "μl"), (0, 1, 0, 0), Fraction(1, 1000))
_add(("L", "l"), (0, 1, 0, 0), Fraction(1000))
_add(("day", "days", "d"), (0, 0, 1, 0), Fraction(1))
_add(("h", "hr", "hour", "hours"), (0, 0, 1, 0), Fraction(1, 24))
_add(("min", "mins", "minute", "minutes"), (0, 0, 1, 0), Fraction(1, 1440))
_add(("s", "sec", "second", "seconds"), (0, 0, 1, 0), Fraction(1, 86400))
_add(("week", "weeks", "wk"), (0, 0, 1, 0), Fraction(7))
_add(("year", "years", "y"), (0, 0, 1, 0), Fraction(36525, 100))  # Julian year, for battery life only
_add(("cm",), (0, 0, 0, 1), Fraction(1))
_add(("mm",), (0, 0, 0, 1), Fraction(1, 10))
_add(("%",), (0, 0, 0, 0), Fraction(1, 100))
_add(("",), (0, 0, 0, 0), Fraction(1))

# ASCII digits only: `\d` and Fraction() also read other scripts' digits ("４０ mL", "٤٠ mL"), a typing accident to
# refuse, not a number to guess. A unit never begins with a digit of any script.
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?"
_QUANTITY_RE: Final = re.compile(rf"^\s*({_NUMBER})\s*([^\d\s][^\s]*(?:\s*/\s*[^\s]+)?)?\s*$")


@lru_cache(maxsize=256)
def unit(symbol: str) -> Unit:
    """The unit named by `symbol` ("mg", "mcg/mL", "mL/day", "µL/h" …). Raises ValueError if unknown."""
    text = symbol.strip()
    if "/" in text:
        num, _, den = (p.strip() for p in text.partition("/"))
        if num not in _SIMPLE or den not in _SIMPLE or not num or not den or "/" in den:
            raise ValueError(f"unknown unit '{symbol}'")
        return _SIMPLE[num] / _SIMPLE[den]
    if text not in _SIMPLE:
        raise ValueError(f"unknown unit '{symbol}'")
    return _SIMPLE[text]


def _dimension_mul(a: Dimension, b: Dimension, sign: int) -> Dimension:
    return (a[0] + sign * b[0], a[1] + sign * b[1], a[2] + sign * b[2], a[3] + sign * b[3])


# The unit a computed quantity is shown in, unless the caller asks for another.
_DEFAULT_UNIT: Final[dict[Dimension, Unit]] = {
    MASS.dimension: unit("mg"),
    VOLUME.dimension: unit("mL"),
    TIME.dimension: unit("day"),
    LENGTH.dimension: unit("cm"),
    CONCENTRATION.dimension: unit("mg/mL"),
    RATE.dimension: unit("mL/day"),
    DOSE_RATE.dimension: unit("mg/day"),
    VOLUME_PER_LENGTH.dimension: unit("mL/cm"),
    DIMENSIONLESS.dimension: unit(""),
}


def _base_unit(dimension: Dimension) -> Unit:
    found = _DEFAULT_UNIT.get(dimension)
    if found is not None:
        return found
    return Unit(
        "·".join(f"{n}^{e}" for n, e in zip(("mg", "mL", "day", "cm"), dimension, strict=True) if e),
        dimension,
        Fraction(1),
    )


@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact magnitude with a unit. Stored as `base` (in base units) plus the unit it is shown in."""

    base: Fraction
    unit: Unit

    @classmethod
    def of(cls, value: Fraction | int | str | Decimal, symbol: str | Unit) -> Quantity:
        u = symbol if isinstance(symbol, Unit) else unit(symbol)
        return cls(Fraction(value) * u.factor, u)

    @property
    def dimension(self) -> Dimension:
        return self.unit.dimension

    @property
    def kind(self) -> Kind | None:
        return kind_of(self.unit.dimension)

    @property
    def value(self) -> Fraction:
        """The magnitude in the quantity's own unit."""
        return self.base / self.unit.factor

    def to(self, symbol: str | Unit) -> Fraction:
        """The exact magnitude in another unit of the same dimension."""
        u = symbol if isinstance(symbol, Unit) else unit(symbol)
        self._same(u.dimension, f"convert to {u.symbol}")
        return self.base / u.factor

    def in_unit(self, symbol: str | Unit) -> Quantity:
        u = symbol if isinstance(symbol, Unit) else unit(symbol)
        self._same(u.dimension, f"convert to {u.symbol}")
        return Quantity(self.base, u)

    def is_kind(self, kind: Kind) -> bool:
        return self.unit.dimension == kind.dimension

    def _same(self, dimension: Dimension, action: str | Callable[[], str]) -> None:
        if dimension != self.unit.dimension:
            # The message is only built on a mismatch: comparisons sit on hot paths.
            what = action if isinstance(action, str) else action()
            mine = self.kind.name if self.kind else self.unit.symbol
            theirs = kind_of(dimension)
            raise UnitMismatchError(f"cannot {what}: {self} is {mine}, not {theirs.name if theirs else 'that kind'}")

    # Arithmetic: + and - need the same dimension; * and / make derived dimensions.
    def __add__(self, other: Quantity) -> Quantity:
        other._same(self.dimension, lambda: f"add {other} to {self}")
        return Quantity(self.base + other.base, self.unit)

    def __sub__(self, other: Quantity) -> Quantity:
        other._same(self.dimension, lambda: f"subtract {other} from {self}")
        return Quantity(self.base - other.base, self.unit)

    def __neg__(self) -> Quantity:
        return Quantity(-self.base, self.unit)

    def __mul__(self, other: Quantity | Fraction | int) -> Quantity:
        if isinstance(other, Quantity):
            dim = _dimension_mul(self.dimension, other.dimension, 1)
            return Quantity(self.base * other.base, _base_unit(dim))
        return Quantity(self.base * other, self.unit)

    __rmul__ = __mul__

    def __truediv__(self, other: Quantity | Fraction | int) -> Quantity:
        if isinstance(other, Quantity):
            if other.base == 0:
                raise ZeroDivisionError(f"division by {other}")
            dim = _dimension_mul(self.dimension, other.dimension, -1)
            return Quantity(self.base / other.base, _base_unit(dim))
        return Quantity(self.base / other, self.unit)

    def ratio(self, other: Quantity) -> Fraction:
        """self / other for two quantities of the same dimension, as a plain number."""
        other._same(self.dimension, lambda: f"compare {other} with {self}")
        return self.base / other.base

    def _cmp(self, other: object) -> Fraction:
        if not isinstance(other, Quantity):
            raise TypeError(f"cannot compare {self} with {other!r}")
        other._same(self.dimension, lambda: f"compare {other} with {self}")
        return self.base - other.base

    def __lt__(self, other: Quantity) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: Quantity) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: Quantity) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: Quantity) -> bool:
        return self._cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.dimension == other.dimension and self.base == other.base

    def __hash__(self) -> int:
        return hash((self.dimension, self.base))

    def __str__(self) -> str:
        return self.format()

    def format(self, symbol: str | Unit | None = None, significant: int = 6) -> str:
        u = self.unit if symbol is None else (symbol if isinstance(symbol, Unit) else unit(symbol))
        value = self.to(u)
        number = format_number(value, significant)
        symbol = u.symbol + "s" if u.symbol in _PLURAL and value != 1 else u.symbol
        return f"{number} {symbol}" if symbol else number

    def as_json(self, symbol: str | Unit | None = None) -> dict[str, float | str]:
        """`{"value": 0.525, "unit": "mL/day"}`: the nearest double, which prints shortest."""
        u = self.unit if symbol is None else (symbol if isinstance(symbol, Unit) else unit(symbol))
        return {"value": float(self.to(u)), "unit": u.symbol}


_PLURAL: Final = frozenset({"day", "week", "year"})


def format_number(value: Fraction, significant: int = 6) -> str:
    """Exact when the decimal is short; otherwise `significant` significant digits. No exponent notation."""
    if value == 0:
        return "0"
    exact = _exact_decimal(value)
    if exact is not None and len(exact.replace("-", "").replace(".", "").lstrip("0")) <= max(significant, 9):
        return exact
    with localcontext() as ctx:
        ctx.prec = significant  # the division rounds to `significant` digits, whatever the magnitude
        rounded = Decimal(value.numerator) / Decimal(value.denominator)
    return _trim(f"{rounded:f}")


def format_ml(volume: Fraction) -> str:
    """A volume for reading, to 0.1 mL (half up): '14.3 mL'. Exact values stay in the JSON. The one policy for
    shown numbers is `openidds.display` (`display.volume`); this is its name for the core's messages."""
    from openidds.display import volume as shown  # display builds on this module: imported when first used

    return shown(volume)


def _exact_decimal(value: Fraction) -> str | None:
    """The exact decimal expansion, by integer arithmetic, or None if it does not terminate."""
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return None
    places = max(twos, fives)
    digits = str(abs(value.numerator) * 10**places // value.denominator).rjust(places + 1, "0")
    text = digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"
    return _trim(("-" if value < 0 else "") + text)


def _trim(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


MAX_QUANTITY_TEXT = 40  # a quantity is short; a longer text is a mistake (and a huge exponent a hang)


def parse_quantity(text: object, kind: Kind | None = None, field: str = "") -> Quantity:
    """Parse "10 mg/mL", "0.5 mL/day", "25 mcg/mL", "10 min" …; `kind` checks what the field expects."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        expected = kind.describe() if kind else "a quantity such as '2 mL'"
        raise InputError(field, f"expected {expected}, got {text!r}")
    if isinstance(text, int | float):
        if kind is not None and kind is not DIMENSIONLESS:
            raise InputError(field, f"expected {kind.describe()} with its unit, got the bare number {text!r}")
        return Quantity(Fraction(str(text)), unit(""))
    match = _QUANTITY_RE.match(text) if len(text) <= MAX_QUANTITY_TEXT else None
    if not match:
        expected = kind.describe() if kind else "a quantity such as '2 mL'"
        if any(c.isdecimal() and not c.isascii() for c in text[:MAX_QUANTITY_TEXT]):
            expected += " written in the digits 0-9"
        raise InputError(field, f"expected {expected}, got '{text[:MAX_QUANTITY_TEXT]}'")
    number, symbol = match.group(1), (match.group(2) or "").replace(" ", "")
    try:
        u = unit(symbol)
    except ValueError:
        raise InputError(field, f"unknown unit '{symbol}' in '{text}'") from None
    q = Quantity(Fraction(number) * u.factor, u)
    if kind is not None and q.dimension != kind.dimension:
        got = q.kind.name if q.kind else f"in {u.symbol}"
        if symbol == "":
            raise InputError(field, f"expected {kind.describe()} with its unit, got the bare number '{text}'")
        raise InputError(field, f"expected {kind.describe()}, got '{text}' ({got})")
    return q
