"""Crafted input, each found by an attacker (issue 11, "Bad input"): every one is now refused in one line naming the
field (CLI exit 2, API 422 on both databases), never a crash, and nothing that should be refused is stored.

One rule each (README, "Bad input"): TOML size and nesting bounded before parsing; instants 1970 to 2199
everywhere; text NFC with no control, zero-width or bidirectional character, bounded; the MRN canonical; time zones
from the tz database; a PATCH checked as a POST; birth dates not after today nor more than 130 years ago; numbers
in ASCII digits; booleans are not numbers; catheters 5 to 150 cm; volumes bounded.
"""

from __future__ import annotations

import json
import types
import typing
import unicodedata
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from openidds.api import schemas
from openidds.api.app import create_app  # noqa: F401  (loads every router, so every input model is walked)
from openidds.db.models import FollowUp, Interrogation, User
from openidds.errors import InputError
from openidds.quantities import VOLUME, parse_quantity
from openidds.tomlinput import MAX_DEPTH, PROGRAM_MAX_BYTES, read_toml, toml_depth
from openidds.validation import (
    Canonical,
    birth_date_problem,
    canonical_mrn,
    catheter_length_problem,
    instant_problem,
    normal_text,
)
from openidds.web.forms import whole_number
from tests.api_support import SCREENING, new_patient, patient_body
from tests.cli_helpers import NARROW, WIDE, assert_bad_input, example, run, write_variant
from tests.clinic_db import Clinic
from tests.web_support import Browser, fast_argon2, form_token, text_by_id

DEEP_ARRAY = "deep = " + "[" * 3000 + "]" * 3000 + "\n"
DEEP_TABLE = "deep = " + "{ a = " * 3000 + "1" + " }" * 3000 + "\n"


def _deep(text: str, nesting: str = DEEP_ARRAY) -> str:
    return nesting + text  # a top-level key before the first table


# --- TOML: size and nesting bounded before tomllib parses ----------------------------------------------------------
@pytest.mark.parametrize("nesting", [DEEP_ARRAY, DEEP_TABLE], ids=["arrays", "inline-tables"])
def test_cli_a_program_file_nested_3000_deep_is_one_line_exit_2(tmp_path: Path, nesting: str) -> None:
    path = tmp_path / "prog.toml"
    path.write_text(_deep(example("morphine-clonidine-flex.toml").read_text(), nesting), encoding="utf-8")
    assert_bad_input(run("check", path, "--json", env=NARROW), "prog.toml", "nested more than 20 deep")


def test_cli_a_scenario_nested_3000_deep_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(_deep(example("scenarios/morphine-flex-remote.toml").read_text()), encoding="utf-8")
    assert_bad_input(run("simulate", path, env=NARROW), "scenario.toml", "nested more than 20 deep")


def test_cli_a_drug_library_nested_3000_deep_is_one_line_exit_2(tmp_path: Path) -> None:
    library = tmp_path / "library.toml"
    library.write_text(DEEP_ARRAY, encoding="utf-8")
    result = run("--library", library, "check", example("morphine-clonidine-flex.toml"), env=NARROW)
    assert_bad_input(result, "library.toml", "nested more than 20 deep")


def test_the_nesting_scan_counts_brackets_outside_strings_and_comments_only() -> None:
    assert toml_depth("a = \"[[[[[[\"\nb = '{{{{'  # [[[[[[[[\nc = [[1], [2]]\n") == 2
    assert toml_depth('a = """\n[[[[[[\n"""\n[t]\nb = { c = [1] }\n') == 2
    assert toml_depth('a = "\\"[[[[["\n') == 0  # an escaped quote does not end the string
    nested = "x = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(InputError, match="nested more than 20 deep"):
        read_toml(nested, "program")
    # table headers nest without recursion in tomllib, but every reader after it walks the result
    with pytest.raises(InputError, match="keys nested more than 20 deep"):
        read_toml("[" + ".".join(["a"] * 40) + "]\nx = 1\n", "program")
    assert read_toml("x = " + "[" * MAX_DEPTH + "]" * MAX_DEPTH) == {"x": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}


