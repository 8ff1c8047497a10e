"""A periodic, piecewise-constant rate on the wall clock (period a day or a week), integrated in closed form.

Rates are exact Fractions in mL/day; positions are integer wall-clock microseconds within the period. The
integral of rate over time is kept in (mL/day)·µs so every sum stays exact; divide by DAY_US for mL.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

from openidds.programs.clock import DAY_US, WEEK_US


@dataclass(frozen=True, slots=True)
class Step:
    at_us: int  # wall-clock µs from the start of the period (Monday 00:00 for a week)
    rate: Fraction  # mL/day


@dataclass(frozen=True)
class RateSchedule:
    period_us: int
    steps: tuple[Step, ...]
    # Derived breakpoints over one period: segment i runs from starts[i] to starts[i+1] (or the period end).
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _rates: tuple[Fraction, ...] = field(init=False, repr=False, compare=False)
    _cum: tuple[Fraction, ...] = field(init=False, repr=False, compare=False)
    total: Fraction = field(init=False, repr=False, compare=False)  # (mL/day)·µs over one period

    def __post_init__(self) -> None:
        if self.period_us not in (DAY_US, WEEK_US):
            raise ValueError("period must be a day or a week")
        if not self.steps:
            raise ValueError("a schedule needs at least one step")
        ats = [s.at_us for s in self.steps]
        if ats != sorted(set(ats)) or ats[0] < 0 or ats[-1] >= self.period_us:
            raise ValueError("steps must be sorted, distinct and inside the period")
        if any(s.rate < 0 for s in self.steps):
            raise ValueError("rates cannot be negative")
        # Before the first step, the last step of the previous period is still running.
        rates = [s.rate for s in self.steps]
        starts = list(ats)
        if ats[0] != 0:
            starts, rates = [0, *starts], [rates[-1], *rates]
        cum = [Fraction(0)]
        for i, rate in enumerate(rates):
            end = starts[i + 1] if i + 1 < len(starts) else self.period_us
            cum.append(cum[-1] + rate * (end - starts[i]))
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_rates", tuple(rates))
        object.__setattr__(self, "_cum", tuple(cum))
        object.__setattr__(self, "total", cum[-1])

    @classmethod
    def constant(cls, rate: Fraction) -> RateSchedule:
        return cls(DAY_US, (Step(0, rate),))

    def rate_at(self, wall: int) -> Fraction:
        y = wall % self.period_us
        return self._rates[bisect_right(self._starts, y) - 1]

    def integral(self, wall: int) -> Fraction:
        """∫ rate from wall position 0 to `wall`, in (mL/day)·µs (negative `wall` counts backwards)."""
        n, y = divmod(wall, self.period_us)
        i = bisect_right(self._starts, y) - 1
        return n * self.total + self._cum[i] + self._rates[i] * (y - self._starts[i])

    def solve(self, target: Fraction, extra: Fraction) -> Fraction | None:
        """Smallest wall x with integral(x) + extra·x >= target, or None if nothing is ever delivered."""
        per_period = self.total + extra * self.period_us
        if per_period <= 0:
            return None
        n = -((-target) // per_period) - 1  # n·per_period < target <= (n+1)·per_period
        rem = target - n * per_period
        starts, cum, rates = self._starts, self._cum, self._rates
        # First breakpoint whose running total (with the extra rate) reaches rem: bisection by hand.
        lo, hi = 1, len(starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] + extra * starts[mid] >= rem:
                hi = mid
            else:
                lo = mid + 1
        j = lo - 1  # rem lies in segment j
        base = cum[j] + extra * starts[j]
        y = starts[j] + (rem - base) / (rates[j] + extra)
        return n * self.period_us + y

    def window_extremes(self, window_us: int) -> tuple[Fraction, Fraction]:
        """(least, most) delivered in any window of `window_us` wall-clock µs, in (mL/day)·µs.

        The windowed integral is piecewise linear in the window's start, so its extremes sit where the start
        or the end of the window meets a breakpoint.
        """
        candidates = {s % self.period_us for s in self._starts}
        candidates |= {(s - window_us) % self.period_us for s in self._starts}
        values = [self.integral(x + window_us) - self.integral(x) for x in candidates]
        return min(values), max(values)

    @property
    def is_constant(self) -> bool:
        return len(set(self._rates)) == 1

    @property
    def max_rate(self) -> Fraction:
        return max(self._rates)

    @property
    def min_rate(self) -> Fraction:
        return min(self._rates)
