"""Closed-form delivery: hand-worked values, DST days in two zones, ten-year exactness, and properties."""

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openidds.programs.clock import DAY_US, HOUR_US, MINUTE_US, WEEK_US, to_us
from openidds.programs.delivery import Bolus, DeliveryProfile
from openidds.programs.schedule import RateSchedule, Step
from openidds.quantities import Quantity

F = Fraction
CHICAGO, BERLIN, NEW_YORK = ZoneInfo("America/Chicago"), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def flex_day() -> RateSchedule:
    # The example: 0.40 mL/day 00:00-07:00, 0.60 07:00-22:00, 0.40 22:00-24:00.
    return RateSchedule(DAY_US, (Step(0, F("0.4")), Step(7 * HOUR_US, F("0.6")), Step(22 * HOUR_US, F("0.4"))))


def ml(value: str) -> Quantity:
    return Quantity.of(value, "mL")


def test_daily_volume_of_the_example():
    # 0.4 × 9/24 + 0.6 × 15/24 = 0.15 + 0.375 = 0.525 mL
    assert flex_day().total / DAY_US == F("0.525")


def test_projection_of_the_example_by_hand():
    p = DeliveryProfile(flex_day(), CHICAGO)
    filled = utc(2026, 11, 21, 15)  # 09:00 CST
    # 72 whole days give 37.8 mL at 09:00 CST on 2027-02-01; 0.2 mL more at 0.6 mL/day takes 8 h → 17:00 CST.
    assert p.time_when_delivered(filled, ml("38")) == utc(2027, 2, 1, 23)
    # 76 days give 39.9 mL; 0.1 mL at 0.6 mL/day takes 4 h → 13:00 CST.
    assert p.time_when_delivered(filled, ml("40")) == utc(2027, 2, 5, 19)
    # Worst case +0.06 mL/day: 64 days give 37.44 mL (2027-01-24 09:00 CST); 09:00-22:00 at 0.66 adds 0.3575,
    # 22:00-07:00 at 0.46 adds 0.1725 (37.97 mL); the last 0.03 mL at 0.66 mL/day takes 1/22 day = 1 h 5 min
    # 27.2727 s → 2027-01-25 08:05:27.2727 CST, ceiled to the microsecond.
    worst = p.with_extra_rate(F("0.06"))
    assert worst.time_when_delivered(filled, ml("38")) == utc(2027, 1, 25, 14, 5, 27, 272728)
    assert p.delivered(filled, utc(2027, 2, 1, 23)) == ml("38")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Chicago spring forward 2027-03-14: 02:00 CST → 03:00 CDT. The day has 23 h; wall hour 02-03 at 0.4 is
        # skipped: 0.525 − 0.4/24 = 61/120 mL.
        (utc(2027, 3, 14, 6), utc(2027, 3, 15, 5), F(61, 120)),
        # Chicago fall back 2026-11-01: 02:00 CDT → 01:00 CST. 25 h; wall hour 01-02 at 0.4 runs twice: 65/120.
        (utc(2026, 11, 1, 5), utc(2026, 11, 2, 6), F(65, 120)),
        # An ordinary day: 0.525 mL.
        (utc(2026, 11, 21, 6), utc(2026, 11, 22, 6), F("0.525")),
    ],
)
def test_dst_days_chicago(start, end, expected):
    assert DeliveryProfile(flex_day(), CHICAGO).delivered(start, end).to("mL") == expected


def berlin_schedule() -> RateSchedule:
    # A step inside the spring-forward gap: 0.2 from 00:00, 1.0 from 02:30, 0.2 from 06:00.
    return RateSchedule(DAY_US, (Step(0, F("0.2")), Step(150 * MINUTE_US, F(1)), Step(6 * HOUR_US, F("0.2"))))