def test_a_program_file_is_bounded_in_bytes_before_it_is_parsed() -> None:
    big = "# " + "x" * PROGRAM_MAX_BYTES + "\n"
    with pytest.raises(InputError) as refused:
        read_toml(big.encode(), "prog.toml")
    assert refused.value.field == "prog.toml"
    assert refused.value.message == "the file is 262,147 bytes: at most 262,144"


# --- instants: 1970 to 2199, one rule for the program file, the scenario and the API ---------------------------------
@pytest.mark.parametrize("when", ["9999-12-31T23:59", "0001-01-01T00:00", "1969-12-31T12:00"])
def test_cli_a_fill_outside_1970_to_2199_is_one_line_exit_2(tmp_path: Path, when: str) -> None:
    path = write_variant(tmp_path, [('filled_at = "2026-11-21T09:00"', f'filled_at = "{when}"')])
    assert_bad_input(run("check", path, "--json", env=NARROW), "reservoir.filled_at", "1970 to 2199")


def test_cli_a_scenario_ending_in_9999_is_one_line_exit_2(tmp_path: Path) -> None:
    text = example("scenarios/morphine-flex-remote.toml").read_text()
    end = next(line for line in text.splitlines() if line.startswith("end = "))
    path = tmp_path / "scenario.toml"
    path.write_text(text.replace(end, 'end = "9999-12-31T23:59"'), encoding="utf-8")
    assert_bad_input(run("simulate", path, env=NARROW), "simulation.end", "1970 to 2199")


def test_the_instant_rule_checks_the_year_as_written_and_in_utc() -> None:
    assert instant_problem(datetime(9999, 12, 31, 23, 59)) == "9999-12-31 is outside the years 1970 to 2199"
    late = datetime.fromisoformat("2199-12-31T23:00-05:00")  # 2200-01-01 04:00 in UTC
    assert instant_problem(late) == "2200-01-01 04:00 UTC is outside the years 1970 to 2199"
    assert instant_problem(datetime.fromisoformat("2199-12-31T23:00+00:00")) is None


# --- numbers: ASCII digits only --------------------------------------------------------------------------------------
@pytest.mark.parametrize("volume", ["４０ mL", "٤٠ mL", "4٠ mL"])
def test_cli_a_volume_in_other_digits_is_one_line_exit_2(tmp_path: Path, volume: str) -> None:
    path = write_variant(tmp_path, [('volume = "40 mL"', f'volume = "{volume}"')])
    assert_bad_input(run("check", path, "--json", env=NARROW), "reservoir.volume", "digits 0-9")


def test_the_quantity_parser_and_the_web_forms_read_only_ascii_digits() -> None:
    with pytest.raises(InputError, match="written in the digits 0-9"):
        parse_quantity("４０ mL", VOLUME, "volume")
    assert parse_quantity("40 mL", VOLUME).to("mL") == 40
    assert whole_number("٤") == "٤"  # left as text: the schema names the field
    assert whole_number("４０") == "４０"
    assert whole_number("7") == 7


# --- catheter length -------------------------------------------------------------------------------------------------
def test_cli_a_1e9_cm_catheter_is_one_line_exit_2(tmp_path: Path) -> None:
    path = write_variant(tmp_path, [('length = "60 cm"', 'length = "1e9 cm"')])
    assert_bad_input(run("check", path, "--json", env=NARROW), "pump.catheter.length", "5 to 150 cm")


def test_the_catheter_bound_is_5_to_150_cm() -> None:
    assert catheter_length_problem(Fraction(5)) is None
    assert catheter_length_problem(Fraction(150)) is None
    assert catheter_length_problem(Fraction(301, 2)) == "150.5 cm: a catheter is 5 to 150 cm long (OpenIDDS policy)"
    assert catheter_length_problem(Fraction(49, 10)) is not None


