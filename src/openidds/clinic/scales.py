"""The validated scales the clinic records: pain NRS, Modified Ashworth and Penn spasm frequency.

Shared by trials and follow-up. Values are checked on the way in: a score outside its scale is an InputError that
names the field, never clipped.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal, get_args

from openidds.clinic.citations import cite, policy
from openidds.errors import InputError
from openidds.quantities import format_number

NRS = cite("idd-patient-selection", "literature", note="Numeric rating scale 0-10 (0 no pain, 10 worst pain).")

AshworthGrade = Literal["0", "1", "1+", "2", "3", "4"]
ASHWORTH_GRADES: tuple[AshworthGrade, ...] = get_args(AshworthGrade)
MODIFIED_ASHWORTH = cite("modified-ashworth", "literature")
# Arithmetic on the ordinal scale needs a number for 1+; half-way between 1 and 2 is our choice.
ASHWORTH_ONE_PLUS = policy(
    "The reference gives the grades 0, 1, 1+, 2, 3, 4 but no arithmetic; counting 1+ as 1.5 points is an OpenIDDS "
    "choice so that 'a fall of 1 point' means the same at every grade."
)
ASHWORTH_POINTS: dict[AshworthGrade, Fraction] = {
    "0": Fraction(0),
    "1": Fraction(1),
    "1+": Fraction(3, 2),
    "2": Fraction(2),
    "3": Fraction(3),
    "4": Fraction(4),
}
# Bohannon and Smith's descriptions, shortened; the reference confirms the grades and that 4 is rigid.
ASHWORTH_TEXT: dict[AshworthGrade, str] = {
    "0": "no increase in muscle tone",
    "1": "slight increase: a catch and release, or minimal resistance at the end of the range",
    "1+": "slight increase: a catch, then minimal resistance through less than half of the range",
    "2": "more marked increase through most of the range, but the limb is easily moved",
    "3": "considerable increase: passive movement is difficult",
    "4": "rigid in flexion or extension",
}

PENN = cite("penn-spasm", "literature")
PENN_FREQUENCY_TEXT: dict[int, str] = {
    0: "no spasms",
    1: "spasms induced only by stimulation",
    2: "infrequent spontaneous spasms, less than once an hour",
    3: "spontaneous spasms more than once an hour",
    4: "spontaneous spasms more than ten times an hour",
}
PENN_SEVERITY_TEXT: dict[int, str] = {1: "mild", 2: "moderate", 3: "severe"}


def check_int(value: object, low: int, high: int, field: str, what: str) -> int:
    """An integer score within [low, high]; bool is refused (True is not a score)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, f"expected {what} (a whole number {low}-{high}), got {value!r}")
    if not low <= value <= high:
        raise InputError(field, f"{what} must be {low}-{high}, got {value}")
    return value


def check_nrs(value: object, field: str) -> int:
    return check_int(value, 0, 10, field, "a pain score (NRS)")


def check_ashworth(value: object, field: str) -> AshworthGrade:
    """'0', '1', '1+', '2', '3' or '4' (whole-number grades may be given as integers)."""
    text = str(value).strip() if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str):
        for grade in ASHWORTH_GRADES:
            if text.strip() == grade:
                return grade
    raise InputError(field, f"expected a Modified Ashworth grade ({', '.join(ASHWORTH_GRADES)}), got {value!r}")


def percent(fraction: Fraction) -> str:
    """'62.5 %' exactly where the decimal is short, else 3 significant digits ('33.3 %'); display only."""
    value = fraction * 100
    exact = format_number(value, 9)
    shown = exact if len(exact.replace("-", "").replace(".", "").lstrip("0")) <= 4 else format_number(value, 3)
    return f"{shown} %"


def points(value: Fraction) -> str:
    """'1 point', '1.5 points'."""
    shown = format_number(value)
    return f"{shown} point" if value == 1 else f"{shown} points"