def test_dst_days_berlin_with_a_step_in_the_gap():
    p = DeliveryProfile(berlin_schedule(), BERLIN)
    # Ordinary day: 0.2 × 20.5 h + 1.0 × 3.5 h = 7.6 mL·h/day → 7.6/24 mL.
    assert p.delivered(utc(2027, 1, 9, 23), utc(2027, 1, 10, 23)).to("mL") == F("7.6") / 24
    # Spring forward 2027-03-28 02:00 CET → 03:00 CEST: wall 02:00-03:00 (0.5 h at 0.2 + 0.5 h at 1.0 = 0.6) skipped.
    day_start, day_end = utc(2027, 3, 27, 23), utc(2027, 3, 28, 22)
    assert p.delivered(day_start, day_end).to("mL") == F("7.0") / 24
    # The 02:30 step takes effect when the clock jumps to 03:00 CEST (01:00Z): 0.2 before, 1.0 after.
    assert p.delivered(day_start, utc(2027, 3, 28, 1)).to("mL") == F("0.4") / 24
    assert p.delivered(utc(2027, 3, 28, 1), utc(2027, 3, 28, 2)).to("mL") == F(1) / 24
    # Fall back 2026-10-25 03:00 CEST → 02:00 CET: wall 02:00-03:00 runs twice: 8.2/24 mL.
    assert p.delivered(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)).to("mL") == F("8.2") / 24


def test_ten_years_exact():
    # From 09:00 CST to 09:00 CST ten years on: 3653 days (three leap days). Each year's spring-forward skips a
    # 0.4 mL/day hour and the fall-back repeats one: they cancel, so exactly 3653 × 0.525 = 1917.825 mL.
    p = DeliveryProfile(flex_day(), CHICAGO)
    got = p.delivered(utc(2026, 11, 21, 15), utc(2036, 11, 21, 15)).to("mL")
    assert got == F("1917.825")
    assert abs(float(got) - 1917.825) / 1917.825 < 1e-9


def minute_reference(schedule_steps, zone, start: datetime, end: datetime) -> Fraction:
    """Independent 1-minute stepping: the rate at each minute from the local wall clock via zoneinfo."""
    total, t = F(0), start
    while t < end:
        local = t.astimezone(zone)
        pos = (
            (local.weekday() * 1440 + local.hour * 60 + local.minute)
            if len(schedule_steps[0]) == 3
            else (local.hour * 60 + local.minute)
        )
        rate = schedule_steps[-1][-1]
        for step in schedule_steps:
            key = step[0] * 1440 + step[1] if len(step) == 3 else step[0]
            if key <= pos:
                rate = step[-1]
        total += rate / 1440
        t += timedelta(minutes=1)
    return total


@pytest.mark.parametrize(
    ("zone", "start", "end"),
    [
        (CHICAGO, utc(2027, 3, 12, 17, 3), utc(2027, 3, 16, 1, 41)),  # across spring forward
        (BERLIN, utc(2026, 10, 23, 4, 0), utc(2026, 10, 26, 20, 30)),  # across fall back
    ],
)
def test_matches_one_minute_stepping_across_dst(zone, start, end):
    # Steps and clock changes sit on whole minutes, so the minute-stepped sum is exact, not approximate.
    steps_min = [(0, F("0.4")), (7 * 60, F("0.6")), (22 * 60 + 30, F("0.45"))]
    sched = RateSchedule(DAY_US, tuple(Step(m * MINUTE_US, r) for m, r in steps_min))
    p = DeliveryProfile(sched, zone)
    assert p.delivered_ml(to_us(start), to_us(end)) == minute_reference(steps_min, zone, start, end)


def test_week_schedule_across_spring_forward():
    # Mon-Fri 0.12, Sat-Sun 0.10 mL/day from Monday 2027-03-01 09:00 EST. 16 mL is 20 weeks, less the skipped
    # Sunday hour (0.1/24 mL), made up at 0.12 mL/day in 50 minutes → 2027-07-19 09:50 EDT (13:50Z).
    sched = RateSchedule(WEEK_US, (Step(0, F("0.12")), Step(5 * DAY_US, F("0.10"))))
    p = DeliveryProfile(sched, NEW_YORK)
    assert p.time_when_delivered(utc(2027, 3, 1, 14), ml("16")) == utc(2027, 7, 19, 13, 50)
    least, most = sched.window_extremes(DAY_US)
    assert (least / DAY_US, most / DAY_US) == (F("0.10"), F("0.12"))