# --- MRN and birth date rules (pure) ---------------------------------------------------------------------------------
def test_an_mrn_has_one_canonical_form() -> None:
    for look_alike in (" a-1001", "A-1001\u200b", "\ufeffA-1001", "Ａ-１００１", "a-1001\n"):
        assert canonical_mrn(look_alike).value == "A-1001", look_alike
    for refused in ("A-10\u200b01", "A 1001", "A\n1001", "-A1001", "A_1001", ""):
        assert canonical_mrn(refused).value is None, refused
    assert canonical_mrn("A 1001").reason == "contains U+0020: only letters A-Z, digits 0-9 and '-'"


def test_a_birth_date_is_not_after_today_nor_more_than_130_years_ago() -> None:
    today = date(2026, 11, 21)
    assert birth_date_problem(date(2026, 11, 22), today) == "2026-11-22 is after today (2026-11-21)"
    assert birth_date_problem(date(1896, 11, 20), today) == "1896-11-20 is more than 130 years ago: check the year"
    assert birth_date_problem(date(1896, 11, 21), today) is None
    assert birth_date_problem(date(2026, 11, 21), today) is None


# --- every text field of every input model is one of a few bounded types ---------------------------------------------
def _input_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [schemas.In]
    while todo:
        model = todo.pop()
        found.append(model)
        todo.extend(model.__subclasses__())
    return found[1:]


ALLOWED_TEXT = {
    "Text": schemas.Text,
    "Name": schemas.Name,
    "Code": schemas.Code,
    "Mrn": schemas.Mrn,
    "Zone": schemas.Zone,
    "Document": schemas.Document,
    "Password": schemas.Password,
    "Username": schemas.Username,
    "DecimalText": schemas.DecimalText,
    "VolumeText": schemas.VolumeText,
    "CatheterCm": schemas.CatheterCm,
    "MmeText": schemas.MmeText,
    "ChartEntry": schemas.ChartEntry,
    "Hours": schemas.Hours,
    "Count": schemas.Count,
    "Phq9Item": schemas.Phq9Item,
    "OswestryItem": schemas.OswestryItem,
    "PersonName": schemas.PersonName,
    "Label": schemas.Label,
    "Level": schemas.Level,
    "Note": schemas.Note,
    "NewPassword": schemas.NewPassword,
}


def _loose(annotation: Any, where: str) -> list[str]:
    """Where a plain `str`, `int`, `bool` or `float` (or another Annotated str) stands in `annotation`."""
    if any(annotation == allowed for allowed in ALLOWED_TEXT.values()):
        return []
    if annotation in (str, int, bool, float):
        return [f"{where}: plain {annotation.__name__}"]
    origin = get_origin(annotation)
    if origin is Literal:
        return []
    if origin is Annotated:
        base, *meta = get_args(annotation)
        if base is str and "password" in where and any("max_length" in repr(m) for m in meta):
            return []  # a secret is compared as typed, never normalised: bounded is all it needs
        if base is str:
            return [f"{where}: an Annotated str that is none of {', '.join(ALLOWED_TEXT)}"]
        if base in (int, bool, float):
            return [] if any(repr(m) == "Strict(strict=True)" for m in meta) else [f"{where}: a lax {base.__name__}"]
        return _loose(base, where)
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        return [p for arg in get_args(annotation) if arg is not type(None) for p in _loose(arg, where)]
    return []


def test_every_input_models_text_is_a_bounded_annotated_type_and_no_number_is_lax() -> None:
    assert _loose(str, "a") == ["a: plain str"]  # the walk itself finds what it looks for
    assert _loose(list[Annotated[str, "bounded?"]] | None, "b") != []
    assert _loose(dict[schemas.Code, int], "c") == ["c: plain int"]
    assert _loose(schemas.Count | None, "d") == []
    models = _input_models()
    assert {"NewPatient", "PatientChanges", "ImplantIn", "FollowUpIn", "InterrogationIn"} <= {
        m.__name__ for m in models
    }
    loose = []
    for model in models:
        hints = typing.get_type_hints(model, include_extras=True)
        for name in model.model_fields:
            loose += _loose(hints[name], f"{model.__name__}.{name}")
    assert loose == []


