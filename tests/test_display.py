"""The one display policy (openidds.display): volumes to 0.1 mL, doses to 3 significant figures, instants on the
clinic's wall clock with the zone's abbreviation, and refusals that name their field in words.

Every expected value is worked out by hand in the comments; none comes from the code under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from openidds import display
from openidds.errors import InputError
from openidds.quantities import Quantity, format_ml
from openidds.quantities.units import unit
from tests.api_support import TRIAL, complete_body, implanted_patient, prepare_body
from tests.clinic_db import Clinic
from tests.web_support import PASSWORD, Browser, prepare_data, program_data, text_by_id
from tests.web_support import fast_argon2 as cheap_hasher
from tests.web_support import implanted_patient as web_implanted_patient

CHICAGO = "America/Chicago"


# --- volumes: to 0.1 mL, half up ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ml", "shown"),
    [
        (Fraction("0.05"), "0.1 mL"),  # exactly half a tenth: up
        (Fraction("0.04999"), "0 mL"),  # just under: down
        (Fraction("14.25"), "14.3 mL"),  # half up, not half even (that would be 14.2)
        (Fraction("14.35"), "14.4 mL"),
        (Fraction("4.49577"), "4.5 mL"),
        (Fraction("11.3754"), "11.4 mL"),  # the residual and its band, 10.0817 to 12.6691
        (Fraction("10.0817"), "10.1 mL"),
        (Fraction("12.6691"), "12.7 mL"),
        (Fraction(40), "40 mL"),  # whole: no ".0"
        (Fraction("39.96"), "40 mL"),
        (Fraction("-0.25"), "-0.3 mL"),  # a discrepancy below the expected: away from zero
        (Fraction("-0.04"), "0 mL"),  # no "-0"
        (Fraction(1, 3), "0.3 mL"),
    ],
)
def test_a_volume_is_shown_to_a_tenth_of_a_millilitre_half_up(ml: Fraction, shown: str) -> None:
    assert display.volume(ml) == shown
    assert format_ml(ml) == shown  # the core's name for it: one implementation


def test_a_volume_from_a_quantity_a_float_or_text() -> None:
    assert display.volume(Quantity.of("1450", "µL")) == "1.5 mL"  # 1.45 mL, half up
    assert display.volume(0.15) == "0.2 mL"  # the float as it prints (0.15), not 0.1499999… (which rounds down)
    assert display.volume(Decimal("2.25")) == "2.3 mL"
    assert display.volume("24.25") == "24.3 mL"
    assert display.volume(None) == "—"
    assert display.volume_number(Fraction("21.8875")) == "21.9"  # the low end of a band, without its unit


def test_the_exact_volume_for_the_hover() -> None:
    assert display.volume_exact(Fraction("4.49577")) == "4.49577 mL"
    assert display.volume_exact(Fraction("21.8875")) == "21.8875 mL"
    assert display.volume_exact(Fraction(1, 3)) == "0.333333 mL"  # no exact decimal: 6 figures


# --- doses and numbers: 3 significant figures ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Fraction("0.0525"), "0.0525"),  # already 3 figures
        (Fraction("52.5"), "52.5"),
        (Fraction(1250), "1250"),
        (Fraction(1255), "1255"),  # whole units are never rounded away (not 1260)
        (Fraction("5.255"), "5.26"),  # half up
        (Fraction("5.775"), "5.78"),
        (Fraction("5.7749"), "5.77"),
        (Fraction(2, 3), "0.667"),
        (Fraction("99.95"), "100"),  # rounds up into a fourth whole digit
        (Fraction("0.000123456"), "0.000123"),  # no exponent notation
        (Fraction("-0.0525"), "-0.0525"),
        (Fraction(0), "0"),
    ],
)
def test_a_number_has_three_significant_figures(value: Fraction, shown: str) -> None:
    assert display.number(value) == shown


def test_a_dose_has_three_significant_figures_and_its_unit() -> None:
    assert display.dose(Quantity.of("5.25", "mg/day")) == "5.25 mg/day"
    assert display.dose(Quantity.of("0.0525", "mg")) == "0.0525 mg"
    assert display.dose(Quantity.of("52.5", "mcg/day")) == "52.5 mcg/day"
    assert display.dose(Quantity.of("1250", "mcg/day")) == "1250 mcg/day"
    # 0.28875 mL/day × 20 mg/mL = 5.775 mg/day → 5.78; in mcg/day 5775 (whole units in full)
    daily = Quantity.of("0.28875", "mL/day") * Quantity.of(20, "mg/mL")
    assert display.dose(daily, "mg/day") == "5.78 mg/day"
    assert display.dose(daily, unit("mcg/day")) == "5775 mcg/day"
    assert display.dose(Fraction("5.255"), "mg/day") == "5.26 mg/day"
    with pytest.raises(TypeError):
        display.dose(Fraction(5))  # a bare number needs its unit


def test_any_quantity_follows_its_kind() -> None:
    assert display.quantity(Quantity.of("4.49577", "mL")) == "4.5 mL"  # a volume: to 0.1 mL
    assert display.quantity(Quantity.of("0.0525", "mg")) == "0.0525 mg"  # anything else: 3 figures


# --- instants: the zone's wall clock and abbreviation -------------------------------------------------------------
def test_an_instant_in_standard_and_in_daylight_time() -> None:
    # 1 December: CST is UTC−6, so 20:05 UTC is 14:05 CST.
    assert display.instant(datetime(2026, 12, 1, 20, 5, tzinfo=UTC), CHICAGO) == "1 Dec 2026 14:05 CST"
    # 1 July: CDT is UTC−5, so 15:00 UTC is 10:00 CDT.
    assert display.instant(datetime(2027, 7, 1, 15, 0, tzinfo=UTC), CHICAGO) == "1 Jul 2027 10:00 CDT"
    assert display.instant(datetime(2027, 7, 1, 15, 0, tzinfo=UTC), "Europe/Berlin") == "1 Jul 2027 17:00 CEST"
    assert display.instant(datetime(2026, 12, 1, 20, 5), CHICAGO) == "1 Dec 2026 14:05 CST"  # naive: UTC
    assert display.instant(None, CHICAGO) == "—"


def test_instants_across_the_changes_of_daylight_saving_time() -> None:
    # Sunday 1 November 2026, 02:00 CDT → 01:00 CST: 01:30 happens twice, at 06:30 and at 07:30 UTC.
    assert display.instant(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), CHICAGO) == "1 Nov 2026 01:30 CDT"
    assert display.instant(datetime(2026, 11, 1, 7, 30, tzinfo=UTC), CHICAGO) == "1 Nov 2026 01:30 CST"
    # Sunday 14 March 2027, 02:00 CST → 03:00 CDT: 07:59 UTC is 01:59 CST, a minute later it is 03:00 CDT.
    assert display.instant(datetime(2027, 3, 14, 7, 59, tzinfo=UTC), CHICAGO) == "14 Mar 2027 01:59 CST"
    assert display.instant(datetime(2027, 3, 14, 8, 0, tzinfo=UTC), CHICAGO) == "14 Mar 2027 03:00 CDT"


def test_a_day_a_clock_and_an_expiry() -> None:
    # 21 November 2026 15:00 UTC is 09:00 CST, a Saturday.
    at = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert display.day(at, CHICAGO) == "Sat 21 Nov 2026"
    assert display.clock(at, CHICAGO) == "09:00 CST"
    assert display.sortable(at, CHICAGO) == "2026-11-21 09:00 CST"  # for a CSV export
    # Late evening in Chicago is the next day in UTC: the day is Chicago's (Tue 1 Dec, not Wed 2 Dec).
    assert display.day(datetime(2026, 12, 2, 4, 0, tzinfo=UTC), CHICAGO) == "Tue 1 Dec 2026"
    # An expiry kept as the midnight it ends at (1 Jan 2030 00:00 CST = 06:00 UTC) is good through 31 December.
    assert display.through(datetime(2030, 1, 1, 6, 0, tzinfo=UTC), CHICAGO) == "through Mon 31 Dec 2029"
    assert display.through(datetime(2030, 1, 1, 12, 0, tzinfo=UTC), CHICAGO) == "until 1 Jan 2030 06:00 CST"
    assert display.instant(at, "Not/AZone") == "21 Nov 2026 15:00 UTC"  # an unknown zone: said as UTC


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (240, "4 h 0 min"),
        (239, "3 h 59 min"),
        (45, "45 min"),
        (0, "0 min"),
        (-5, "0 min"),
        (timedelta(minutes=239, seconds=30), "4 h 0 min"),  # a wait is rounded up
        (Quantity.of("13.7974", "h"), "13 h 48 min"),  # 827.844 min, rounded up
    ],
)
def test_a_duration_in_hours_and_minutes(span: int | timedelta | Quantity, words: str) -> None:
    assert display.duration(span) == words


# --- fields and refusals in words ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("filled_ml", "the volume filled"),
        ("withdrawn_ml", "the volume withdrawn"),
        ("cosign_password", "the second person's password"),
        ("doses[0].dose", "dose 1"),
        ("doses[1]", "dose 2"),
        ("doses[0].observation_hours", "the observation time of dose 1"),
        ("doses[1].side_effects[0].intolerable", "whether side effect 1 of dose 2 was intolerable"),
        ("program.reservoir.filled_at", "the program's fill time"),
        ("program.steps[2].rate", "the rate of step 3 in the program"),
        ("document.program.steps[1].rate", "the rate of step 2 in the program"),
        ("document.pump.model", "the pump model in the program file"),
        ("drugs[0].concentration", "the concentration of drug 1"),
        ("solution.0.concentration", "the concentration of drug 1 of the solution"),  # a pydantic location
        ("solution[1].name", "drug 2 of the solution"),
        ("refill.drugs[1].name", "drug 2 in the refill"),
        ("records[3].nrs", "the pain score (NRS) of record 4"),
        ("phq9.4", "PHQ-9 answer 5"),
        ("indications[1]", "indication 2"),
        ("overrides.titration.soft-max", "the reason to override a finding"),
        ("--at", "--at"),  # a command-line option, as typed
    ],
)
def test_field_codes_in_words(code: str, words: str) -> None:
    assert display.field_words(code) == words


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("blood_group", "blood group"),
        ("foo_bar[2].baz", "foo bar 3 baz"),
        ("records[0].foo_bar", "records 1 foo bar"),
        ("x.y.0", "x y 1"),
    ],
)
def test_an_unknown_field_code_is_made_readable(code: str, words: str) -> None:
    assert display.field_words(code) == words


def test_a_refusal_in_one_line_of_words() -> None:
    exc = InputError("filled_ml", "more than was prepared and checked (15 mL)")
    assert str(exc) == "filled_ml: more than was prepared and checked (15 mL)"  # the core's own line keeps the code
    assert display.message(exc) == "The volume filled: more than was prepared and checked (15 mL)"
    assert display.message(InputError("doses[0].dose", "must be more\n  than zero")) == "Dose 1: must be more than zero"
    assert display.message(InputError("", "say why")) == "Say why"
    assert display.message(InputError("new_password", "too short"), {"new_password": "New password"}) == (
        "New password: too short"  # a page's own label wins
    )


# --- no raw field code in what people read ------------------------------------------------------------------------
CODE = re.compile(r"[a-z]+_[a-z_]+|\w+\[\d+\]|\w+\.\d+\.")  # filled_ml, doses[0], solution.0.


def _no_code(text: str, field: str) -> None:
    assert field not in text, (field, text)
    assert not CODE.search(text), (CODE.findall(text), text)


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    cheap_hasher(monkeypatch)
    yield


def test_no_api_refusal_names_a_field_by_its_code(clinic: Clinic) -> None:
    pid = implanted_patient(clinic, "D-1")
    clinic.advance(days=30)
    refused: list[tuple[Any, str]] = []

    def call(method: str, path: str, who: str, body: dict[str, Any], field: str) -> Any:
        r = clinic.call(method, path, who, json=body)
        assert (r.status_code, r.json().get("field")) == (422, field), r.text
        refused.append((r, field))
        return r

    call("POST", "/patients", "nora", {"mrn": "D-2"}, "family_name")  # the first missing field
    call("POST", f"/patients/{pid}/refills", "nora", prepare_body("40.5"), "volume_ml")
    call("POST", f"/patients/{pid}/refills", "nora", prepare_body(expires_at="2020-01-01T00:00:00+00:00"), "expires_at")
    rid = clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare_body()).json()["id"]
    assert clinic.call("POST", f"/patients/{pid}/refills/{rid}/check", "bo").status_code == 200
    complete = f"/patients/{pid}/refills/{rid}/complete"
    call("POST", complete, "nora", complete_body("50"), "withdrawn_ml")
    call("POST", complete, "nora", complete_body("20", pocket_ml="5"), "pocket_ml")
    bad_dose = {**TRIAL, "doses": [{**TRIAL["doses"][0], "nrs": 11}]}
    call("POST", f"/patients/{pid}/trials", "ada", bad_dose, "doses.0.nrs")
    document = clinic.call("GET", f"/patients/{pid}/programs/1", "ada").json()["document"]
    wrong = document.replace('rate = "0.60 mL/day"', 'rate = "0.60 mg"')
    assert wrong != document
    call("POST", f"/patients/{pid}/programs", "ada", {"document": wrong}, "document.program.steps[1].rate")
    for r, field in refused:
        _no_code(r.json()["detail"], field)
    assert refused[-1][0].json()["detail"].startswith("The rate of step 2 in the program: ")


def _error_boxes(html: str) -> list[str]:
    found = re.findall(r'id="([^"]*error[^"]*)"', html)
    return [text_by_id(html, i) for i in found if i != "page-error"]


def test_no_error_box_on_a_page_names_a_field_by_its_code(clinic: Clinic) -> None:
    pid = web_implanted_patient(clinic)
    clinic.advance(days=30)
    nora, ada = Browser(clinic, "nora"), Browser(clinic, "ada")
    pages: list[tuple[str, str]] = []

    r = nora.post(f"/patients/{pid}/refills", prepare_data(volume_ml="41"))
    pages.append((r.text, "volume_ml"))
    r = nora.post(f"/patients/{pid}/refills", prepare_data(cosign_username="phil", cosign_password=PASSWORD))
    url = r.headers["location"]
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "24.25", "filled_ml": "40", "pocket_ml": "5"})
    pages.append((r.text, "pocket_ml"))
    r = nora.post(f"{url}/complete", {"withdrawn_ml": "24.25", "filled_ml": "41"})
    pages.append((r.text, "filled_ml"))
    r = ada.post(f"/patients/{pid}/program/preview", program_data(**{"step-1-rate": "0.6 mg"}), htmx=True)
    pages.append((r.text, "program.steps[1].rate"))
    r = nora.post("/patients/new", {"family_name": "Roe", "care_area": "knees"})
    pages.append((r.text, "mrn"))
    for html, field in pages:
        boxes = _error_boxes(html)
        assert boxes, html[:3000]
        for box in boxes:
            _no_code(box, field)
