"""Candidate evaluation: every item, the three outcomes, and that unknown is never read as yes.

Expected statuses are written by hand from the rules in the brief and clinical.md §5c/§6/§7; none is computed by
the code under test.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openidds.clinic.evaluation import Candidate, Evaluation, evaluate_candidate
from openidds.data import load_indications, load_library
from openidds.errors import InputError

LIBRARY = load_library()
INDICATIONS = load_indications()

GOOD: dict[str, Any] = {
    "conservative_therapy_failed": True,
    "further_surgery_indicated": False,
    "psychological_evaluation": "cleared",
    "active_infection": False,
    "uncorrected_coagulopathy": False,
    "on_anticoagulants": False,
    "anticoagulation_plan": None,  # not asked when not on anticoagulants
    "allergies": (),
    "psychosis_history": None,  # not asked without ziconotide
    "active_substance_misuse": False,
    "life_expectancy_3_months_or_more": True,
    "realistic_expectations": True,
    "committed_to_refills_and_follow_up": True,
}


def candidate(
    indication: str = "failed-back-surgery-syndrome", drugs: tuple[str, ...] = ("morphine",), **changes: Any
) -> Candidate:
    return Candidate(indication, drugs, **{**GOOD, **changes})


def evaluate(c: Candidate) -> Evaluation:
    return evaluate_candidate(c, indications=INDICATIONS, library=LIBRARY)


def statuses(ev: Evaluation) -> dict[str, str]:
    return {i.item: i.status for i in ev.items}


ALL_MET_FBSS = {
    "conservative-therapy-failed": "met",
    "further-surgery-indicated": "met",
    "psychological-evaluation": "met",
    "active-infection": "met",
    "coagulopathy": "met",
    "anticoagulation": "met",
    "allergy": "met",
    "psychosis-history": "not-applicable",
    "drugs-fit-indication": "met",
    "substance-misuse": "met",
    "life-expectancy": "met",
    "realistic-expectations": "met",
    "committed-to-follow-up": "met",
}


def test_a_good_candidate_is_eligible_and_every_item_shows() -> None:
    ev = evaluate(candidate())
    assert ev.status == "eligible"
    assert statuses(ev) == ALL_MET_FBSS
    assert ev.reasons == ()
    assert ev.as_json()["status"] == "eligible"


# (field, value, item, expected item status): one answer changed from the good candidate.
CONTRAINDICATIONS = [
    ("active_infection", True, "active-infection"),
    ("uncorrected_coagulopathy", True, "coagulopathy"),
    ("active_substance_misuse", True, "substance-misuse"),
    ("life_expectancy_3_months_or_more", False, "life-expectancy"),
    ("allergies", ("Morphine (hives)",), "allergy"),
]


@pytest.mark.parametrize(("field", "value", "item"), CONTRAINDICATIONS)
def test_each_contraindication_alone_makes_the_candidate_not_eligible(field: str, value: Any, item: str) -> None:
    ev = evaluate(candidate(**{field: value}))
    assert ev.status == "not-eligible"
    assert statuses(ev) == {**ALL_MET_FBSS, item: "contraindication"}
    assert [r.item for r in ev.reasons] == [item]
    assert ev.reasons[0].citation is not None


UNKNOWN_OR_NOT_MET = [
    ("conservative_therapy_failed", None, "conservative-therapy-failed"),
    ("conservative_therapy_failed", False, "conservative-therapy-failed"),
    ("further_surgery_indicated", None, "further-surgery-indicated"),
    ("further_surgery_indicated", True, "further-surgery-indicated"),
    ("psychological_evaluation", None, "psychological-evaluation"),
    ("psychological_evaluation", "not-done", "psychological-evaluation"),
    ("psychological_evaluation", "not-cleared", "psychological-evaluation"),
    ("active_infection", None, "active-infection"),
    ("uncorrected_coagulopathy", None, "coagulopathy"),
    ("on_anticoagulants", None, "anticoagulation"),
    ("allergies", None, "allergy"),
    ("active_substance_misuse", None, "substance-misuse"),
    ("life_expectancy_3_months_or_more", None, "life-expectancy"),
    ("realistic_expectations", None, "realistic-expectations"),
    ("realistic_expectations", False, "realistic-expectations"),
    ("committed_to_refills_and_follow_up", None, "committed-to-follow-up"),
    ("committed_to_refills_and_follow_up", False, "committed-to-follow-up"),
]


@pytest.mark.parametrize(("field", "value", "item"), UNKNOWN_OR_NOT_MET)
def test_an_unknown_or_unmet_item_needs_review(field: str, value: Any, item: str) -> None:
    ev = evaluate(candidate(**{field: value}))
    assert ev.status == "needs-review"
    assert statuses(ev) == {**ALL_MET_FBSS, item: "needs-review"}
    assert [r.item for r in ev.reasons] == [item]
    if value is None:
        assert "unknown" in ev.reasons[0].message


def test_unknown_answers_are_never_yes_an_empty_checklist_needs_review() -> None:
    ev = evaluate(Candidate("failed-back-surgery-syndrome", ("morphine",)))
    assert ev.status == "needs-review"
    assert {i.item for i in ev.items if i.status == "needs-review"} == set(ALL_MET_FBSS) - {
        "psychosis-history",
        "drugs-fit-indication",
    }


def test_a_contraindication_outranks_what_needs_review() -> None:
    ev = evaluate(candidate(active_infection=True, realistic_expectations=None))
    assert ev.status == "not-eligible"
    assert [(r.item, r.status) for r in ev.reasons] == [
        ("active-infection", "contraindication"),
        ("realistic-expectations", "needs-review"),
    ]


@pytest.mark.parametrize(
    ("plan", "status", "item_status"),
    [(True, "eligible", "met"), (False, "not-eligible", "contraindication"), (None, "needs-review", "needs-review")],
)
def test_anticoagulants_need_a_hold_and_restart_plan(plan: bool | None, status: str, item_status: str) -> None:
    ev = evaluate(candidate(on_anticoagulants=True, anticoagulation_plan=plan))
    assert ev.status == status
    assert statuses(ev)["anticoagulation"] == item_status


@pytest.mark.parametrize(
    ("drugs", "allergies", "status", "excluded"),
    [
        (("morphine",), ("penicillin",), "eligible", None),
        (("morphine",), ("Infumorph",), "not-eligible", "morphine"),  # brand name of a morphine product
        (("morphine",), ("  MORPHINE.  ",), "not-eligible", "morphine"),
        (("morphine", "bupivacaine"), ("morphine (rash)",), "needs-review", "morphine"),
        (("morphine", "clonidine"), ("opioids",), "needs-review", "morphine"),  # drug class, plural
        (("hydromorphone", "fentanyl"), ("Opioid",), "not-eligible", "hydromorphone"),
        (("ziconotide",), ("prialt",), "not-eligible", "ziconotide"),
        # an allergy is never read narrowly: a drug's name anywhere in an entry rules it out (correct the list)
        (("morphine",), ("no morphine allergy",), "not-eligible", "morphine"),
        (("morphine",), ("Morphine sulfate",), "not-eligible", "morphine"),
        (("morphine",), ("MS Contin",), "not-eligible", "morphine"),  # a brand name
        (("morphine",), ("mórphine",), "not-eligible", "morphine"),  # accents
        (("morphine",), ("opiates",), "not-eligible", "morphine"),
    ],
)
def test_allergies_are_matched_against_name_brand_and_class(
    drugs: tuple[str, ...], allergies: tuple[str, ...], status: str, excluded: str | None
) -> None:
    ev = evaluate(candidate(drugs=drugs, allergies=allergies, psychosis_history=False))
    assert ev.status == status
    allergy = next(i for i in ev.items if i.item == "allergy")
    if excluded is None:
        assert allergy.status == "met"
    else:
        assert excluded in allergy.message


@pytest.mark.parametrize(
    ("drugs", "psychosis", "status", "item_status"),
    [
        (("ziconotide",), True, "not-eligible", "contraindication"),
        (("ziconotide", "morphine"), True, "needs-review", "needs-review"),
        (("ziconotide",), None, "needs-review", "needs-review"),
        (("ziconotide",), False, "eligible", "met"),
        (("morphine",), True, "eligible", "not-applicable"),
    ],
)
def test_ziconotide_asks_about_psychosis(
    drugs: tuple[str, ...], psychosis: bool | None, status: str, item_status: str
) -> None:
    ev = evaluate(candidate(drugs=drugs, psychosis_history=psychosis))
    assert ev.status == status
    assert statuses(ev)["psychosis-history"] == item_status


def test_allergy_and_psychosis_together_leave_no_drug() -> None:
    ev = evaluate(candidate(drugs=("morphine", "ziconotide"), allergies=("morphine",), psychosis_history=True))
    assert ev.status == "not-eligible"
    assert statuses(ev)["allergy"] == "contraindication"
    assert statuses(ev)["psychosis-history"] == "contraindication"


def test_a_drug_without_limits_for_the_indication_needs_review() -> None:
    ev = evaluate(candidate(drugs=("baclofen",)))
    assert ev.status == "needs-review"
    assert statuses(ev)["drugs-fit-indication"] == "needs-review"
    assert "baclofen" in ev.reasons[0].message and "pain-noncancer" in ev.reasons[0].message


def test_spasticity_skips_surgery_and_does_not_require_psychology() -> None:
    ev = evaluate(
        candidate(
            "spinal-cord-injury-spasticity",
            ("baclofen",),
            further_surgery_indicated=None,
            psychological_evaluation="not-done",
        )
    )
    assert ev.status == "eligible"
    assert statuses(ev)["further-surgery-indicated"] == "not-applicable"
    assert statuses(ev)["psychological-evaluation"] == "not-applicable"
    conservative = next(i for i in ev.items if i.item == "conservative-therapy-failed")
    assert "oral baclofen" in conservative.question


def test_a_psychologist_who_did_not_clear_the_patient_always_needs_review() -> None:
    ev = evaluate(candidate("cancer-pain", psychological_evaluation="not-cleared"))
    assert ev.status == "needs-review"
    ev = evaluate(candidate("cancer-pain", psychological_evaluation=None))
    assert ev.status == "eligible"  # not required for cancer pain (PACC 2024 CP1 is non-cancer)


def test_baclofen_commitment_mentions_withdrawal() -> None:
    ev = evaluate(candidate("multiple-sclerosis-spasticity", ("baclofen",), committed_to_refills_and_follow_up=False))
    assert ev.status == "needs-review"
    assert "withdrawal" in ev.reasons[0].message
    assert ev.reasons[0].citation is not None and ev.reasons[0].citation.unconfirmed  # policy [U]


@pytest.mark.parametrize(
    ("since", "status"),
    [("200 days", "not-eligible"), ("1 year", "eligible"), ("2 years", "eligible"), (None, "needs-review")],
)
def test_traumatic_brain_injury_waits_a_year(since: str | None, status: str) -> None:
    ev = evaluate(candidate("traumatic-brain-injury-spasticity", ("baclofen",), time_since_onset=since))
    assert ev.status == status
    wait = next(i for i in ev.items if i.item == "time-since-onset")
    assert wait.citation is not None and wait.citation.source == "itb-eligibility"
    assert wait.citation.url.startswith("https://www.medtronic.com/")


def test_other_indications_do_not_ask_time_since_onset() -> None:
    assert "time-since-onset" not in statuses(evaluate(candidate()))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"indication": "back-pain"}, "indication"),
        ({"planned_drugs": ()}, "planned_drugs"),
        ({"planned_drugs": ("morphine", "morfine")}, "planned_drugs[1]"),
        ({"planned_drugs": ("morphine", "Morphine")}, "planned_drugs[1]"),
        ({"active_infection": "yes"}, "active_infection"),
        ({"life_expectancy_3_months_or_more": 1}, "life_expectancy_3_months_or_more"),
        ({"psychological_evaluation": "done"}, "psychological_evaluation"),
        ({"allergies": "morphine"}, "allergies"),
        ({"allergies": ("morphine", "")}, "allergies[1]"),
    ],
)
def test_bad_input_names_the_field(changes: dict[str, Any], field: str) -> None:
    c = dataclasses.replace(candidate(), **changes)
    with pytest.raises(InputError) as err:
        evaluate(c)
    assert err.value.field == field


@pytest.mark.parametrize(("since", "field"), [("5 mg", "time_since_onset"), ("-3 days", "time_since_onset")])
def test_bad_time_since_onset(since: str, field: str) -> None:
    with pytest.raises(InputError) as err:
        evaluate(candidate("traumatic-brain-injury-spasticity", ("baclofen",), time_since_onset=since))
    assert err.value.field == field


TRI = st.sampled_from([True, False, None])


@settings(max_examples=300)
@given(
    conservative=TRI,
    surgery=TRI,
    psych=st.sampled_from(["cleared", "not-cleared", "not-done", None]),
    infection=TRI,
    coagulopathy=TRI,
    anticoagulants=TRI,
    plan=TRI,
    allergies=st.sampled_from([None, (), ("penicillin",), ("morphine",)]),
    misuse=TRI,
    life=TRI,
    expectations=TRI,
    committed=TRI,
)
def test_outcome_matches_a_hand_written_oracle(
    conservative: bool | None,
    surgery: bool | None,
    psych: Any,
    infection: bool | None,
    coagulopathy: bool | None,
    anticoagulants: bool | None,
    plan: bool | None,
    allergies: tuple[str, ...] | None,
    misuse: bool | None,
    life: bool | None,
    expectations: bool | None,
    committed: bool | None,
) -> None:
    c = Candidate(
        "failed-back-surgery-syndrome",
        ("morphine",),
        conservative_therapy_failed=conservative,
        further_surgery_indicated=surgery,
        psychological_evaluation=psych,
        active_infection=infection,
        uncorrected_coagulopathy=coagulopathy,
        on_anticoagulants=anticoagulants,
        anticoagulation_plan=plan,
        allergies=allergies,
        active_substance_misuse=misuse,
        life_expectancy_3_months_or_more=life,
        realistic_expectations=expectations,
        committed_to_refills_and_follow_up=committed,
    )
    contraindicated = (
        infection is True
        or coagulopathy is True
        or (anticoagulants is True and plan is False)
        or allergies == ("morphine",)
        or misuse is True
        or life is False
    )
    all_good = (
        conservative is True
        and surgery is False
        and psych == "cleared"
        and infection is False
        and coagulopathy is False
        and (anticoagulants is False or (anticoagulants is True and plan is True))
        and allergies in ((), ("penicillin",))
        and misuse is False
        and life is True
        and expectations is True
        and committed is True
    )
    expected = "not-eligible" if contraindicated else "eligible" if all_good else "needs-review"
    assert evaluate(c).status == expected


def test_every_item_but_the_library_check_cites_its_source() -> None:
    for c in (candidate(), Candidate("spinal-cord-injury-spasticity", ("baclofen",))):
        assert any(i.item == "drugs-fit-indication" for i in evaluate(c).items)
        for item in evaluate(c).items:
            if item.item == "drugs-fit-indication":
                assert item.citation is None  # the drug library itself is the source
            else:
                assert item.citation is not None and item.citation.url.startswith("http"), item.item
