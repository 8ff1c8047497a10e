"""Trials: the rule shown with its numbers, exact arithmetic, edge cases and the baclofen screening sequence.

Every expected message and number is worked by hand here (e.g. NRS 8 → 3 is 5/8 = 62.5 % relief).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openidds.clinic.trial import SideEffect, Trial, TrialDose, TrialOutcome, evaluate_trial
from openidds.data import load_library
from openidds.errors import InputError
from openidds.quantities import parse_quantity

LIBRARY = load_library()


def pain(
    *doses: TrialDose, baseline: int = 8, drug: str = "morphine", method: Any = "single-shot-bolus"
) -> TrialOutcome:
    return evaluate_trial(Trial(method, "pain", drug, doses, baseline_nrs=baseline), library=LIBRARY)


def screening(*doses: TrialDose, baseline: Any = "3") -> TrialOutcome:
    trial = Trial("baclofen-screening", "spasticity", "baclofen", doses, baseline_ashworth=baseline)
    return evaluate_trial(trial, library=LIBRARY)


def bolus(dose: str, nrs: int | None, hours: Any = 24, *effects: SideEffect) -> TrialDose:
    return TrialDose(dose, hours, nrs=nrs, side_effects=effects)


def itb(mcg: int, grade: Any, hours: Any = 6, effect_hours: Any = None, *effects: SideEffect) -> TrialDose:
    return TrialDose(f"{mcg} mcg", hours, ashworth=grade, side_effects=effects, effect_hours=effect_hours)


# --- pain ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "after", "status", "relief", "message"),
    [
        (8, 3, "success", Fraction(5, 8), "NRS 8 → 3: 62.5 % relief ≥ 50 % → success"),
        (8, 4, "success", Fraction(1, 2), "NRS 8 → 4: 50 % relief ≥ 50 % → success"),  # the boundary counts
        (9, 5, "failure", Fraction(4, 9), "NRS 9 → 5: 44.4 % relief < 50 % → failure"),
        (3, 2, "failure", Fraction(1, 3), "NRS 3 → 2: 33.3 % relief < 50 % → failure"),
        (5, 7, "failure", Fraction(-2, 5), "NRS 5 → 7: -40 % relief < 50 % → failure"),  # worse
        (10, 0, "success", Fraction(1), "NRS 10 → 0: 100 % relief ≥ 50 % → success"),
        (1, 0, "success", Fraction(1), "NRS 1 → 0: 100 % relief ≥ 50 % → success"),
    ],
)
def test_pain_relief_rule_with_its_numbers(
    baseline: int, after: int, status: str, relief: Fraction, message: str
) -> None:
    out = pain(bolus("0.2 mg", after), baseline=baseline)
    assert out.status == status
    (r,) = out.responses
    assert r.relief == relief
    assert r.message == message
    assert out.rule == "success when pain falls by at least 50 % from baseline without intolerable side effects"
    assert out.rule_citation.source == "idd-patient-selection" and not out.rule_citation.unconfirmed


def test_intolerable_side_effects_make_relief_a_failure() -> None:
    out = pain(bolus("0.2 mg", 3, 24, SideEffect("nausea", True), SideEffect("pruritus", False)), baseline=6)
    assert out.status == "failure"
    assert out.responses[0].message == "NRS 6 → 3: 50 % relief ≥ 50 %, but intolerable side effects (nausea) → failure"
    assert out.responses[0].intolerable == ("nausea",)


def test_tolerable_side_effects_do_not_change_success() -> None:
    assert pain(bolus("0.2 mg", 2, 24, SideEffect("pruritus", False))).status == "success"


def test_baseline_zero_cannot_be_computed() -> None:
    out = pain(bolus("0.2 mg", 0), baseline=0)
    assert out.status == "needs-review"
    assert out.responses[0].relief is None
    assert out.responses[0].message == "NRS 0 → 0: no pain at baseline, so relief cannot be computed"
    assert out.reasons[0].code == "trial.needs-review"


def test_a_dose_without_a_score_needs_review() -> None:
    out = pain(bolus("0.2 mg", 6), bolus("0.3 mg", None))
    assert out.status == "needs-review"
    assert [r.status for r in out.responses] == ["failure", "needs-review"]


def test_repeated_bolus_succeeds_at_the_first_successful_dose() -> None:
    out = pain(
        bolus("0.1 mg", 6),  # 2/8 = 25 %
        bolus("0.2 mg", 2),  # 6/8 = 75 %
        bolus("0.3 mg", 1),  # 7/8 = 87.5 %
        method="repeated-bolus",
    )
    assert out.status == "success"
    assert out.effective_dose == parse_quantity("0.2 mg")
    assert [r.message for r in out.responses] == [
        "NRS 8 → 6: 25 % relief < 50 % → failure",
        "NRS 8 → 2: 75 % relief ≥ 50 % → success",
        "NRS 8 → 1: 87.5 % relief ≥ 50 % → success",
    ]
    assert out.reasons[0].message == "morphine 0.2 mg: NRS 8 → 2: 75 % relief ≥ 50 % → success"


def test_no_successful_dose_is_a_failure() -> None:
    out = pain(bolus("0.1 mg", 6), bolus("0.2 mg", 5), method="repeated-bolus")
    assert out.status == "failure"
    assert out.effective_dose is None
    assert out.reasons[0].code == "trial.failure"


def test_continuous_catheter_trial_takes_daily_doses() -> None:
    out = pain(TrialDose("0.5 mg/day", 72, nrs=4), method="continuous-catheter")
    assert out.status == "success"
    assert out.effective_dose == parse_quantity("0.5 mg/day")
    assert out.reasons[0].message.startswith("morphine 0.5 mg/day: NRS 8 → 4")


@pytest.mark.parametrize(
    ("drug", "dose", "hours", "codes"),
    [
        ("morphine", "0.2 mg", 4, ["trial.observation", "trial.observation-morphine"]),  # < 6 h and < 24 h
        ("morphine", "0.2 mg", 8, ["trial.observation-morphine"]),
        ("morphine", "0.2 mg", 24, []),
        ("hydromorphone", "0.05 mg", 4, ["trial.observation"]),  # PACC 6 h; the 24 h is morphine's label
        ("hydromorphone", "0.05 mg", 6, []),
        ("ziconotide", "2 mcg", 2, []),  # not an opioid: no observation rule in the reference
    ],
)
def test_short_observation_adds_a_note_but_not_a_status(drug: str, dose: str, hours: int, codes: list[str]) -> None:
    out = pain(bolus(dose, 2, hours), drug=drug)
    assert out.status == "success"
    assert [r.code for r in out.reasons[1:]] == codes


def test_observation_hours_may_be_fractions_or_decimal_text() -> None:
    out = pain(bolus("0.1 mg", 2, "5.5"), drug="hydromorphone")
    assert out.reasons[1].message == (
        "dose 1: hydromorphone 0.1 mg observed 5.5 h; PACC 2017 advises at least 6 h after a single-shot opioid trial"
    )
    assert pain(bolus("0.1 mg", 2, Fraction(13, 2)), drug="hydromorphone").reasons[1:] == ()


# --- spasticity: baclofen screening --------------------------------------------------------------------------------


def test_screening_success_at_75_mcg_and_the_starting_dose() -> None:
    out = screening(itb(50, "3"), itb(75, "1+", effect_hours=6))
    assert out.status == "success"
    assert [r.message for r in out.responses] == [
        "Ashworth 3 → 3: a fall of 0 points < 1 → failure",
        "Ashworth 3 → 1+: a fall of 1.5 points ≥ 1 → success",
    ]
    assert out.responses[1].fall == Fraction(3, 2)
    assert out.effective_dose == parse_quantity("75 mcg")
    assert out.starting_daily_dose is not None
    assert out.starting_daily_dose.value == parse_quantity("150 mcg/day")  # 2 × 75
    assert "≤ 8 h" in out.starting_daily_dose.assumptions[1]
    assert out.rule_citation.unconfirmed  # the 1-point rule is policy [U]
    assert "trial.ashworth-one-plus" in [r.code for r in out.reasons]


@pytest.mark.parametrize(
    ("effect_hours", "daily"),
    [(10, "50 mcg/day"), (8, "100 mcg/day"), ("8.5", "50 mcg/day"), (None, "100 mcg/day")],
)
def test_starting_dose_depends_on_how_long_the_effect_lasted(effect_hours: Any, daily: str) -> None:
    out = screening(itb(50, "2", effect_hours=effect_hours), baseline="3")  # 3 → 2: a fall of 1 point
    assert out.status == "success"
    assert out.starting_daily_dose is not None
    assert out.starting_daily_dose.value == parse_quantity(daily)
    if effect_hours is None:
        assert "not recorded" in out.starting_daily_dose.assumptions[1]


def test_no_response_at_100_mcg_is_not_a_candidate() -> None:
    out = screening(itb(50, "3"), itb(75, "3"), itb(100, "3"))
    assert out.status == "failure"
    assert out.reasons[0].message == "no response at 100 mcg: not a candidate for intrathecal baclofen"
    assert out.reasons[0].citation is not None and out.reasons[0].citation.source == "baclofen-screening-label"


@pytest.mark.parametrize(
    ("doses", "following"),
    [((50,), 75), ((50, 75), 100), ((25,), 50)],
)
def test_an_incomplete_screening_continues(doses: tuple[int, ...], following: int) -> None:
    out = screening(*(itb(d, "3") for d in doses))
    assert out.status == "needs-review"
    last = doses[-1]
    assert out.reasons[0].message == (
        f"no response at {last} mcg: the screening continues with {following} mcg at least 24 h after the last dose"
    )


def test_half_a_point_is_not_a_response() -> None:
    out = screening(itb(100, "1+"), baseline="2")
    assert out.responses[0].message == "Ashworth 2 → 1+: a fall of 0.5 points < 1 → failure"
    assert out.status == "failure"


def test_intolerable_weakness_fails_a_responding_dose() -> None:
    out = screening(itb(50, "1", 6, None, SideEffect("leg weakness, cannot stand", True)), baseline="3")
    assert out.status == "needs-review"  # 50 mcg failed: the label sequence continues
    assert out.responses[0].status == "failure"
    assert "intolerable side effects (leg weakness, cannot stand)" in out.responses[0].message


def test_no_spasticity_at_baseline_needs_review() -> None:
    out = screening(itb(50, "0"), baseline="0")
    assert out.status == "needs-review"
    assert "no spasticity at baseline" in out.responses[0].message


def test_screening_notes_off_label_doses_and_short_observation() -> None:
    out = screening(itb(60, "1", 2), baseline="3")
    assert out.status == "success"
    assert [r.code for r in out.reasons[1:]] == ["trial.screening-dose", "trial.observation"]


def test_ashworth_grades_may_be_integers() -> None:
    out = screening(itb(50, 2), baseline=4)
    assert out.responses[0].message == "Ashworth 4 → 2: a fall of 2 points ≥ 1 → success"


def test_as_json_carries_rule_numbers_and_starting_dose() -> None:
    doc = screening(itb(50, "1", effect_hours=4), baseline="3").as_json()
    assert doc["status"] == "success"
    assert doc["effective_dose"] == "50 mcg"
    assert doc["starting_daily_dose"]["value"] == "100 mcg/day"
    assert doc["responses"][0]["ashworth_fall"] == 2.0
    assert doc["rule_citation"]["source"] == "openidds-policy"


# --- bad input ----------------------------------------------------------------------------------------------------


def _pain_trial(**changes: Any) -> Trial:
    base: dict[str, Any] = {
        "method": "single-shot-bolus",
        "therapy": "pain",
        "drug": "morphine",
        "doses": (bolus("0.2 mg", 3),),
        "baseline_nrs": 8,
    }
    return Trial(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"method": "epidural"}, "method"),
        ({"therapy": "spasm"}, "therapy"),
        ({"drug": "morfine"}, "drug"),
        ({"doses": ()}, "doses"),
        ({"baseline_nrs": 11}, "baseline_nrs"),
        ({"baseline_nrs": None}, "baseline_nrs"),
        ({"baseline_nrs": True}, "baseline_nrs"),
        ({"baseline_ashworth": "2"}, "baseline_ashworth"),
        ({"doses": (bolus("0.2 mg", -1),)}, "doses[0].nrs"),
        ({"doses": (bolus("0.2 mg", 3), bolus("50 mL", 3))}, "doses[1].dose"),
        ({"doses": (bolus("0.2 mg/day", 3),)}, "doses[0].dose"),
        ({"doses": (bolus("0 mg", 3),)}, "doses[0].dose"),
        ({"doses": (bolus("0.2 mg", 3, 0),)}, "doses[0].observation_hours"),
        ({"doses": (bolus("0.2 mg", 3, "six"),)}, "doses[0].observation_hours"),
        ({"doses": (TrialDose("0.2 mg", 6, nrs=3, ashworth="1"),)}, "doses[0].ashworth"),
        ({"doses": (bolus("0.2 mg", 3, 6, SideEffect("nausea", "yes")),)}, "doses[0].side_effects[0].intolerable"),  # type: ignore[arg-type]
        ({"doses": (bolus("0.2 mg", 3, 6, SideEffect(" ", True)),)}, "doses[0].side_effects[0]"),
        ({"doses": (TrialDose("0.2 mg", 6, nrs=3, effect_hours=-1),)}, "doses[0].effect_hours"),
        ({"method": "continuous-catheter"}, "doses[0].dose"),  # a bolus given for a daily dose
        ({"method": "baclofen-screening"}, "drug"),
    ],
)
def test_bad_input_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        evaluate_trial(_pain_trial(**changes), library=LIBRARY)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("trial", "field"),
    [
        (Trial("baclofen-screening", "pain", "baclofen", (itb(50, "1"),), baseline_nrs=5), "therapy"),
        (
            Trial("baclofen-screening", "spasticity", "baclofen", (itb(50, "5"),), baseline_ashworth="3"),
            "doses[0].ashworth",
        ),
        (
            Trial("baclofen-screening", "spasticity", "baclofen", (itb(50, "1"),), baseline_ashworth="1++"),  # type: ignore[arg-type]
            "baseline_ashworth",
        ),
        (
            Trial(
                "baclofen-screening", "spasticity", "baclofen", (TrialDose("50 mcg", 6, nrs=2),), baseline_ashworth="3"
            ),
            "doses[0].nrs",
        ),
        (
            Trial(
                "baclofen-screening", "spasticity", "baclofen", (itb(50, "1"),), baseline_ashworth="3", baseline_nrs=4
            ),
            "baseline_nrs",
        ),
    ],
)
def test_bad_spasticity_input_names_the_field(trial: Trial, field: str) -> None:
    with pytest.raises(InputError) as err:
        evaluate_trial(trial, library=LIBRARY)
    assert err.value.field == field


# --- invariants: the rule against an integer oracle ----------------------------------------------------------------


@given(baseline=st.integers(0, 10), after=st.integers(0, 10), intolerable=st.booleans())
def test_pain_status_matches_integer_arithmetic(baseline: int, after: int, intolerable: bool) -> None:
    out = pain(bolus("0.2 mg", after, 24, SideEffect("vomiting", intolerable)), baseline=baseline)
    if baseline == 0:
        expected = "needs-review"
    elif 2 * (baseline - after) >= baseline and not intolerable:  # relief ≥ 1/2, by cross-multiplying
        expected = "success"
    else:
        expected = "failure"
    assert out.status == expected


DOUBLED = {"0": 0, "1": 2, "1+": 3, "2": 4, "3": 6, "4": 8}  # twice the points, so 1+ is a whole number


@given(baseline=st.sampled_from(list(DOUBLED)), after=st.sampled_from(list(DOUBLED)))
def test_ashworth_fall_matches_integer_arithmetic(baseline: str, after: str) -> None:
    out = screening(itb(100, after), baseline=baseline)  # at 100 mcg: no response means failure
    if baseline == "0":
        expected = "needs-review"
    elif DOUBLED[baseline] - DOUBLED[after] >= 2:
        expected = "success"
    else:
        expected = "failure"
    assert out.status == expected
