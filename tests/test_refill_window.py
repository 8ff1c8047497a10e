"""The refill window (clinic.window): latest safe day and earliest useful day, on the clinic's calendar, with
reasons. Expected days worked out by hand from the inputs (America/Chicago, the demo clinic's calendar: open
Monday to Friday, US federal holidays, closed 24 and 31 December 2026)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from openidds.clinic.calendar import ClinicCalendar
from openidds.clinic.window import WindowInputs, refill_window
from openidds.data import load_clinic_settings
from openidds.errors import InputError
from openidds.programs.clock import to_us

CAL = ClinicCalendar(load_clinic_settings().scheduling)  # type: ignore[arg-type]


def us(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


def inputs(**over: object) -> WindowInputs:
    base: dict[str, object] = {
        "today": date(2026, 12, 1),
        "zone": "America/Chicago",
        "alarm_worst_at": us(2026, 12, 22, 18, 0),  # Tue 22 Dec, 12:00 CST
        "accuracy": "±15 %",
        "stability_until": us(2027, 3, 1, 15, 0),
        "expires_at": None,
        "replacement_by": None,
        "useful_from": us(2026, 12, 10, 15, 0),  # Thu 10 Dec 09:00 CST
        "waste_share": "25 %",
        "margin_days": 4,
        "margin_why": "the clinic's margin, 4 days",
    }
    base.update(over)
    return WindowInputs(**base)  # type: ignore[arg-type]


def test_latest_is_the_alarm_day_less_the_margin_on_an_open_day() -> None:
    # Alarm Tue 22 Dec (local) - 4 days = Fri 18 Dec (open). Useful from Thu 10 Dec.
    w = refill_window(inputs(), CAL)
    assert (w.earliest, w.latest, w.overdue) == (date(2026, 12, 10), date(2026, 12, 18), False)
    assert w.limit.startswith("low-reservoir alarm")
    assert w.words() == "book between Thu 10 Dec 2026 and Fri 18 Dec 2026"
    codes = [r.code for r in w.reasons]
    assert codes[0] == "window.alarm" and "window.margin" in codes and "window.useful" in codes


def test_a_latest_day_on_a_weekend_or_holiday_moves_back_to_the_last_open_day() -> None:
    # Alarm Tue 29 Dec 2026 12:00 CST - 4 = Fri 25 Dec (Christmas) -> Thu 24 Dec is a closure -> Wed 23 Dec.
    w = refill_window(inputs(alarm_worst_at=us(2026, 12, 29, 18, 0)), CAL)
    assert w.latest == date(2026, 12, 23)
    # Alarm Mon 7 Dec 03:00 CST (09:00 UTC) - 4 = Thu 3 Dec.
    w = refill_window(inputs(alarm_worst_at=us(2026, 12, 7, 9, 0)), CAL)
    assert w.latest == date(2026, 12, 3)


def test_the_local_day_counts_not_the_utc_day() -> None:
    # 2026-12-23 03:00 UTC is Tue 22 Dec 21:00 CST: the limit's day is the 22nd, so latest = Fri 18 Dec.
    w = refill_window(inputs(alarm_worst_at=us(2026, 12, 23, 3, 0)), CAL)
    assert w.latest == date(2026, 12, 18)


def test_the_earliest_of_the_limits_sets_the_day_and_each_is_named() -> None:
    # Stability ends Mon 14 Dec 09:00 CST, before the alarm: 14 - 4 = Thu 10 Dec; useful from Thu 10 Dec too.
    w = refill_window(inputs(stability_until=us(2026, 12, 14, 15, 0)), CAL)
    assert (w.latest, w.limit) == (date(2026, 12, 10), "drug stability in the pump runs out")
    assert w.words() == "book on Thu 10 Dec 2026"
    w = refill_window(inputs(expires_at=us(2026, 12, 15, 6, 0), margin_days=7), CAL)  # 15 Dec 00:00 CST - 7 = 8 Dec
    assert (w.latest, w.limit) == (date(2026, 12, 8), "the solution's expiry or beyond-use date")
    w = refill_window(inputs(replacement_by=us(2026, 12, 16, 18, 0)), CAL)  # 16 - 4 = Sat 12 -> Fri 11 Dec
    assert (w.latest, w.limit) == (date(2026, 12, 11), "the pump replacement is planned by")


def test_safety_wins_over_waste() -> None:
    # Useful only from 21 Dec, but the latest safe day is 18 Dec: refill on the 18th, the waste is named.
    w = refill_window(inputs(useful_from=us(2026, 12, 21, 15, 0)), CAL)
    assert (w.earliest, w.latest) == (date(2026, 12, 18), date(2026, 12, 18))
    assert any(r.code == "window.waste-accepted" and "25 %" in r.message for r in w.reasons)


def test_useful_already_means_today_or_the_next_open_day() -> None:
    w = refill_window(inputs(today=date(2026, 12, 5), useful_from=us(2026, 11, 20, 15, 0)), CAL)  # a Saturday
    assert w.earliest == date(2026, 12, 7)  # Monday


def test_past_the_latest_safe_day_is_overdue_and_says_book_now() -> None:
    w = refill_window(inputs(today=date(2026, 12, 21)), CAL)  # latest was Fri 18 Dec
    assert w.overdue and w.latest == date(2026, 12, 18) and w.earliest == date(2026, 12, 21)
    assert w.words() == "book now: the latest safe day was Fri 18 Dec 2026"
    assert w.reasons[-1].code == "window.overdue" and "3 days ago" in w.reasons[-1].message


def test_a_larger_margin_books_earlier() -> None:
    w = refill_window(inputs(margin_days=7), CAL)  # 22 - 7 = Tue 15 Dec
    assert w.latest == date(2026, 12, 15)


def test_nothing_to_bound_the_refill_is_an_error_naming_it() -> None:
    with pytest.raises(InputError) as err:
        refill_window(inputs(alarm_worst_at=None, stability_until=None), CAL)
    assert err.value.field == "inputs"
    with pytest.raises(InputError) as err:
        refill_window(inputs(margin_days=-1), CAL)
    assert err.value.field == "margin_days"


def test_the_calendar_knows_holidays_closures_weekends_and_who_works() -> None:
    assert CAL.closed_why(date(2026, 12, 25)) == "public holiday: Christmas Day"
    assert CAL.closed_why(date(2026, 12, 24)) == "Christmas Eve: clinic closed (demo)"
    assert CAL.closed_why(date(2026, 12, 26)) == "the clinic is closed on Saturdays"
    assert CAL.closed_why(date(2027, 1, 18)) == "public holiday: Martin Luther King Jr. Day"
    # Tuesday: the nurse (6) and the physician's two days (4); Monday: the nurse alone; a holiday: nobody.
    assert CAL.capacity(date(2026, 12, 8)) == 10 and CAL.capacity(date(2026, 12, 7)) == 6
    assert CAL.capacity(date(2026, 12, 25)) == 0


def test_the_refill_cycle_after_a_full_fill() -> None:
    """The flex example after 40 mL: 38 mL to the 2 mL alarm level at 0.585 × 1.15 = 0.67275 mL/day is 56.5 days
    (stability 90), less the 4-day margin: 52. A quarter of the fill (10 mL) at 0.525 mL/day is 19 days: 33."""
    from fractions import Fraction

    from openidds.data import load_catalog, load_library
    from openidds.programfile import parse_program
    from openidds.service.window import cycle_for
    from tests.api_support import FLEX

    program = parse_program(FLEX, load_library(), load_catalog())
    cycle = cycle_for(program, load_clinic_settings(), Fraction(40))
    assert cycle is not None and (cycle.shortest, cycle.longest) == (33, 52)