def test_no_field_repeats_a_bound_its_type_already_sets() -> None:
    # pydantic applies the type's own bound last: `family_name: Name = Field(max_length=100)` would allow 200
    # characters into a 100-character column (a 500 on PostgreSQL)
    repeated = []
    for model in _input_models():
        for name, field in model.model_fields.items():
            kinds = [type(m).__name__ for m in field.metadata if type(m).__name__ in ("MaxLen", "MinLen")]
            if len(kinds) != len(set(kinds)):
                repeated.append(f"{model.__name__}.{name}: {kinds}")
    assert repeated == []


def test_every_list_and_text_of_the_input_models_has_a_bound_in_the_schema() -> None:
    unbounded = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            fixed = "enum" in node or "const" in node or node.get("format") in ("date", "date-time")
            if kind == "string" and "maxLength" not in node and not fixed:
                unbounded.append(where)
            if kind == "array" and "maxItems" not in node:
                unbounded.append(where)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    for model in _input_models():
        walk(model.model_json_schema(), model.__name__)
    assert unbounded == []


# --- the API, on both databases --------------------------------------------------------------------------------------
def _refused(r: Any, field: str, *words: str) -> None:
    assert r.status_code == 422, r.text[:600]
    body = r.json()
    assert body["field"] == field, body
    for w in words:
        assert w in body["message"], body


def test_api_a_program_nested_3000_deep_or_filled_in_9999_is_422_naming_it(clinic: Clinic) -> None:
    pid = new_patient(clinic, "P-0001")
    flex = example("morphine-clonidine-flex.toml").read_text()
    implant: dict[str, Any] = {
        "pump_model": "programmable-40",
        "pump_serial": "SN-1",
        "catheter_model": "intrathecal-one-piece",
        "catheter_length_cm": "60",
        "tip_level": "T10",
        "implanted_at": "2026-11-21T08:00:00-06:00",
        "surgeon": "Dr Ada",
    }
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json={**implant, "program": _deep(flex)})
    _refused(r, "program", "nested more than 20 deep")
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json={**implant, "program": _deep(flex, DEEP_TABLE)})
    _refused(r, "program", "nested more than 20 deep")
    filled = flex.replace('filled_at = "2026-11-21T09:00"', 'filled_at = "9999-12-31T23:59"')
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json={**implant, "program": filled})
    _refused(r, "program.reservoir.filled_at", "1970 to 2199")
    r = clinic.call("POST", f"/patients/{pid}/implants", "ada", json={**implant, "catheter_length_cm": "1000000000"})
    _refused(r, "catheter_length_cm", "5 to 150 cm")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("family_name", "Doe\x00"),
        ("given_name", "Ja\u202ene"),  # a right-to-left override
        ("family_name", "Do\u200be"),  # a zero-width space
        ("family_name", "Doe\nSmith"),
        ("allergies", ["penicillin\x00"]),
        ("care_area", "pain-noncancer\x00"),
        ("indications", ["failed-back-surgery-syndrome\x00"]),
    ],
    ids=["nul", "bidi", "zero-width", "newline", "nul-in-list", "nul-in-code", "nul-in-indication"],
)
def test_api_a_control_or_invisible_character_in_a_text_field_is_422(clinic: Clinic, field: str, value: Any) -> None:
    r = clinic.call("POST", "/patients", "nora", json=patient_body("T-0001", **{field: value}))
    assert r.status_code == 422, r.text[:600]
    assert r.json()["field"].startswith(field)
    assert clinic.call("GET", "/patients", "nora", params={"q": "T-0001"}).json() == []


def test_api_a_name_is_held_to_its_column(clinic: Clinic) -> None:
    r = clinic.call("POST", "/patients", "nora", json=patient_body("T-0003", family_name="x" * 101))
    _refused(r, "family_name", "at most 100 characters")


def test_api_text_is_stored_nfc_and_trimmed(clinic: Clinic) -> None:
    r = clinic.call("POST", "/patients", "nora", json=patient_body("T-0002", family_name="  Mu\u0308ller "))
    assert r.status_code == 201, r.text
    assert r.json()["family_name"] == "M\u00fcller"