def test_bolus_on_top():
    p = DeliveryProfile(
        RateSchedule.constant(F("0.48")),
        ZoneInfo("UTC"),
        boluses=(Bolus(to_us(utc(2027, 1, 1, 12)), F("0.1"), 10 * MINUTE_US),),
    )
    # 1 h at 0.48 mL/day = 0.02 mL, plus the whole 0.1 mL bolus.
    assert p.delivered(utc(2027, 1, 1, 11, 30), utc(2027, 1, 1, 12, 30)).to("mL") == F("0.12")
    # Half the bolus window: 5 min at 0.48 mL/day (1/600 mL) + 0.05 mL.
    assert p.delivered(utc(2027, 1, 1, 12), utc(2027, 1, 1, 12, 5)).to("mL") == F(1, 600) + F("0.05")
    # Inverse inside the bolus: 0.05 mL + base 1/600 mL is reached exactly at 12:05.
    assert p.time_when_delivered(utc(2027, 1, 1, 12), ml("0.05") + Quantity.of(F(1, 600), "mL")) == utc(
        2027, 1, 1, 12, 5
    )


def test_nothing_delivered_never_arrives():
    p = DeliveryProfile(RateSchedule.constant(F(0)), CHICAGO)
    assert p.time_when_delivered(utc(2027, 1, 1), ml("1")) is None
    assert p.time_when_delivered(utc(2027, 1, 1), ml("0")) == utc(2027, 1, 1)


# --- properties ----------------------------------------------------------------------------------------------
ZONES = [ZoneInfo(z) for z in ("America/Chicago", "Europe/Berlin", "Australia/Sydney", "UTC", "Asia/Kolkata")]
T0 = to_us(utc(2026, 1, 1))
instants = st.integers(min_value=T0, max_value=T0 + 2 * 365 * DAY_US)
rates = st.fractions(min_value=0, max_value=24, max_denominator=1000)


@st.composite
def profiles(draw):
    n = draw(st.integers(min_value=1, max_value=13))
    ats = sorted(set(draw(st.lists(st.integers(0, 1439), min_size=n, max_size=n))))
    steps = tuple(Step(a * MINUTE_US, draw(rates)) for a in ats)
    if all(s.rate == 0 for s in steps):
        steps = (*steps[:-1], Step(steps[-1].at_us, F("0.1")))
    boluses = tuple(
        Bolus(draw(instants), draw(st.fractions(0, 1, max_denominator=100)), draw(st.integers(1, 3600)) * 1_000_000)
        for _ in range(draw(st.integers(0, 3)))
    )
    return DeliveryProfile(
        RateSchedule(DAY_US, steps), draw(st.sampled_from(ZONES)), boluses, draw(st.sampled_from([F(0), F("0.06")]))
    )


@settings(max_examples=60, deadline=None)
@given(profiles(), instants, instants, instants)
def test_delivery_is_additive(p, a, b, c):
    assert p.delivered_ml(a, b) + p.delivered_ml(b, c) == p.delivered_ml(a, c)


@settings(max_examples=60, deadline=None)
@given(profiles(), instants, instants)
def test_inverse_inverts(p, a, b):
    t0, t1 = min(a, b), max(a, b)
    volume = p.delivered_ml(t0, t1)
    t = p.time_when_delivered_us(t0, volume)
    assert t is not None and t <= t1
    assert p.delivered_ml(t0, t) >= volume  # reached by t …
    if volume > 0:
        assert p.delivered_ml(t0, t - 1) < volume  # … and not a microsecond before


@settings(max_examples=40, deadline=None)
@given(profiles(), instants, st.integers(1, 400 * 24))
def test_delivery_never_negative_and_grows(p, a, hours):
    b = a + hours * HOUR_US
    assert 0 <= p.delivered_ml(a, a + HOUR_US) <= p.delivered_ml(a, b + HOUR_US)
