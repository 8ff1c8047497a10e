"""Dashboard: refill status with its reason, and the urgency order, each case worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openidds.clinic.dashboard import (
    ActiveAlarm,
    PatientSnapshot,
    ProjectedAlarm,
    concerns,
    refill_status,
    triage,
)
from openidds.errors import InputError
from openidds.programs.clock import to_us

NOW = to_us(datetime(2027, 1, 15, 8, 0, tzinfo=UTC))
MIN = 60 * 1_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("due", "status", "reason"),
    [
        (NOW, "overdue", "refill overdue by less than a minute (due 2027-01-15 08:00 UTC)"),
        (NOW - DAY - 3 * HOUR, "overdue", "refill overdue by 1 day 3 h (due 2027-01-14 05:00 UTC)"),
        (NOW - 3 * DAY, "overdue", "refill overdue by 3 days (due 2027-01-12 08:00 UTC)"),
        (NOW + 45 * MIN, "due-soon", "refill due in 45 min (2027-01-15 08:45 UTC)"),
        (NOW + 7 * DAY, "due-soon", "refill due in 7 days (2027-01-22 08:00 UTC)"),  # 7 days counts as soon
        (NOW + 7 * DAY + 1, "later", "refill due in 7 days (2027-01-22 08:00 UTC)"),
        (NOW + 30 * DAY + 2 * HOUR + 5 * MIN, "later", "refill due in 30 days 2 h (2027-02-14 10:05 UTC)"),
        (None, "none", "no refill date (no filled pump)"),
    ],
)
def test_refill_status(due: int | None, status: str, reason: str) -> None:
    assert refill_status(due, NOW) == (status, reason)


def _order(patients: list[PatientSnapshot]) -> list[tuple[str, str]]:
    return [(row.patient_id, row.urgency) for row in triage(patients, NOW)]


PATIENTS = [
    PatientSnapshot("M", NOW + 30 * DAY),
    PatientSnapshot("K", NOW + 2 * DAY),
    PatientSnapshot("N", None),
    PatientSnapshot("E", NOW - DAY),
    PatientSnapshot(
        "B", NOW + 20 * DAY, withdrawal_risk=True, active_alarms=(ActiveAlarm("empty-reservoir", "critical"),)
    ),
    PatientSnapshot("L", NOW + 40 * DAY, replacement_due=NOW + 3 * DAY),
    PatientSnapshot("C", NOW + 20 * DAY, urgent_flags=("respiratory depression (grade 1)",)),
    PatientSnapshot("J", NOW + 6 * DAY, withdrawal_risk=True),
    PatientSnapshot("G", NOW + 10 * DAY, active_alarms=(ActiveAlarm("low-reservoir", "non-critical"),)),
    PatientSnapshot("A", NOW - 2 * HOUR, withdrawal_risk=True),
    PatientSnapshot(
        "I", NOW + 20 * DAY, projected_alarms=(ProjectedAlarm("empty-reservoir", "critical", NOW + 5 * DAY),)
    ),
    PatientSnapshot("F", NOW - 3 * DAY),
    PatientSnapshot("D", NOW + 20 * DAY, active_alarms=(ActiveAlarm("motor-stall", "critical"),)),
    PatientSnapshot("H", NOW + 20 * DAY, replacement_due=NOW - DAY),
]

EXPECTED_ORDER = [
    ("A", "withdrawal-risk"),  # baclofen overdue 2 h (its due instant is earlier than B's alarm, now)
    ("B", "withdrawal-risk"),  # baclofen pump with a critical alarm
    ("C", "urgent-flag"),
    ("D", "critical-alarm"),
    ("F", "refill-overdue"),  # 3 days overdue before 1 day overdue
    ("E", "refill-overdue"),
    ("G", "alarm"),
    ("H", "replacement-overdue"),
    ("I", "projected-critical"),
    ("J", "refill-due-soon"),  # baclofen first within the level, though due later than K
    ("K", "refill-due-soon"),
    ("L", "replacement-due-soon"),
    ("M", "later"),
    ("N", "later"),  # no refill date sorts last
]


def test_urgency_order() -> None:
    assert _order(PATIENTS) == EXPECTED_ORDER


def test_reasons_are_shown_in_words() -> None:
    rows = {r.patient_id: r for r in triage(PATIENTS, NOW)}
    assert [c.message for c in rows["A"].concerns] == [
        "withdrawal risk (baclofen): refill overdue by 2 h (due 2027-01-15 06:00 UTC): restore delivery before "
        "withdrawal starts"
    ]
    assert rows["A"].reasons[0].citation is not None and rows["A"].reasons[0].citation.source == "baclofen-label"
    assert [c.message for c in rows["B"].concerns] == [
        "withdrawal risk (baclofen): critical alarm: empty-reservoir: restore delivery before withdrawal starts"
    ]
    assert [c.message for c in rows["I"].concerns] == [
        "critical alarm empty-reservoir projected in 5 days (2027-01-20 08:00 UTC)"
    ]
    assert [c.message for c in rows["H"].concerns] == [
        "pump replacement: plan it now (planned by 2027-01-14 08:00 UTC)"
    ]
    assert [c.message for c in rows["N"].concerns] == ["no refill date (no filled pump)"]
    assert rows["E"].as_json() == {
        "patient_id": "E",
        "refill": "overdue",
        "urgency": "refill-overdue",
        "withdrawal_risk": False,
        "reasons": [
            {"code": "dashboard.refill-overdue", "message": "refill overdue by 1 day (due 2027-01-14 08:00 UTC)"}
        ],
    }


def test_every_concern_is_listed_most_urgent_first() -> None:
    p = PatientSnapshot(
        "P",
        NOW - HOUR,
        active_alarms=(ActiveAlarm("low-reservoir", "non-critical"),),
        urgent_flags=("PHQ-9 item 9 answered 'several days'",),
    )
    refill, found = concerns(p, NOW)
    assert refill == "overdue"
    assert [c.level for c in found] == ["urgent-flag", "refill-overdue", "alarm"]


@pytest.mark.parametrize(
    ("alarm", "listed"),
    [
        (ProjectedAlarm("empty-reservoir", "critical", NOW - MIN), "critical alarm empty-reservoir projected now"),
        (ProjectedAlarm("empty-reservoir", "critical", NOW + 7 * DAY), "critical alarm empty-reservoir projected in 7"),
        (ProjectedAlarm("empty-reservoir", "critical", NOW + 8 * DAY), None),  # beyond the 7-day look-ahead
        (ProjectedAlarm("low-reservoir", "non-critical", NOW + DAY), None),  # only critical alarms are projected
    ],
)
def test_projected_alarms(alarm: ProjectedAlarm, listed: str | None) -> None:
    _, found = concerns(PatientSnapshot("P", NOW + 30 * DAY, projected_alarms=(alarm,)), NOW)
    if listed is None:
        assert [c.level for c in found] == ["later"]
    else:
        assert found[0].level == "projected-critical" and found[0].message.startswith(listed)


@pytest.mark.parametrize(
    ("patients", "now", "field"),
    [
        ([PatientSnapshot("P", NOW)], datetime(2027, 1, 15, tzinfo=UTC), "now"),
        ([PatientSnapshot("P", 1.5)], NOW, "next_refill_due"),  # type: ignore[arg-type]
        ([PatientSnapshot("P", NOW), PatientSnapshot("P", NOW)], NOW, "patients[1].patient_id"),
        ([PatientSnapshot("", NOW)], NOW, "patients[0].patient_id"),
        ([PatientSnapshot("P", NOW, active_alarms=(ActiveAlarm("x", "high"),))], NOW, "active_alarms[0]"),  # type: ignore[arg-type]
        ([PatientSnapshot("P", NOW, urgent_flags=("",))], NOW, "urgent_flags[0]"),
        ([PatientSnapshot("P", NOW, replacement_due=True)], NOW, "replacement_due"),
        ([PatientSnapshot("P", NOW, withdrawal_risk=None)], NOW, "withdrawal_risk"),  # type: ignore[arg-type]
        (
            [PatientSnapshot("P", NOW, projected_alarms=(ProjectedAlarm("x", "critical", "soon"),))],  # type: ignore[arg-type]
            NOW,
            "projected_alarms[0].at",
        ),
    ],
)
def test_bad_input_names_the_field(patients: list[PatientSnapshot], now: object, field: str) -> None:
    with pytest.raises(InputError) as err:
        triage(patients, now)  # type: ignore[arg-type]
    assert err.value.field == field


LEVELS = [
    "withdrawal-risk",
    "urgent-flag",
    "critical-alarm",
    "refill-overdue",
    "alarm",
    "replacement-overdue",
    "projected-critical",
    "refill-due-soon",
    "replacement-due-soon",
    "later",
]

snapshots = st.builds(
    PatientSnapshot,
    patient_id=st.text("abcdef", min_size=1, max_size=3),
    next_refill_due=st.one_of(st.none(), st.integers(NOW - 10 * DAY, NOW + 20 * DAY)),
    withdrawal_risk=st.booleans(),
    active_alarms=st.lists(
        st.builds(ActiveAlarm, name=st.just("a"), priority=st.sampled_from(["critical", "non-critical"])), max_size=2
    ).map(tuple),
    replacement_due=st.one_of(st.none(), st.integers(NOW - 10 * DAY, NOW + 20 * DAY)),
    urgent_flags=st.lists(st.just("flag"), max_size=1).map(tuple),
)


@given(st.lists(snapshots, max_size=8, unique_by=lambda p: p.patient_id), st.randoms())
def test_triage_is_ordered_and_independent_of_input_order(patients: list[PatientSnapshot], rnd: object) -> None:
    rows = triage(patients, NOW)
    levels = [LEVELS.index(r.urgency) for r in rows]
    assert levels == sorted(levels)
    shuffled = list(patients)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert [r.patient_id for r in triage(shuffled, NOW)] == [r.patient_id for r in rows]
    for r, p in ((r, next(p for p in patients if p.patient_id == r.patient_id)) for r in rows):
        overdue = p.next_refill_due is not None and p.next_refill_due <= NOW
        critical = any(a.priority == "critical" for a in p.active_alarms)
        assert (r.urgency == "withdrawal-risk") == (p.withdrawal_risk and (overdue or critical))