def test_api_an_mrn_is_stored_canonical_and_look_alikes_collide(clinic: Clinic) -> None:
    r = clinic.call("POST", "/patients", "nora", json=patient_body(" a-1001 "))
    assert r.status_code == 201, r.text
    assert r.json()["mrn"] == "A-1001"
    for look_alike in ("A-1001", "a-1001", "A-1001\u200b", "Ａ-１００１"):
        r = clinic.call("POST", "/patients", "nora", json=patient_body(look_alike))
        assert r.status_code == 409, (look_alike, r.text)
    for refused in ("A-10\u200b01", "A 1001", "A-1001\nB", "A/1001"):
        _refused(clinic.call("POST", "/patients", "nora", json=patient_body(refused)), "mrn")
    found = clinic.call("GET", "/patients", "nora", params={"q": "a-1001"}).json()
    assert [p["mrn"] for p in found] == ["A-1001"]


def test_api_an_unknown_time_zone_is_422_on_post_and_patch(clinic: Clinic) -> None:
    _refused(
        clinic.call("POST", "/patients", "nora", json=patient_body("Z-1", timezone="Mars/Olympus_Mons")),
        "timezone",
        "unknown time zone",
    )
    pid = new_patient(clinic, "Z-2")
    r = clinic.call("PATCH", f"/patients/{pid}", "nora", json={"version": 1, "timezone": "America/Chicgo"})
    _refused(r, "timezone", "did you mean 'America/Chicago'?")


def test_api_a_patch_is_checked_as_a_post(clinic: Clinic) -> None:
    pid = new_patient(clinic, "W-1")
    patch = {"version": 1}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"indications": ["not-a-condition"]}, "indications[0]"),
        ({"care_area": "moon"}, "care_area"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"family_name": None}, "family_name"),
        ({"allergies": None}, "allergies"),
        ({"family_name": "Doe\x00"}, "family_name"),
        ({"psychosis_history": 1}, "psychosis_history"),
    ]
    for change, field in cases:
        _refused(clinic.call("PATCH", f"/patients/{pid}", "nora", json={**patch, **change}), field)
    r = clinic.call("PATCH", f"/patients/{pid}", "nora", json={**patch, "care_area": "pain-cancer"})
    assert r.status_code == 200, r.text
    assert (r.json()["care_area"], r.json()["version"], r.json()["family_name"]) == ("pain-cancer", 2, "Doe-W-1")


@pytest.mark.parametrize(
    ("born", "words"),
    [("2999-01-01", "after today"), ("2026-11-22", "after today"), ("0001-01-01", "130 years"), ("1896-11-20", "130")],
)
def test_api_a_birth_date_after_today_or_130_years_ago_is_422(clinic: Clinic, born: str, words: str) -> None:
    _refused(clinic.call("POST", "/patients", "nora", json=patient_body("B-1", birth_date=born)), "birth_date", words)


def test_api_the_oldest_birth_date_and_today_are_accepted(clinic: Clinic) -> None:
    for mrn, born in (("B-2", "1896-11-21"), ("B-3", "2026-11-21")):  # the clinic's today: 2026-11-21 in Chicago
        r = clinic.call("POST", "/patients", "nora", json=patient_body(mrn, birth_date=born))
        assert r.status_code == 201, r.text


def test_api_lists_and_texts_are_bounded(clinic: Clinic) -> None:
    many = ["failed-back-surgery-syndrome"] * 25_000  # under the 1 MiB body limit
    _refused(clinic.call("POST", "/patients", "nora", json=patient_body("L-1", indications=many)), "indications")
    pid = new_patient(clinic, "L-2")
    evaluation = {"indication": "failed-back-surgery-syndrome", "planned_drugs": ["morphine"]}
    r = clinic.call(
        "POST", f"/patients/{pid}/evaluations", "nora", json={**evaluation, "time_since_onset": "x" * 500_000}
    )
    _refused(r, "time_since_onset", "at most 80 characters")
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"reservoir_ml": "1" + "0" * 39})
    _refused(r, "reservoir_ml", "at most 1000 mL")


