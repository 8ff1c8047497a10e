"""The clinic's calendar: which days it is open (its weekdays, less its country's public holidays and its own
closures) and who works which day with how many visits (clinic.settings.Scheduling). Pure: the holidays come from
the `holidays` package's tables (data, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays

from openidds.clinic.settings import WEEKDAYS, Nurse, Scheduling

SEARCH_DAYS = 60  # an open day is never further than this (a clinic open on no day is refused by the settings)


@lru_cache(maxsize=32)
def _holidays(country: str, subdivision: str | None, years: tuple[int, ...]) -> dict[date, str]:
    table = holidays.country_holidays(country, subdiv=subdivision, years=years)
    return {day: str(name) for day, name in table.items()}


@dataclass(frozen=True, slots=True)
class ClinicCalendar:
    scheduling: Scheduling

    def closed_why(self, day: date) -> str | None:
        """Why the clinic is closed that day (None: open)."""
        if WEEKDAYS[day.weekday()] not in self.scheduling.open_days:
            return f"the clinic is closed on {WEEKDAYS[day.weekday()].capitalize()}s"
        for closure in self.scheduling.closures:
            if closure.day == day:
                return closure.why
        holiday = _holidays(self.scheduling.country, self.scheduling.subdivision, (day.year,)).get(day)
        if holiday is not None:
            return f"public holiday: {holiday}"
        return None

    def is_open(self, day: date) -> bool:
        return self.closed_why(day) is None

    def open_on_or_before(self, day: date) -> date:
        for back in range(SEARCH_DAYS):
            candidate = day - timedelta(days=back)
            if self.is_open(candidate):
                return candidate
        return day - timedelta(days=SEARCH_DAYS)

    def open_on_or_after(self, day: date) -> date:
        for ahead in range(SEARCH_DAYS):
            candidate = day + timedelta(days=ahead)
            if self.is_open(candidate):
                return candidate
        return day + timedelta(days=SEARCH_DAYS)

    def open_days(self, first: date, count: int) -> Iterator[date]:
        """The open days among `count` days from `first`."""
        for i in range(count):
            day = first + timedelta(days=i)
            if self.is_open(day):
                yield day

    def nurses_on(self, day: date) -> tuple[Nurse, ...]:
        """Who sees patients that day (nobody when the clinic is closed)."""
        if not self.is_open(day):
            return ()
        weekday = WEEKDAYS[day.weekday()]
        return tuple(n for n in self.scheduling.nurses if weekday in n.days)

    def capacity(self, day: date) -> int:
        return sum(n.visits_per_day for n in self.nurses_on(day))
