"""The twin against two independent references (benchmarks/twin_reference.py): a 1-minute time-stepping loop and a
SimPy discrete-event model, neither of which uses the twin or the core's closed-form integrals.

The issue's invariant: the closed-form result equals a 1-minute time-stepping reference within 1 µL over a simulated
year with flex steps, remote boluses, refills and a DST change. The SimPy model integrates exactly, so it must equal
the twin to the bit. The references themselves are checked first against numbers worked by hand.
"""

from collections import Counter
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from benchmarks.twin_reference import (
    LOW,
    MINUTE_US,
    TOLERANCE_ML,
    Summary,
    minute_stepping,
    poisson_requests,
    pump_year,
    simpy_model,
    twin_summary,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from openidds.programs.clock import DAY_US, HOUR_US, to_us
from openidds.twin import Refill, RemoteRequest
from tests.programs import program

F = Fraction
BOLUS = {"volume": "0.02 mL", "duration": "10 min", "lockout": "4 h", "max_per_day": 3}
FLEX = {
    "mode": "flex",
    "steps": [
        {"at": "00:00", "rate": "0.40 mL/day"},
        {"at": "07:00", "rate": "0.60 mL/day"},
        {"at": "22:00", "rate": "0.40 mL/day"},
    ],
}
# Steps inside the skipped hour (spring) and the repeated hour (fall) of Sunday, plus one across the week.
WEEK = {
    "mode": "flex",
    "period": "week",
    "steps": [
        {"day": "mon", "at": "00:00", "rate": "0.40 mL/day"},
        {"day": "sun", "at": "01:30", "rate": "0.70 mL/day"},
        {"day": "sun", "at": "02:30", "rate": "0.30 mL/day"},
        {"day": "sun", "at": "05:00", "rate": "0.50 mL/day"},
    ],
}
MODELS = [minute_stepping, simpy_model]


def z(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


def assert_matches(twin: Summary, ref: Summary, *, exact: bool) -> None:
    """Same decisions; alarms exact, or up to one minute late from the 1-minute reference; volumes exact or 1 µL."""
    assert ref.decisions == twin.decisions
    assert [a[0] for a in ref.alarms] == [a[0] for a in twin.alarms]
    for (_, ours), (_, theirs) in zip(ref.alarms, twin.alarms, strict=True):
        assert ours == theirs if exact else 0 <= ours - theirs < MINUTE_US
    tolerance = F(0) if exact else TOLERANCE_ML
    assert abs(ref.reservoir - twin.reservoir) <= tolerance
    assert abs(ref.outlet_volume - twin.outlet_volume) <= tolerance
    assert ref.samples.keys() == twin.samples.keys() and twin.samples  # every caller asks for samples
    for at, (reservoir, outlet) in twin.samples.items():
        assert abs(ref.samples[at][0] - reservoir) <= tolerance, at
        assert abs(ref.samples[at][1] - outlet) <= tolerance, at


# --- the references against numbers worked by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fill", "midnights", "expected"),
    [
        # 2027-03-14, Chicago: 23 h; the skipped hour ran at 0.4 mL/day, so 0.525 − 0.4/24 mL (README).
        ("2027-03-13T09:00", (z(2027, 3, 14, 6), z(2027, 3, 15, 5)), F("0.525") - F("0.4") / 24),
        # 2026-11-01: 25 h; the repeated hour runs at 0.4 mL/day again: 0.525 + 0.4/24 mL.
        ("2026-10-31T09:00", (z(2026, 11, 1, 5), z(2026, 11, 2, 6)), F("0.525") + F("0.4") / 24),
    ],
)
def test_references_and_twin_on_the_clock_change_days(fill: str, midnights: tuple[int, int], expected: Fraction):
    p = program(program=FLEX, reservoir__filled_at=fill)
    until = midnights[1] + HOUR_US
    for run in [*MODELS, twin_summary]:
        got = run(p, [], until, midnights)
        assert got.samples[midnights[0]][0] - got.samples[midnights[1]][0] == expected, run.__name__
        assert got.samples[midnights[1]][1] - got.samples[midnights[0]][1] == expected, run.__name__


@pytest.mark.parametrize(("early_us", "accepted"), [(1, True), (0, False)])
@pytest.mark.parametrize("run", [*MODELS, twin_summary])
def test_a_request_at_the_low_level(run, early_us: int, accepted: bool):
    # 0.5 mL/day from 2.2 mL reaches the 2 mL level after 0.2 mL: 9.6 h = 9 h 36 min after 15:00Z. One µs earlier a
    # request is granted (its bolus only hastens the crossing, which still falls within that µs); at the instant
    # itself the reservoir is at the level and the request is denied. The alarm sounds at 2026-11-22 00:36Z.
    p = program(reservoir__volume="2.2 mL", patient_bolus=BOLUS)
    level_at = z(2026, 11, 22, 0, 36)
    until = z(2026, 11, 22, 15)
    got = run(p, [RemoteRequest(level_at - early_us)], until)
    reason = "dose given" if accepted else LOW
    assert got.decisions == [(level_at - early_us, accepted, reason)]
    assert got.alarms == [("low-reservoir", level_at)]
    assert got.reservoir == F("2.2") - F("0.5") - (F("0.02") if accepted else 0)  # one day, and the bolus


# --- the twin against the references ----------------------------------------------------------------------------


@pytest.mark.parametrize("fill", ["2027-03-10T09:00", "2027-11-03T09:00"])
def test_week_program_across_a_clock_change(fill: str):
    p = program(program=WEEK, patient_bolus=BOLUS, reservoir__filled_at=fill, reservoir__volume="6 mL")
    start = to_us(p.reservoir.filled_at)
    until = start + 8 * DAY_US
    events = poisson_requests(6, 11, start, until)
    samples = [start + k * DAY_US + 7 * HOUR_US for k in range(8)]
    twin = twin_summary(p, events, until, samples)
    assert_matches(twin, simpy_model(p, events, until, samples), exact=True)
    assert_matches(twin, minute_stepping(p, events, until, samples), exact=False)


ShortRun = tuple[dict[str, object], list[int], list[tuple[int, str]], int]  # overrides, requests, refills, length


@st.composite
def short_runs(draw: st.DrawFn) -> ShortRun:
    """A few days of a random week program near a clock change, dense requests, refills (some below the level)."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    slots = draw(st.lists(st.integers(0, 7 * 96 - 1), min_size=1, max_size=6, unique=True))
    rates = draw(
        st.lists(st.sampled_from(["0", "0.1", "0.45", "0.9", "2.3"]), min_size=len(slots), max_size=len(slots))
    )
    steps = [
        {"day": days[x // 96], "at": f"{x % 96 // 4:02d}:{x % 4 * 15:02d}", "rate": f"{r} mL/day"}
        for x, r in zip(sorted(slots), rates, strict=True)
    ]
    overrides: dict[str, object] = {
        "program": {"mode": "flex", "period": "week", "steps": steps},
        "reservoir__filled_at": draw(st.sampled_from(["2027-03-12T09:00", "2027-11-06T22:30"])),
        "reservoir__volume": draw(st.sampled_from(["2.05 mL", "2.5 mL", "4 mL"])),
        # Lockout at least the bolus's duration: a shorter one blocks the remote, which the references leave out.
        "patient_bolus": {
            "volume": draw(st.sampled_from(["0.02 mL", "0.1 mL"])),
            "duration": draw(st.sampled_from(["7 min", "1 h"])),
            "lockout": draw(st.sampled_from(["1 h", "4 h"])),
            "max_per_day": draw(st.integers(1, 6)),
        },
    }
    requests = draw(st.lists(st.integers(0, 4 * DAY_US), max_size=60))  # µs after the fill
    refills = draw(st.lists(st.tuples(st.integers(0, 4 * DAY_US), st.sampled_from(["1", "2", "3"])), max_size=3))
    return overrides, requests, refills, 4 * DAY_US


@settings(max_examples=25, deadline=None)
@given(short_runs())
def test_short_runs_twin_equals_the_simpy_model_exactly(run: ShortRun):
    overrides, requests, refills, length = run
    p = program(**overrides)
    start = to_us(p.reservoir.filled_at)
    events = sorted(
        [*(RemoteRequest(start + dt) for dt in requests), *(Refill(start + dt, F(v)) for dt, v in refills)],
        key=lambda e: e.at,
    )
    samples = [start + length // 3, start + 2 * length // 3]
    twin = twin_summary(p, events, start + length, samples)
    assert_matches(twin, simpy_model(p, events, start + length, samples), exact=True)


@pytest.fixture(scope="module")
def year():
    p, events, until = pump_year()
    start = to_us(p.reservoir.filled_at)
    # Every 15 days at an odd hour, and the middle of both clock-change days.
    samples = [start + k * 15 * DAY_US + 7 * HOUR_US + 13 * MINUTE_US for k in range(1, 25)]
    samples += [z(2027, 3, 14, 12), z(2027, 11, 7, 12)]
    return p, events, until, samples, twin_summary(p, events, until, samples)


def test_the_year_covers_what_it_should(year):
    # If a new seed or program made the year trivial, the comparisons below would prove little.
    p, events, until, _, twin = year
    start = to_us(p.reservoir.filled_at)
    assert start < z(2027, 3, 14, 8) < z(2027, 11, 7, 7) < until  # both clock changes
    reasons = Counter(r.split(":")[0] for _, _, r in twin.decisions)
    assert {
        "dose given",
        "lockout",
        "daily maximum of 3 reached",
        LOW.split(":")[0],
        "the reservoir is empty",
    } <= reasons.keys()
    assert [name for name, _ in twin.alarms] == ["low-reservoir", "empty-reservoir"]
    assert 1200 < len(events) < 1700


def test_the_year_twin_equals_the_one_minute_reference_within_one_microlitre(year):
    p, events, until, samples, twin = year
    assert_matches(twin, minute_stepping(p, events, until, samples), exact=False)


def test_the_year_twin_equals_the_simpy_model_exactly(year):
    p, events, until, samples, twin = year
    assert_matches(twin, simpy_model(p, events, until, samples), exact=True)
