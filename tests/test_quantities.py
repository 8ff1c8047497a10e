"""Quantities: parsing, printing, exact arithmetic, and refusing to mix kinds."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openidds.errors import InputError, UnitMismatchError
from openidds.quantities import (
    CONCENTRATION,
    DOSE_RATE,
    MASS,
    RATE,
    TIME,
    VOLUME,
    Quantity,
    format_number,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "kind", "unit", "value"),
    [
        ("10 mg/mL", CONCENTRATION, "mg/mL", Fraction(10)),
        ("0.5 mL/day", RATE, "mL/day", Fraction(1, 2)),
        ("25 mcg/mL", CONCENTRATION, "mg/mL", Fraction(25, 1000)),
        ("25 µg/mL", CONCENTRATION, "mcg/mL", Fraction(25)),  # micro sign U+00B5
        ("25 μg/mL", CONCENTRATION, "mcg/mL", Fraction(25)),  # Greek mu U+03BC
        ("2 mL", VOLUME, "mL", Fraction(2)),
        ("10 min", TIME, "h", Fraction(1, 6)),
        ("4 h", TIME, "day", Fraction(1, 6)),
        ("400 mcg/day", DOSE_RATE, "mg/day", Fraction(2, 5)),
        ("400mcg/day", DOSE_RATE, "mcg/day", Fraction(400)),
        ("20 µL/h", RATE, "mL/day", Fraction(48, 100)),  # 0.02 mL/h × 24
        ("0.0022 mL/cm", None, "mL/cm", Fraction(22, 10000)),
    ],
)
def test_parse_and_convert(text, kind, unit, value):
    q = parse_quantity(text, kind, "field")
    assert q.to(unit) == value


def test_printing_is_exact_and_short():
    assert str(parse_quantity("0.40 mL/day")) == "0.4 mL/day"
    assert str(parse_quantity("25 mcg/mL")) == "25 mcg/mL"
    assert parse_quantity("0.525 mL/day").as_json() == {"value": 0.525, "unit": "mL/day"}
    assert format_number(Fraction(1, 3)) == "0.333333"
    assert format_number(Fraction(72380952, 1000000)) == "72.380952"
    assert str(Quantity.of(90, "day")) == "90 days"
    assert str(Quantity.of(1, "day")) == "1 day"


def test_wrong_kind_names_the_field():
    with pytest.raises(InputError) as exc:
        parse_quantity("5 mg/day", RATE, "program.rate")
    assert str(exc.value) == "program.rate: expected a rate such as '0.5 mL/day', got '5 mg/day' (a dose rate)"


@pytest.mark.parametrize("bad", ["", "mg", "5 furlongs", "5 mg/", "five mL", "5 mg/mL/day", "1,5 mL"])
def test_unparseable_is_an_input_error(bad):
    with pytest.raises(InputError) as exc:
        parse_quantity(bad, VOLUME, "reservoir.volume")
    assert exc.value.field == "reservoir.volume"


def test_bare_number_needs_a_unit():
    with pytest.raises(InputError, match="with its unit"):
        parse_quantity("40", VOLUME, "reservoir.volume")
    with pytest.raises(InputError, match="with its unit"):
        parse_quantity(40, VOLUME, "reservoir.volume")


def test_mixing_kinds_is_an_error_never_a_conversion():
    rate, dose = parse_quantity("0.5 mL/day"), parse_quantity("5 mg/day")
    with pytest.raises(UnitMismatchError):
        _ = rate + dose
    with pytest.raises(UnitMismatchError):
        _ = rate < dose
    with pytest.raises(UnitMismatchError):
        rate.to("mg/day")


def test_derived_dimensions():
    rate = parse_quantity("0.5 mL/day")
    conc = parse_quantity("10 mg/mL")
    dose = rate * conc
    assert dose.is_kind(DOSE_RATE) and dose.to("mg/day") == 5
    back = dose / conc
    assert back.is_kind(RATE) and back == rate
    assert (parse_quantity("2 mL") * conc).is_kind(MASS)


def test_ten_years_exact():
    # 0.4 mL/day for 3653 days (10 years with three leap days) is exactly 1461.2 mL, no drift.
    rate = parse_quantity("0.4 mL/day")
    total = Quantity.of(0, "mL")
    for _ in range(3653):
        total = total + (rate * Quantity.of(1, "day")).in_unit("mL")
    assert total.to("mL") == Fraction("1461.2")


@given(st.decimals(min_value="0.001", max_value="1000", places=3))
def test_parse_print_round_trip(d):
    q = parse_quantity(f"{d} mL/day", RATE, "f")
    assert parse_quantity(str(q), RATE, "f") == q
