"""Bad input: exit 2, exactly ONE stderr line naming the field, empty stdout, never a traceback.

Each program-file case is a modified copy of examples/morphine-clonidine-flex.toml written into tmp_path. The runs
use a 40-column terminal ($COLUMNS) on purpose: the error line must not be wrapped, whatever the width.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from typer.testing import Result

from tests.cli_helpers import (
    BRIDGE_SWAP,
    DATA,
    NARROW,
    assert_bad_input,
    assert_no_crash,
    crashed,
    error_line,
    example,
    run,
    write_variant,
)

FLEX = "morphine-clonidine-flex.toml"


def check(path: Path, *more: str) -> Result:
    return run("check", path, "--json", *more, env=NARROW)


# --------------------------------------------------------------------------------------------------------------
# Program files: (id, replacements in the flex example, field the error must name, other text it must mention)
# --------------------------------------------------------------------------------------------------------------
STEP0 = '{ at = "00:00", rate = "0.40 mL/day" }'
STEP1 = '{ at = "07:00", rate = "0.60 mL/day" }'
STEP2 = '{ at = "22:00", rate = "0.40 mL/day" }'

PROGRAM_CASES: list[tuple[str, list[tuple[str, str]], str, tuple[str, ...]]] = [
    ("malformed-toml", [("[pump]", "[pump")], "prog.toml", ("TOML",)),
    ("malformed-toml-unclosed-string", [('volume = "40 mL"', 'volume = "40 mL')], "prog.toml", ("TOML",)),
    ("unknown-drug", [('name = "morphine"', 'name = "morfine"')], "drugs[0].name", ("morfine",)),
    ("unknown-second-drug", [('name = "clonidine"', 'name = "clonodine"')], "drugs[1].name", ("clonodine",)),
    ("drug-listed-twice", [('name = "clonidine"', 'name = "morphine"')], "drugs[1].name", ()),
    ("unknown-pump", [('model = "programmable-40"', 'model = "programmable-99"')], "pump.model", ("programmable-99",)),
    (
        "unknown-catheter",
        [('model = "intrathecal-one-piece"', 'model = "intrathecal-nine-piece"')],
        "pump.catheter.model",
        ("intrathecal-nine-piece",),
    ),
    (
        "dose-rate-as-step-rate",
        [(STEP0, '{ at = "00:00", rate = "5 mg/day" }')],
        "program.steps[0].rate",
        ("5 mg/day",),
    ),
    ("dose-rate-as-second-step-rate", [(STEP1, '{ at = "07:00", rate = "5 mg/day" }')], "program.steps[1].rate", ()),
    (
        "mass-as-concentration",
        [('concentration = "10 mg/mL"', 'concentration = "10 mg"')],
        "drugs[0].concentration",
        ("10 mg",),
    ),
    ("bare-number-volume", [('volume = "40 mL"', "volume = 40")], "reservoir.volume", ("unit",)),
    ("bare-number-string-volume", [('volume = "40 mL"', 'volume = "40"')], "reservoir.volume", ("unit",)),
    ("bare-number-rate", [(STEP0, '{ at = "00:00", rate = "0.4" }')], "program.steps[0].rate", ()),
    ("unknown-unit", [('volume = "40 mL"', 'volume = "40 floz"')], "reservoir.volume", ("floz",)),
    ("zero-fill-volume", [('volume = "40 mL"', 'volume = "0 mL"')], "reservoir.volume", ()),
    ("negative-fill-volume", [('volume = "40 mL"', 'volume = "-5 mL"')], "reservoir.volume", ()),
    ("fill-above-capacity", [('volume = "40 mL"', 'volume = "41 mL"')], "reservoir.volume", ("41 mL", "40 mL")),
    ("zero-concentration", [('concentration = "10 mg/mL"', 'concentration = "0 mg/mL"')], "drugs[0].concentration", ()),
    (
        "negative-concentration",
        [('concentration = "100 mcg/mL"', 'concentration = "-100 mcg/mL"')],
        "drugs[1].concentration",
        (),
    ),
    ("unsorted-steps", [(STEP1, '{ at = "23:00", rate = "0.60 mL/day" }')], "program.steps[2].at", ()),
    ("duplicate-steps", [(STEP1, '{ at = "00:00", rate = "0.60 mL/day" }')], "program.steps[1].at", ()),
    ("bad-time-of-day", [(STEP1, '{ at = "25:00", rate = "0.60 mL/day" }')], "program.steps[1].at", ("25:00",)),
    (
        "step-with-rate-and-dose",
        [(STEP1, '{ at = "07:00", rate = "0.60 mL/day", dose = "6 mg/day" }')],
        "program.steps[1]",
        (),
    ),
    ("step-with-neither-rate-nor-dose", [(STEP1, '{ at = "07:00" }')], "program.steps[1]", ()),
    ("negative-step-rate", [(STEP2, '{ at = "22:00", rate = "-0.40 mL/day" }')], "program.steps[2].rate", ()),
    ("unknown-mode", [('mode = "flex"', 'mode = "flexible"')], "program.mode", ("flexible",)),
    (
        "fill-in-the-dst-gap",
        [('filled_at = "2026-11-21T09:00"', 'filled_at = "2027-03-14T02:30"')],
        "reservoir.filled_at",
        ("2027-03-14",),
    ),
    (
        "ambiguous-fall-back-fill",
        [('filled_at = "2026-11-21T09:00"', 'filled_at = "2026-11-01T01:30"')],
        "reservoir.filled_at",
        ("2026-11-01",),
    ),
    ("garbage-fill-time", [('filled_at = "2026-11-21T09:00"', 'filled_at = "yesterday"')], "reservoir.filled_at", ()),
    (
        "unknown-time-zone",
        [('timezone = "America/Chicago"', 'timezone = "America/Chicagoo"')],
        "reservoir.timezone",
        (),
    ),
    ("unknown-key", [('low_alarm = "2 mL"', 'low_alarm = "2 mL"\ncolour = "blue"')], "reservoir.colour", ()),
    ("low-alarm-above-capacity", [('low_alarm = "2 mL"', 'low_alarm = "50 mL"')], "reservoir.low_alarm", ()),
    ("negative-low-alarm", [('low_alarm = "2 mL"', 'low_alarm = "-2 mL"')], "reservoir.low_alarm", ()),
    ("patient-bolus-max-per-day-zero", [("max_per_day = 3", "max_per_day = 0")], "patient_bolus.max_per_day", ()),
    ("patient-bolus-max-per-day-text", [("max_per_day = 3", 'max_per_day = "3"')], "patient_bolus.max_per_day", ()),
    ("patient-bolus-zero-duration", [('duration = "10 min"', 'duration = "0 min"')], "patient_bolus.duration", ()),
    ("opioid-without-opioid-naive", [("opioid_naive = false\n", "")], "context.opioid_naive", ()),
    ("unknown-care-area", [('care_area = "pain-noncancer"', 'care_area = "pain-dental"')], "context.care_area", ()),
]


@pytest.mark.parametrize(
    ("replacements", "field", "also"), [c[1:] for c in PROGRAM_CASES], ids=[c[0] for c in PROGRAM_CASES]
)
def test_bad_program_file(
    tmp_path: Path, replacements: list[tuple[str, str]], field: str, also: tuple[str, ...]
) -> None:
    path = write_variant(tmp_path, replacements)
    line = assert_bad_input(check(path), field, *also)
    assert "prog.toml" in line  # the file is named too


def test_missing_context_section_entirely(tmp_path: Path) -> None:
    text = example(FLEX).read_text(encoding="utf-8")
    path = tmp_path / "prog.toml"
    path.write_text(text.split("[context]")[0], encoding="utf-8")
    assert_bad_input(check(path), "context")


def test_ziconotide_without_psychosis_history(tmp_path: Path) -> None:
    path = write_variant(tmp_path, [("psychosis_history = false", "")], base="ziconotide-first-fill.toml")
    assert_bad_input(run("check", "--starting", path, "--json", env=NARROW), "context.psychosis_history")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "prog.toml"
    path.write_text("", encoding="utf-8")
    assert_bad_input(check(path), "prog.toml")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "prog.toml"
    path.write_bytes(b"\xff\xfe[pump]\x00\x81")
    assert_bad_input(check(path), "prog.toml", "UTF-8")


def test_typo_in_a_key_is_named(tmp_path: Path) -> None:
    path = write_variant(tmp_path, [('volume = "40 mL"', 'volumne = "40 mL"')])
    assert_bad_input(check(path), "reservoir.volumne")


def test_typo_in_a_key_still_exits_2_naming_the_section(tmp_path: Path) -> None:
    # Whatever the wording, the typo is bad input in [reservoir].
    path = write_variant(tmp_path, [('volume = "40 mL"', 'volumne = "40 mL"')])
    assert_bad_input(check(path), "reservoir.")


# The issue's own example of the error line: `error: prog.toml: program.steps[1].rate: expected ...`.
def test_error_line_matches_the_issue_example_exactly(tmp_path: Path) -> None:
    path = write_variant(tmp_path, [(STEP1, '{ at = "07:00", rate = "5 mg/day" }')])
    line = error_line(check(path))
    assert line == (
        f"error: {path}: program.steps[1].rate: expected a rate such as '0.5 mL/day', got '5 mg/day' (a dose rate)"
    )


@pytest.mark.parametrize(
    ("replacements", "field"),
    [
        pytest.param([(STEP1, '{ at = "07:00", rate = "5 mg/day" }')], "program.steps[1].rate", id="schema-error"),
        pytest.param([('volume = "40 mL"', "volume = 40")], "reservoir.volume", id="bare-number"),
        pytest.param([('name = "morphine"', 'name = "morfine"')], "drugs[0].name", id="unknown-drug"),
        pytest.param([('volume = "40 mL"', 'volume = "41 mL"')], "reservoir.volume", id="over-capacity"),
        pytest.param(
            [('filled_at = "2026-11-21T09:00"', 'filled_at = "2027-03-14T02:30"')],
            "reservoir.filled_at",
            id="dst-gap",
        ),
    ],
)
def test_error_line_separates_file_and_field(tmp_path: Path, replacements: list[tuple[str, str]], field: str) -> None:
    path = write_variant(tmp_path, replacements)
    line = error_line(check(path))
    assert line.startswith(f"error: {path}: {field}: "), line


# --------------------------------------------------------------------------------------------------------------
# Values the parser accepts but the core then chokes on: must never be a traceback.
# --------------------------------------------------------------------------------------------------------------
def assert_handled(result: Result, allowed: set[int]) -> None:
    assert_no_crash(result)
    assert result.exit_code in allowed, (result.exit_code, result.stderr)
    if result.exit_code == 2:
        error_line(result)


def test_tiny_rates_do_not_crash(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path,
        [
            (STEP0, '{ at = "00:00", rate = "1e-30 mL/day" }'),
            (STEP1, '{ at = "07:00", rate = "1e-30 mL/day" }'),
            (STEP2, '{ at = "22:00", rate = "1e-30 mL/day" }'),
        ],
    )
    assert_handled(check(path, "--at", "2026-11-21T09:00"), {1, 2})


def test_huge_rate_does_not_crash(tmp_path: Path) -> None:
    path = write_variant(tmp_path, [(STEP1, '{ at = "07:00", rate = "1e30 mL/day" }')])
    assert_handled(check(path, "--at", "2026-11-21T09:00"), {1, 2})


def test_astronomical_fill_volume_is_bad_input(tmp_path: Path) -> None:
    path = write_variant(tmp_path, [('volume = "40 mL"', 'volume = "1e5000 mL"')])
    assert_bad_input(check(path), "reservoir.volume")


def test_fill_at_the_end_of_the_calendar_does_not_crash(tmp_path: Path) -> None:
    path = write_variant(tmp_path, [('filled_at = "2026-11-21T09:00"', 'filled_at = "9999-12-01T09:00"')])
    assert_handled(check(path), {0, 1, 2})


# --------------------------------------------------------------------------------------------------------------
# Command-line arguments
# --------------------------------------------------------------------------------------------------------------
def test_nonexistent_program_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-program.toml"
    assert_bad_input(check(missing), "PROGRAM", "no-such-program.toml")


def test_program_path_is_a_directory(tmp_path: Path) -> None:
    assert_bad_input(check(tmp_path), "PROGRAM")


def test_nonexistent_current_program(tmp_path: Path) -> None:
    result = run("check", example(FLEX), "--current", tmp_path / "old.toml", "--json", env=NARROW)
    assert_bad_input(result, "--current", "old.toml")


def test_bad_current_program_names_its_file(tmp_path: Path) -> None:
    old = write_variant(tmp_path, [('name = "morphine"', 'name = "morfine"')], name="old.toml")
    result = run("check", example(FLEX), "--current", old, "--json", env=NARROW)
    assert_bad_input(result, "drugs[0].name", "old.toml")


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T09:00", "21/11/2026 09:00", ""])
def test_bad_at_value(value: str) -> None:
    assert_bad_input(run("check", example(FLEX), "--at", value, "--json", env=NARROW), "--at")


def test_at_in_the_dst_gap_of_the_program_zone() -> None:
    # 2027-03-14 02:30 does not exist in America/Chicago.
    assert_bad_input(run("check", example(FLEX), "--at", "2027-03-14T02:30", "--json", env=NARROW), "--at")


def test_diff_with_a_missing_new_program(tmp_path: Path) -> None:
    result = run("diff", example(FLEX), tmp_path / "new.toml", "--json", env=NARROW)
    assert_bad_input(result, "NEW", "new.toml")


def test_diff_with_a_bad_old_program(tmp_path: Path) -> None:
    old = write_variant(tmp_path, [('timezone = "America/Chicago"', 'timezone = "Mars/Olympus"')], name="old.toml")
    result = run("diff", old, example(FLEX), "--json", env=NARROW)
    assert_bad_input(result, "reservoir.timezone", "old.toml")


def test_diff_bad_at() -> None:
    result = run("diff", example(FLEX), example(FLEX), "--at", "soon", "--json", env=NARROW)
    assert_bad_input(result, "--at")


def test_drugs_unknown_name() -> None:
    assert_bad_input(run("drugs", "morfine", "--json", env=NARROW), "name", "morfine")


CALC_CASES: list[tuple[str, list[str], str]] = [
    ("drug-spec-with-colon", ["rate", "--dose", "5 mg/day", "--drug", "morphine:10 mg/mL"], "--drug[0]"),
    ("drug-spec-unknown-drug", ["rate", "--dose", "5 mg/day", "--drug", "morfine=10 mg/mL"], "--drug[0]"),
    (
        "drug-spec-zero-concentration",
        ["rate", "--dose", "5 mg/day", "--drug", "morphine=10 mg/mL", "--drug", "clonidine=0 mcg/mL"],
        "--drug[1]",
    ),
    ("drug-spec-wrong-kind", ["rate", "--dose", "5 mg/day", "--drug", "morphine=10 mL"], "--drug[0]"),
    ("dose-is-a-rate", ["rate", "--dose", "0.5 mL/day", "--drug", "morphine=10 mg/mL"], "--dose"),
    ("rate-is-a-dose", ["dose", "--rate", "5 mg/day", "--drug", "morphine=10 mg/mL"], "--rate"),
    ("rate-bare-number", ["dose", "--rate", "0.5", "--drug", "morphine=10 mg/mL"], "--rate"),
    (
        "unknown-pump",
        ["priming", "--pump", "pump-9000", "--catheter", "intrathecal-one-piece", "--length", "60 cm"],
        "--pump",
    ),
    (
        "unknown-catheter",
        ["priming", "--pump", "programmable-40", "--catheter", "garden-hose", "--length", "60 cm"],
        "--catheter",
    ),
    (
        "length-bare-number",
        ["priming", "--pump", "programmable-40", "--catheter", "intrathecal-one-piece", "--length", "60"],
        "--length",
    ),
    ("unknown-care-area", ["conversion", "--mme", "120 mg/day", "--care-area", "pain-dental"], "--care-area"),
    ("zero-ratio", ["conversion", "--mme", "120 mg/day", "--ratio", "0"], "--ratio"),
    ("mme-not-a-dose-rate", ["conversion", "--mme", "120 mg"], "--mme"),
    (
        "bridge-dose-and-rate",
        [
            *BRIDGE_SWAP,
            "--new-dose",
            "5 mg/day",
            "--new-rate",
            "0.25 mL/day",
        ],
        "--new-dose",
    ),
    (
        "bridge-start-without-offset",
        [
            *BRIDGE_SWAP,
            "--new-dose",
            "5 mg/day",
            "--start",
            "2027-01-20T16:00",
        ],
        "--start",
    ),
]


@pytest.mark.parametrize(("args", "field"), [c[1:] for c in CALC_CASES], ids=[c[0] for c in CALC_CASES])
def test_bad_calc_arguments(args: list[str], field: str) -> None:
    line = assert_bad_input(run("calc", *args, "--json", env=NARROW), field)
    assert line.startswith(f"error: {field}: "), line


def test_bad_calc_arguments_in_table_mode_too() -> None:
    # Without --json the error is the same single line.
    result = run("calc", "rate", "--dose", "5 mg/day", "--drug", "morphine:10 mg/mL", env=NARROW)
    assert_bad_input(result, "--drug[0]")


def test_calc_residual_bad_withdrawn_unit() -> None:
    result = run(
        "calc", "residual", example(FLEX), "--at", "2026-12-21T09:00", "--withdrawn", "20 mg", "--json", env=NARROW
    )
    assert_bad_input(result, "--withdrawn")


def test_calc_residual_bad_at() -> None:
    result = run("calc", "residual", example(FLEX), "--at", "next week", "--json", env=NARROW)
    assert_bad_input(result, "--at")


def test_calc_refill_bad_until() -> None:
    result = run("calc", "refill", example(FLEX), "--until", "never", "--json", env=NARROW)
    assert_bad_input(result, "--until")


BRIDGE = ["bridge", "--pump", "programmable-40", "--catheter", "intrathecal-one-piece", "--length", "60 cm"]
RESIDUAL = ["residual", str(example(FLEX))]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        pytest.param([*RESIDUAL, "--at", "2026-11-20T09:00"], "--at", id="residual-before-fill"),
        pytest.param(
            ["refill", str(example(FLEX)), "--until", "2026-11-20T09:00"],
            "--until",
            id="refill-before-fill",
        ),
        pytest.param(
            ["conversion", "--mme", "120 mg/day", "--ratio", "200"],
            "--ratio",
            id="ratio-not-in-library",
        ),
        pytest.param(["conversion", "--mme", "0 mg/day"], "--mme", id="mme-zero"),
        pytest.param(
            [*RESIDUAL, "--at", "2026-12-21T09:00", "--withdrawn", "-1 mL"],
            "--withdrawn",
            id="withdrawn-negative",
        ),
        pytest.param(
            ["residual", str(example("baclofen-spinal-continuous.toml")), "--at", "2027-03-01T09:00", "--boluses", "2"],
            "--boluses",
            id="boluses-without-patient-bolus",
        ),
        pytest.param(
            [*RESIDUAL, "--at", "2026-12-21T09:00", "--boluses", "-1"],
            "--boluses",
            id="boluses-negative",
        ),
        pytest.param(
            [*BRIDGE, "--old", "morphine=10 mg/mL", "--new", "baclofen=2000 mcg/mL", "--new-rate", "0.5 mL/day"],
            "--new",
            id="bridge-no-shared-drug",
        ),
        pytest.param(
            [*BRIDGE, "--old", "morphine=10 mg/mL", "--new", "morphine=20 mg/mL", "--new-rate", "0 mL/day"],
            "--new-rate",
            id="bridge-zero-rate",
        ),
        pytest.param(
            ["priming", "--pump", "valve-gated-20", "--catheter", "intrathecal-one-piece", "--length", "60 cm"],
            "--catheter",
            id="catheter-wrong-family",
        ),
        pytest.param(
            ["priming", "--pump", "programmable-20", "--catheter", "intrathecal-one-piece", "--length", "0 cm"],
            "--length",
            id="length-zero",
        ),
    ],
)
def test_calc_errors_name_the_option(args: list[str], option: str) -> None:
    line = error_line(run("calc", *args, "--json", env=NARROW))
    assert line.startswith(f"error: {option}: "), line


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([*RESIDUAL, "--at", "2026-11-20T09:00"], id="residual-before-fill"),
        pytest.param(["conversion", "--mme", "120 mg/day", "--ratio", "200"], id="ratio-not-in-library"),
        pytest.param(
            [*BRIDGE, "--old", "morphine=10 mg/mL", "--new", "baclofen=2000 mcg/mL", "--new-rate", "0.5 mL/day"],
            id="bridge-no-shared-drug",
        ),
        pytest.param(
            ["priming", "--pump", "valve-gated-20", "--catheter", "intrathecal-one-piece", "--length", "60 cm"],
            id="catheter-wrong-family",
        ),
    ],
)
def test_calc_errors_raised_in_the_core_are_still_one_line_exit_2(args: list[str]) -> None:
    # The same cases as above, held to the rest of the contract (exit 2, one line, no traceback, empty stdout).
    error_line(run("calc", *args, "--json", env=NARROW))


# --------------------------------------------------------------------------------------------------------------
# --library / --catalog
# --------------------------------------------------------------------------------------------------------------
def test_nonexistent_library(tmp_path: Path) -> None:
    assert_bad_input(run("--library", tmp_path / "none.toml", "drugs", "--json", env=NARROW), "--library", "none.toml")


def test_nonexistent_catalog(tmp_path: Path) -> None:
    assert_bad_input(
        run("--catalog", tmp_path / "none.toml", "devices", "--json", env=NARROW), "--catalog", "none.toml"
    )


def test_library_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "clinic-drugs.toml"
    path.write_text("this is [not toml\n", encoding="utf-8")
    assert_bad_input(run("--library", path, "drugs", "--json", env=NARROW), "clinic-drugs.toml")


def test_library_missing_its_version(tmp_path: Path) -> None:
    text = (DATA / "drugs.toml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("version = ")]
    assert len(lines) == len(text.splitlines()) - 1
    path = tmp_path / "clinic-drugs.toml"
    path.write_text("".join(lines), encoding="utf-8")
    assert_bad_input(
        run("--library", path, "check", example(FLEX), "--json", env=NARROW), "version", "clinic-drugs.toml"
    )


def test_catalog_with_a_bad_figure(tmp_path: Path) -> None:
    text = (DATA / "devices.toml").read_text(encoding="utf-8")
    old = 'volume_per_cm = { value = "0.0022 mL/cm"'
    assert text.count(old) == 1
    path = tmp_path / "clinic-devices.toml"
    path.write_text(text.replace(old, 'volume_per_cm = { value = "0.0022 mg/cm"'), encoding="utf-8")
    assert_bad_input(run("--catalog", path, "devices", "--json", env=NARROW), "clinic-devices.toml")


# --------------------------------------------------------------------------------------------------------------
# Hypothesis: garbage never produces a traceback
# --------------------------------------------------------------------------------------------------------------
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # save nothing outside tmp_path
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis caches Unicode tables under ./.hypothesis; keep these runs' files in a temporary directory."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis-home"))
    try:
        yield
    finally:
        set_hypothesis_home_dir(None)  # back to the default ($HYPOTHESIS_STORAGE_DIRECTORY or ./.hypothesis)


def assert_clean(result: Result) -> None:
    exc = crashed(result)
    assert exc is None, f"traceback: {exc!r}"
    assert result.exit_code in (0, 1, 2), result.exit_code
    assert "Traceback" not in result.stderr
    if result.exit_code == 2:
        error_line(result)


@FUZZ
@given(content=st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_garbage_program_file_never_crashes(hypothesis_home: None, tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "garbage.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert_clean(check(path, "--at", "2026-11-21T09:00"))


@FUZZ
@given(data=st.data())
def test_mutated_example_never_crashes(hypothesis_home: None, tmp_path: Path, data: st.DataObject) -> None:
    # Small edits to a valid file reach deeper than random text: delete a span, then insert some text.
    text = example(FLEX).read_text(encoding="utf-8")
    start = data.draw(st.integers(0, len(text)), label="start")
    end = data.draw(st.integers(start, min(len(text), start + 12)), label="end")
    insert = data.draw(st.text(max_size=8), label="insert")
    path = tmp_path / "mutated.toml"
    path.write_text(text[:start] + insert + text[end:], encoding="utf-8")
    assert_clean(check(path, "--at", "2026-11-21T09:00"))


def test_a_number_too_long_to_read_is_one_line_not_a_traceback() -> None:
    from openidds.data import load_catalog, load_library
    from openidds.errors import InputError
    from openidds.programfile import parse_program

    with pytest.raises(InputError) as err:
        parse_program("x = " + "9" * 5000 + "\n", load_library(), load_catalog())
    assert "cannot be read" in str(err.value) and "\n" not in str(err.value)
