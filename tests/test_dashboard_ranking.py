"""The dashboard's ranking: worked out once, it holds until the first threshold any patient crosses (a refill
falling due or coming within 7 days, a replacement's plan-by date passing or coming within 30 days, a critical alarm
projected within 7 days, the microsecond after a
withdrawal-risk patient's refill falls due). Every instant in between must give the rows a fresh ranking gives,
and the first rows only (`limit`) must be the first rows of the whole list.

The patients are drawn with their instants bunched around `now`, `now` ± 7 days and ± 30 days, a few minutes or
microseconds
apart, so that thresholds, ties and level changes are everywhere; each threshold is probed, with the microseconds
either side of it (leaving any one of the thresholds out of the ranking's `until` fails this test)."""

from __future__ import annotations

import random

from openidds.clinic.dashboard import (
    DUE_SOON_US,
    REPLACEMENT_SOON_US,
    ActiveAlarm,
    DashboardRow,
    PatientSnapshot,
    ProjectedAlarm,
    rank,
    triage,
)
from openidds.programs.clock import MINUTE_US

NOW = 1_800_000_000_000_000  # 2027-01-15 08:00 UTC


def _instant(rng: random.Random) -> int | None:
    base = rng.choice([NOW, NOW + DUE_SOON_US, NOW - DUE_SOON_US, NOW + REPLACEMENT_SOON_US, NOW - REPLACEMENT_SOON_US])
    return rng.choice([None, base + rng.randint(-2, 2), base + rng.randint(-3, 3) * MINUTE_US])


def _patient(rng: random.Random, number: int) -> PatientSnapshot:
    alarms = tuple(ActiveAlarm("empty-reservoir", "critical") for _ in range(rng.choice([0, 0, 1])))
    projected = tuple(
        ProjectedAlarm("empty-reservoir", rng.choice(["critical", "non-critical"]), at)
        for at in (_instant(rng) for _ in range(rng.choice([0, 1, 2])))
        if at is not None
    )
    flags = ("respiratory depression (grade 3)",) * rng.choice([0, 0, 0, 1])
    return PatientSnapshot(f"P{number:03d}", _instant(rng), rng.random() < 0.5, alarms, projected, _instant(rng), flags)


def _seen(rows: list[DashboardRow]) -> list[tuple[object, ...]]:
    return [(r.patient_id, r.refill, r.urgency, r.withdrawal_risk, r.concerns) for r in rows]


def test_a_ranking_holds_until_the_first_threshold() -> None:
    probed = 0
    for seed in range(600):
        rng = random.Random(seed)
        patients = [_patient(rng, i) for i in range(rng.randint(1, 25))]
        now = rng.choice([NOW, NOW + DUE_SOON_US, NOW - DUE_SOON_US, NOW - REPLACEMENT_SOON_US]) + rng.choice(
            [rng.randint(-3, 3), rng.randint(-3, 3) * MINUTE_US]
        )
        ranking = rank(patients, now)
        assert ranking.at == now < ranking.until
        assert sorted(ranking.order) == list(range(len(patients)))
        probes = {now, now + 1}
        for p in patients:
            for at in (p.next_refill_due, p.replacement_due, *(a.at for a in p.projected_alarms)):
                if at is not None:
                    ahead = REPLACEMENT_SOON_US if at == p.replacement_due else DUE_SOON_US
                    for threshold in (at - ahead, at - DUE_SOON_US, at):
                        probes |= {threshold - 1, threshold, threshold + 1}
        for t in sorted(x for x in probes if ranking.holds(x)):
            fresh = _seen(triage(patients, t))
            assert _seen(triage(patients, t, None, ranking)) == fresh, (seed, t - now)
            assert _seen(triage(patients, t, 3, ranking)) == fresh[:3], (seed, t - now)
            probed += 1
        if ranking.until < 1 << 62:  # past `until` the ranking is not used: the rows are ranked again
            t = ranking.until
            assert _seen(triage(patients, t, None, ranking)) == _seen(triage(patients, t))
    assert probed > 1000


def test_the_first_rows_are_the_first_rows_of_the_whole_list() -> None:
    for seed in range(200):
        rng = random.Random(seed)
        patients = [_patient(rng, i) for i in range(rng.randint(0, 30))]
        rows = _seen(triage(patients, NOW))
        for limit in (0, 1, 5, 30, 100):
            assert _seen(triage(patients, NOW, limit)) == rows[:limit]
