"""Follow-up scoring: NRS, Oswestry, PHQ-9, Modified Ashworth, Penn, side effects and complications, and flags.

Expected values are worked by hand (e.g. ODI 16 of 9 sections = 16/45 × 100 = 320/9 %).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openidds.clinic.followup import (
    ADVERSE_EVENTS,
    AdverseEvent,
    FollowUpVisit,
    adverse_event_flags,
    ashworth,
    assess_follow_up,
    oswestry,
    pain_score,
    penn,
    phq9,
)
from openidds.data import load_library
from openidds.errors import InputError

LIBRARY = load_library()

# --- pain ---------------------------------------------------------------------------------------------------------


def test_pain_score_with_and_without_baseline() -> None:
    assert pain_score(3).message == "NRS 3"
    p = pain_score(3, baseline=8)
    assert p.relief == Fraction(5, 8)
    assert p.message == "NRS 8 → 3: 62.5 % relief from baseline"
    assert pain_score(2, baseline=0).relief is None


@pytest.mark.parametrize(("nrs", "baseline", "field"), [(11, None, "nrs"), (-1, None, "nrs"), (3, 12, "baseline_nrs")])
def test_pain_score_out_of_range(nrs: int, baseline: int | None, field: str) -> None:
    with pytest.raises(InputError) as err:
        pain_score(nrs, baseline=baseline)
    assert err.value.field == field


# --- Oswestry -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sections", "percent", "band"),
    [
        ((0,) * 10, Fraction(0), "minimal"),
        ((1,) * 10, Fraction(20), "minimal"),  # 10/50 = 20 %: top of minimal
        ((2, 1, 1, 1, 1, 1, 1, 1, 1, 1), Fraction(22), "moderate"),  # 11/50
        ((2,) * 10, Fraction(40), "moderate"),
        ((3, 2, 2, 2, 2, 2, 2, 2, 2, 2), Fraction(42), "severe"),  # 21/50
        ((1, 2, 3, 4, 5, 0, 1, 2, 3, 4), Fraction(50), "severe"),  # 25/50
        ((3,) * 10, Fraction(60), "severe"),
        ((4, 3, 3, 3, 3, 3, 3, 3, 3, 3), Fraction(62), "crippled"),
        ((4,) * 10, Fraction(80), "crippled"),
        ((5, 4, 4, 4, 4, 4, 4, 4, 4, 4), Fraction(82), "bed-bound"),
        ((5,) * 10, Fraction(100), "bed-bound"),
    ],
)
def test_oswestry_bands(sections: tuple[int, ...], percent: Fraction, band: str) -> None:
    o = oswestry(sections)
    assert (o.percent, o.band, o.answered) == (percent, band, 10)
    assert o.flags == ()


def test_oswestry_unanswered_section_lowers_the_denominator() -> None:
    # the source's own example: 16 scored of 45 possible
    o = oswestry((2, 2, 2, 2, 2, 2, 2, 1, 1, None))
    assert (o.total, o.answered) == (16, 9)
    assert o.percent == Fraction(320, 9)  # 16 / 45 × 100 = 35.55… %
    assert o.band == "moderate"
    assert o.reasons == ("16 / (5 × 9) × 100 = 35.6 %: moderate disability",)


def test_oswestry_with_few_sections_warns_and_with_none_is_not_scored() -> None:
    o = oswestry((5, 5, 5, 5, 5, 5, 5, None, None, None))
    assert o.percent == Fraction(100)
    assert [f.code for f in o.flags] == ["oswestry.few-sections"]
    assert not o.flags[0].urgent
    assert o.flags[0].citation is not None and o.flags[0].citation.unconfirmed  # policy [U]
    empty = oswestry((None,) * 10)
    assert (empty.percent, empty.band) == (None, None)
    assert [f.code for f in empty.flags] == ["oswestry.not-scored"]


@pytest.mark.parametrize(
    ("sections", "field"),
    [((1,) * 9, "oswestry"), ((1, 1, 1, 6, 1, 1, 1, 1, 1, 1), "oswestry[3]"), ((True,) + (1,) * 9, "oswestry[0]")],
)
def test_oswestry_bad_input(sections: Any, field: str) -> None:
    with pytest.raises(InputError) as err:
        oswestry(sections)
    assert err.value.field == field


@given(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=10, max_size=10))
def test_oswestry_is_always_0_to_100_and_in_its_band(sections: list[int | None]) -> None:
    o = oswestry(sections)
    answered = [s for s in sections if s is not None]
    if not answered:
        assert o.percent is None
        return
    assert o.percent is not None and 0 <= o.percent <= 100
    total, n = sum(answered), len(answered)
    assert o.percent * 5 * n == 100 * total
    # the band by integer comparison: 100·total ≤ bound·5·n
    bound = next(b for b in (20, 40, 60, 80, 100) if 100 * total <= b * 5 * n)
    assert o.band == {20: "minimal", 40: "moderate", 60: "severe", 80: "crippled", 100: "bed-bound"}[bound]


# --- PHQ-9 --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "total", "severity"),
    [
        ((0, 0, 0, 0, 0, 0, 0, 0, 0), 0, "none-minimal"),
        ((1, 1, 1, 1, 0, 0, 0, 0, 0), 4, "none-minimal"),
        ((1, 1, 1, 1, 1, 0, 0, 0, 0), 5, "mild"),
        ((1, 1, 1, 1, 1, 1, 1, 1, 0), 8, "mild"),
        ((2, 2, 2, 2, 1, 0, 0, 0, 0), 9, "mild"),
        ((2, 2, 2, 2, 2, 0, 0, 0, 0), 10, "moderate"),
        ((3, 3, 3, 3, 2, 0, 0, 0, 0), 14, "moderate"),
        ((3, 3, 3, 3, 3, 0, 0, 0, 0), 15, "moderately-severe"),
        ((3, 3, 3, 3, 3, 3, 1, 0, 0), 19, "moderately-severe"),
        ((3, 3, 3, 3, 3, 3, 2, 0, 0), 20, "severe"),
        ((3, 3, 3, 3, 3, 3, 3, 3, 0), 24, "severe"),
    ],
)
def test_phq9_total_and_bands(items: tuple[int, ...], total: int, severity: str) -> None:
    p = phq9(items)
    assert (p.total, p.severity, p.item_9) == (total, severity, 0)
    assert not any(f.urgent for f in p.flags)
    assert [f.code for f in p.flags] == ([f"phq9.{severity}"] if total >= 15 else [])


def test_phq9_item_9_is_urgent_whatever_the_total() -> None:
    p = phq9((0, 0, 0, 0, 0, 0, 0, 0, 1))
    assert (p.total, p.severity) == (1, "none-minimal")
    (flag,) = p.flags
    assert flag.urgent and flag.code == "phq9.item-9"
    assert flag.message == (
        "URGENT: PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered 'several days' (1): "
        "assess suicide risk today, before the patient leaves, whatever the total"
    )
    assert flag.citation is not None and flag.citation.source == "phq9"
    assert "nearly every day" in phq9((0,) * 8 + (3,)).flags[0].message


@given(st.lists(st.integers(0, 3), min_size=9, max_size=9))
def test_phq9_item_9_above_0_is_always_urgent_and_total_is_the_sum(items: list[int]) -> None:
    p = phq9(items)
    assert p.total == sum(items) and 0 <= p.total <= 27
    urgent = [f.code for f in p.flags if f.urgent]
    assert urgent == (["phq9.item-9"] if items[8] > 0 else [])


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ((0,) * 8, "phq9"),
        ((0, 0, 4, 0, 0, 0, 0, 0, 0), "phq9[2]"),
        ((0,) * 8 + (None,), "phq9[8]"),
        ("000000000", "phq9"),
    ],
)
def test_phq9_needs_every_item(items: Any, field: str) -> None:
    with pytest.raises(InputError) as err:
        phq9(items)
    assert err.value.field == field


# --- Modified Ashworth and Penn -----------------------------------------------------------------------------------


def test_ashworth_grades_in_words_and_points() -> None:
    a = ashworth("1+")
    assert a.points == Fraction(3, 2)
    assert a.description == "slight increase: a catch, then minimal resistance through less than half of the range"
    assert ashworth(4).description == "rigid in flexion or extension"
    with pytest.raises(InputError) as err:
        ashworth("5")  # type: ignore[arg-type]
    assert err.value.field == "ashworth"


@pytest.mark.parametrize(
    ("previous", "now", "drugs", "flag"),
    [
        ("1", "2", ("baclofen",), "urgent"),  # a rise of 1 point
        ("1+", "3", ("baclofen",), "urgent"),  # 1.5 points
        ("1+", "2", ("baclofen",), "review"),  # 0.5 point
        ("1", "2", (), None),  # no withdrawal-risk drug
        ("3", "1", ("baclofen",), None),  # a fall
        ("2", "2", ("baclofen",), None),
    ],
)
def test_ashworth_rise_with_baclofen(previous: Any, now: Any, drugs: tuple[str, ...], flag: str | None) -> None:
    flags = ashworth(now, previous=previous, withdrawal_risk_drugs=drugs).flags
    if flag is None:
        assert flags == ()
    else:
        (f,) = flags
        assert f.urgent == (flag == "urgent")


@pytest.mark.parametrize(
    ("frequency", "severity", "description"),
    [
        (0, None, "no spasms"),
        (1, 1, "spasms induced only by stimulation; mild"),
        (3, 2, "spontaneous spasms more than once an hour; moderate"),
        (4, 3, "spontaneous spasms more than ten times an hour; severe"),
    ],
)
def test_penn(frequency: int, severity: int | None, description: str) -> None:
    assert penn(frequency, severity).description == description


@pytest.mark.parametrize(
    ("frequency", "severity", "field"),
    [(0, 2, "penn_severity"), (3, None, "penn_severity"), (5, 1, "penn_frequency"), (2, 4, "penn_severity")],
)
def test_penn_bad_input(frequency: int, severity: int | None, field: str) -> None:
    with pytest.raises(InputError) as err:
        penn(frequency, severity)
    assert err.value.field == field


# --- side effects and complications -------------------------------------------------------------------------------

DRUG_EFFECTS = {
    "respiratory-depression",
    "sedation",
    "myoclonus",
    "muscle-spasm",
    "urinary-retention",
    "constipation",
    "nausea",
    "vomiting",
    "dizziness",
    "anxiety",
    "depression",
    "confusion-or-hallucinations",
    "edema",
    "pruritus",
    "hypogonadism",
    "baclofen-withdrawal-signs",
}
DEVICE_COMPLICATIONS = {
    "catheter-migration",
    "catheter-occlusion",
    "pump-failure",
    "seroma",
    "csf-leak",
    "infection",
    "bleeding",
    "catheter-tip-mass-signs",
}
ALWAYS_URGENT = {
    "respiratory-depression",
    "confusion-or-hallucinations",
    "baclofen-withdrawal-signs",
    "pump-failure",
    "infection",
    "catheter-tip-mass-signs",
}


def test_the_checklist_holds_the_items_of_the_brief() -> None:
    assert {k for k, v in ADVERSE_EVENTS.items() if v.kind == "drug-effect"} == DRUG_EFFECTS
    assert {k for k, v in ADVERSE_EVENTS.items() if v.kind == "device-complication"} == DEVICE_COMPLICATIONS


@pytest.mark.parametrize("item", sorted(DRUG_EFFECTS | DEVICE_COMPLICATIONS))
def test_urgency_by_grade_without_special_drugs(item: str) -> None:
    urgent_at = {g: adverse_event_flags([AdverseEvent(item, g)])[0].urgent for g in range(1, 6)}
    if item in ALWAYS_URGENT:
        assert urgent_at == {1: True, 2: True, 3: True, 4: True, 5: True}
    elif item == "sedation":
        assert urgent_at == {1: False, 2: True, 3: True, 4: True, 5: True}
    else:
        assert urgent_at == {1: False, 2: False, 3: True, 4: True, 5: True}


def test_messages_and_sources() -> None:
    flags = adverse_event_flags(
        [AdverseEvent("nausea", 2), AdverseEvent("respiratory-depression", 1), AdverseEvent("vomiting", 5)]
    )
    assert [f.code for f in flags] == [
        "adverse-event.respiratory-depression",
        "adverse-event.vomiting",
        "adverse-event.nausea",
    ]  # urgent first, then in recorded order
    assert flags[0].message.startswith("URGENT: respiratory depression (grade 1, mild): ")
    assert flags[0].citation is not None and flags[0].citation.source == "infumorph-label"
    assert flags[1].message == "vomiting (grade 5, death): report as a serious adverse event"
    assert flags[2].message == "nausea (grade 2, moderate): review at this visit"


@pytest.mark.parametrize(
    ("item", "withdrawal", "psychiatric", "urgent"),
    [
        ("pruritus", ("baclofen",), (), True),  # itching without rash: an early withdrawal sign
        ("pruritus", (), (), False),
        ("muscle-spasm", ("baclofen",), (), True),
        ("catheter-occlusion", ("baclofen",), (), True),
        ("catheter-migration", ("baclofen",), (), True),
        ("catheter-occlusion", (), (), False),
        ("depression", (), ("ziconotide",), True),
        ("anxiety", (), ("ziconotide",), True),
        ("depression", ("baclofen",), (), False),
        ("nausea", ("baclofen",), ("ziconotide",), False),
    ],
)
def test_urgency_depends_on_the_drugs_in_the_pump(
    item: str, withdrawal: tuple[str, ...], psychiatric: tuple[str, ...], urgent: bool
) -> None:
    (flag,) = adverse_event_flags(
        [AdverseEvent(item, 1)], withdrawal_risk_drugs=withdrawal, psychiatric_risk_drugs=psychiatric
    )
    assert flag.urgent == urgent


def test_grade_0_means_asked_and_absent() -> None:
    assert adverse_event_flags([AdverseEvent("nausea", 0), AdverseEvent("infection", 0)]) == ()


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([AdverseEvent("headache", 1)], "adverse_events[0].item"),
        ([AdverseEvent("nausea", 1), AdverseEvent("edema", 6)], "adverse_events[1].grade"),
        ([AdverseEvent("nausea", 1), AdverseEvent("nausea", 2)], "adverse_events[1].item"),
        ([("nausea", 1)], "adverse_events[0]"),
    ],
)
def test_adverse_event_bad_input(events: Any, field: str) -> None:
    with pytest.raises(InputError) as err:
        adverse_event_flags(events)
    assert err.value.field == field


# --- a whole visit ------------------------------------------------------------------------------------------------


def test_a_visit_gathers_every_flag_urgent_first_and_reads_drugs_from_the_library() -> None:
    visit = FollowUpVisit(
        drugs=("ziconotide", "morphine"),
        nrs=4,
        baseline_nrs=8,
        oswestry=(2, 2, 2, 2, 2, 2, 2, 2, 2, 2),
        phq9=(1, 1, 0, 0, 0, 0, 0, 0, 2),
        adverse_events=(AdverseEvent("nausea", 1), AdverseEvent("depression", 1)),
    )
    a = assess_follow_up(visit, library=LIBRARY)
    assert a.pain is not None and a.pain.relief == Fraction(1, 2)
    assert a.oswestry is not None and a.oswestry.percent == 40
    assert a.phq9 is not None and a.phq9.total == 4
    assert [(f.code, f.urgent) for f in a.flags] == [
        ("phq9.item-9", True),
        ("adverse-event.depression", True),  # ziconotide: psychiatric symptoms
        ("adverse-event.nausea", False),
    ]
    assert "ziconotide in the pump" in a.flags[0].message
    assert [f.code for f in a.urgent] == ["phq9.item-9", "adverse-event.depression"]
    doc = a.as_json()
    assert doc["oswestry"]["percent"] == 40.0 and doc["oswestry"]["band"] == "moderate"
    assert doc["pain"]["relief_percent"] == 50.0


def test_a_baclofen_visit() -> None:
    visit = FollowUpVisit(
        drugs=("baclofen",),
        ashworth="3",
        previous_ashworth="2",
        penn_frequency=3,
        penn_severity=2,
        adverse_events=(AdverseEvent("pruritus", 1),),
    )
    a = assess_follow_up(visit, library=LIBRARY)
    assert [(f.code, f.urgent) for f in a.flags] == [("ashworth.rise", True), ("adverse-event.pruritus", True)]
    assert a.penn is not None and a.penn.frequency == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"drugs": ("morfine",)}, "drugs[0]"),
        ({"previous_ashworth": "2"}, "ashworth"),
        ({"penn_severity": 2}, "penn_frequency"),
        ({"baseline_nrs": 14}, "baseline_nrs"),
        ({"phq9": (0,) * 10}, "phq9"),
    ],
)
def test_visit_bad_input_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        assess_follow_up(FollowUpVisit(**changes), library=LIBRARY)
    assert err.value.field == field