def test_api_booleans_are_not_numbers_nor_numbers_booleans(clinic: Clinic) -> None:
    pid = new_patient(clinic, "N-1")
    _refused(clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json={"nrs": True}), "nrs")
    _refused(
        clinic.call("POST", "/patients", "nora", json=patient_body("N-2", life_expectancy_months=True)),
        "life_expectancy_months",
    )
    _refused(
        clinic.call("POST", "/patients", "nora", json=patient_body("N-3", psychosis_history=1)), "psychosis_history"
    )
    evaluation = {"indication": "failed-back-surgery-syndrome", "planned_drugs": ["morphine"], "active_infection": 0}
    _refused(clinic.call("POST", f"/patients/{pid}/evaluations", "nora", json=evaluation), "active_infection")


def test_api_a_trial_dose_in_other_digits_is_422_naming_it(clinic: Clinic) -> None:
    pid = new_patient(clinic, "D-1", care_area="spasticity-spinal", indications=["spinal-cord-injury-spasticity"])
    screening = {**SCREENING, "doses": [{**SCREENING["doses"][0], "dose": "１００ mcg"}]}
    _refused(clinic.call("POST", f"/patients/{pid}/trials", "nora", json=screening), "doses[0].dose", "digits 0-9")
    screening = {**SCREENING, "doses": [{**SCREENING["doses"][0], "observation_hours": "٦"}]}
    _refused(clinic.call("POST", f"/patients/{pid}/trials", "nora", json=screening), "doses.0.observation_hours")


def test_a_fingerprint_takes_any_json_validation_lets_through() -> None:
    from openidds.service.idempotency import fingerprint

    huge = fingerprint("POST", "/api/v1/x", {"n": 2**70})
    assert len(huge) == 64 and huge != fingerprint("POST", "/api/v1/x", {"n": 2**70 + 1})
    assert fingerprint("post", "/p", {"b": 1, "a": 2}) == fingerprint("POST", "/p", {"a": 2, "b": 1})


# --- second round (issue 11, the tester's findings 1-6) --------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["\u3164", "\u2800", "\uffa0", "\u0301", "Do\u034fe", "Do\ufe0fe", "Do\u2028e", "Do\u2029e", "Doe \u0301"],
    ids=["hangul-filler", "braille-blank", "halfwidth-filler", "lone-mark", "cgj", "variation", "line-sep",
         "para-sep", "mark-on-space"],
)  # fmt: skip
def test_the_text_rule_refuses_what_shows_nothing_or_breaks_a_line(text: str) -> None:
    for multiline in (False, True):
        with pytest.raises(ValueError, match="U\\+"):
            normal_text(text, multiline=multiline)


def test_the_text_rule_keeps_real_names() -> None:
    for name in ("José", "Jose\u0301", "Nguyễn Thị Minh", "می\u200cخواهم", "李小龍", "محمد", "O’Brien", "Łukasz"):
        assert normal_text(name) == unicodedata.normalize("NFC", name), name
    assert normal_text("first line\nsecond", multiline=True) == "first line\nsecond"


def test_an_mrn_with_a_doubled_hyphen_is_refused_not_folded() -> None:
    assert canonical_mrn("ZZ--00223") == Canonical(
        None, "contains '--': only letters A-Z, digits 0-9 and '-', one hyphen at a time"
    )
    assert canonical_mrn("zz-00223").value == "ZZ-00223"
    assert canonical_mrn("A-B-1").value == "A-B-1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("family_name", "\u3164"),
        ("given_name", "\u2800"),
        ("family_name", "\u0301"),
        ("family_name", "Do\u034fe"),
        ("family_name", "Do\ufe0fe"),
        ("family_name", "Do\u2028e"),
        ("allergies", ["\uffa0"]),
        ("anticoagulants", ["war\u2029farin"]),
    ],
    ids=["hangul-filler", "braille", "lone-mark", "cgj", "variation", "line-sep", "filler-in-list", "para-sep-list"],
)
def test_api_invisible_or_look_alike_text_is_422(clinic: Clinic, field: str, value: Any) -> None:
    r = clinic.call("POST", "/patients", "nora", json=patient_body("V-0001", **{field: value}))
    assert r.status_code == 422, r.text[:600]
    assert r.json()["field"].startswith(field)
    assert clinic.call("GET", "/patients", "nora", params={"q": "V-0001"}).json() == []


def test_api_an_mrn_with_a_doubled_hyphen_is_422_and_a_duplicate_names_the_mrn(clinic: Clinic) -> None:
    new_patient(clinic, "ZZ-00223")
    _refused(clinic.call("POST", "/patients", "nora", json=patient_body("ZZ--00223")), "mrn", "one hyphen at a time")
    r = clinic.call("POST", "/patients", "nora", json=patient_body("zz-00223"))
    assert (r.status_code, r.json()["field"]) == (409, "mrn")
    assert r.json()["message"] == "a patient with MRN ZZ-00223 already exists"


@pytest.mark.parametrize(
    "born", [0, "1960-02-03T00:00:00", "19600203", -1000, "1960-2-3", "٢٠٠٠-01-01"], ids=str
)  # fmt: skip
def test_api_a_birth_date_is_yyyy_mm_dd_text_only(clinic: Clinic, born: Any) -> None:
    _refused(
        clinic.call("POST", "/patients", "nora", json=patient_body("Y-1", birth_date=born)),
        "birth_date",
        "expected a date written YYYY-MM-DD",
    )
    pid = new_patient(clinic, "Y-2")
    _refused(clinic.call("PATCH", f"/patients/{pid}", "nora", json={"version": 1, "birth_date": born}), "birth_date")


def _raw_json(clinic: Clinic, path: str, body: str) -> Any:
    headers = {**clinic.as_("nora"), "Content-Type": "application/json"}
    return clinic.client.post("/api/v1" + path, content=body, headers=headers)


@pytest.mark.parametrize("months", ["40.0", "1e2", "100.0", '"1e2"', '"40.0"', '" 40"'])
def test_api_a_whole_number_is_no_float_nor_exponent(clinic: Clinic, months: str) -> None:
    body = json.dumps(patient_body("Y-3")).removesuffix("}") + f', "life_expectancy_months": {months}}}'
    _refused(
        _raw_json(clinic, "/patients", body), "life_expectancy_months", "expected a whole number in the digits 0-9"
    )


def test_api_whole_numbers_as_json_integers_or_digit_text_still_read(clinic: Clinic) -> None:
    r = clinic.call("POST", "/patients", "nora", json=patient_body("Y-4", life_expectancy_months="40"))
    assert (r.status_code, r.json().get("life_expectancy_months")) == (201, 40), r.text
    pid = r.json()["id"]
    r = clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json={"nrs": 3})
    assert r.status_code == 201, r.text


def test_api_an_oral_mme_is_at_most_100000_mg_a_day(clinic: Clinic) -> None:
    r = clinic.call("POST", "/patients", "nora", json=patient_body("M-1", oral_mme_per_day="9" * 40))
    _refused(r, "oral_mme_per_day", "at most 100000 mg/day")
    r = clinic.call("POST", "/patients", "nora", json=patient_body("M-2", oral_mme_per_day="100000"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "expires", [1700000000, "1700000000", "2027-03-31", "2027-03-31T00:00:00", "2027-03-31 00:00:00+00:00"], ids=str
)
def test_api_an_instant_is_iso_8601_text_with_its_offset(clinic: Clinic, expires: Any) -> None:
    pid = new_patient(clinic, "E-1")
    prepare = {
        "solution": [{"name": "morphine", "concentration": "10 mg/mL"}],
        "drug_lot": "LOT-1",
        "expires_at": expires,
        "volume_ml": "20",
    }
    _refused(clinic.call("POST", f"/patients/{pid}/refills", "nora", json=prepare), "expires_at", "with its offset")


def test_api_an_empty_follow_up_or_interrogation_records_nothing(clinic: Clinic) -> None:
    pid = new_patient(clinic, "F-1")
    r = clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json={})
    assert r.status_code == 422, r.text
    assert r.json()["field"] is None
    assert r.json()["message"] == (
        "Nothing to record: give a pain score (nrs), the Oswestry or PHQ-9 answers, an Ashworth or Penn spasm score, "
        "or an adverse event"
    )
    r = clinic.call("POST", f"/patients/{pid}/follow-ups", "nora", json={"baseline_nrs": 8})
    assert r.status_code == 422, r.text
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={})
    assert (r.status_code, r.json()["field"]) == (422, None), r.text
    assert r.json()["message"] == (
        "Nothing was read: give the reservoir volume (reservoir_ml), the alarms, eri or the drugs reported"
    )
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"alarms": [], "eri": False})
    assert r.status_code == 422, r.text
    r = clinic.call("POST", f"/patients/{pid}/interrogations", "nora", json={"eri": True})
    assert r.status_code == 201, r.text
    with clinic.sessions() as s:
        assert s.scalar(select(func.count()).select_from(FollowUp)) == 0
        assert s.scalar(select(func.count()).select_from(Interrogation)) == 1


def test_api_a_422_lists_the_first_20_problems_and_counts_the_rest(clinic: Clinic) -> None:
    body = {f"k{i}": 0 for i in range(50_000)}  # and the 6 required fields missing: 50,006 problems
    r = clinic.call("POST", "/patients", "nora", json=body)
    assert r.status_code == 422
    assert len(r.content) < 10_000
    found = r.json()
    assert len(found["errors"]) == 20
    assert found["message"].endswith("(and 49,986 more problems: the first 20 are listed)"), found["message"]


def test_api_a_body_nested_too_deeply_is_422_naming_the_body(clinic: Clinic) -> None:
    deep = "[" * 5000 + "]" * 5000
    _refused(_raw_json(clinic, "/patients", deep), "body", "nested too deeply")


# --- the web's add-user form and `idds user add` hold a user's name to the API's rule --------------------------------
@pytest.mark.parametrize(
    ("full_name", "code"),
    [("Eve \u202egnp.exe\x01", "U+202E"), ("Nul\x00Name", "U+0000"), ("\u3164", "U+3164")],
    ids=["bidi", "nul", "filler"],
)
def test_web_add_user_refuses_the_text_the_api_refuses(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch, full_name: str, code: str
) -> None:
    fast_argon2(monkeypatch)
    root = Browser(clinic, "root")
    page = root.get("/admin/users")
    form = {"username": "eve", "full_name": full_name, "role": "nurse", "password": "eve's first pw"}
    r = root.post("/admin/users", {**form, "form_token": form_token(page.text, "add-user")})
    assert r.status_code == 422, r.text[:600]
    assert code in text_by_id(r.text, "form-error-message")
    r = clinic.call("POST", "/users", "root", json={**form, "username": "eve2"})
    _refused(r, "full_name", code)
    with clinic.sessions() as s:
        assert s.scalar(select(User.id).where(User.username.in_(["eve", "eve2"]))) is None


def test_api_a_duplicate_username_names_the_username(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_argon2(monkeypatch)
    r = clinic.call(
        "POST", "/users", "root", json={"username": "nora", "full_name": "N", "role": "nurse", "password": "x" * 12}
    )
    assert (r.status_code, r.json()["field"], r.json()["message"]) == (409, "username", "user nora already exists")


def test_cli_user_add_refuses_a_trailing_newline_and_an_invisible_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    env: dict[str, str | None] = {**WIDE, "IDDS_PASSWORD": "a sound pass phrase"}
    result = run("user", "add", "bob.x\n", "--role", "nurse", "--name", "Bob", "--database", url, env=env)
    assert_bad_input(result, "USERNAME", "lower-case letters")
    result = run("user", "add", "bob.x", "--role", "nurse", "--name", "Bob \u202eevil\x01", "--database", url, env=env)
    assert_bad_input(result, "--name", "U+202E")
    result = run("user", "add", "bob.x", "--role", "nurse", "--name", "Bob\u2028Smith", "--database", url, env=env)
    assert_bad_input(result, "--name", "U+2028")
    result = run("user", "add", "bob.x", "--role", "nurse", "--name", "  Bob Smith ", "--database", url, env=env)
    assert result.exit_code == 0, result.stderr
    assert "Added nurse bob.x (user 1)" in result.stdout
