"""A periodic, piecewise-constant rate on the wall clock (period a day or a week), integrated in closed form.

Rates are exact Fractions in mL/day; positions are integer wall-clock microseconds within the period. Over a
common denominator `den` of all rates, every integral is a plain integer in (mL/day)·µs / den: exact, and far
cheaper than Fraction arithmetic. Divide by DAY_US for mL.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from math import lcm

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
    den: int = field(init=False, repr=False, compare=False)
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _rates: tuple[int, ...] = field(init=False, repr=False, compare=False)  # scaled by den
    _cum: tuple[int, ...] = field(init=False, repr=False, compare=False)  # scaled by den
    _total: int = field(init=False, repr=False, compare=False)
    _windows: dict[int, tuple[Fraction, Fraction]] = field(init=False, repr=False, compare=False)

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
        den = lcm(*(s.rate.denominator for s in self.steps))
        rates = [s.rate.numerator * (den // s.rate.denominator) for s in self.steps]
        starts = list(ats)
        if ats[0] != 0:
            # Before the first step, the last step of the previous period is still running.
            starts, rates = [0, *starts], [rates[-1], *rates]
        cum = [0]
        for i, rate in enumerate(rates):
            end = starts[i + 1] if i + 1 < len(starts) else self.period_us
            cum.append(cum[-1] + rate * (end - starts[i]))
        for name, value in (
            ("den", den),
            ("_starts", tuple(starts)),
            ("_rates", tuple(rates)),
            ("_cum", tuple(cum)),
            ("_total", cum[-1]),
            ("_windows", {}),
        ):
            object.__setattr__(self, name, value)

    @classmethod
    def constant(cls, rate: Fraction) -> RateSchedule:
        return cls(DAY_US, (Step(0, rate),))

    @property
    def total(self) -> Fraction:
        """∫ rate over one period, in (mL/day)·µs."""
        return Fraction(self._total, self.den)

    @property
    def max_scaled_rate(self) -> int:
        """The fastest rate, scaled by den: an upper bound on how fast scaled_integral grows per µs."""
        return max(self._rates)

    def scaled_integral(self, wall: int) -> int:
        """∫ rate from wall position 0 to `wall`, in (mL/day)·µs × den (negative `wall` counts backwards)."""
        n, y = divmod(wall, self.period_us)
        i = bisect_right(self._starts, y) - 1
        return n * self._total + self._cum[i] + self._rates[i] * (y - self._starts[i])

    def integral(self, wall: int) -> Fraction:
        return Fraction(self.scaled_integral(wall), self.den)

    def solve_scaled(self, target: int, k: int, extra: int) -> int | None:
        """Smallest whole wall µs x with k·scaled_integral(x) + extra·x >= target (integers over one denominator).

        `k` rescales the schedule to the caller's denominator; `extra` is a constant added rate on that scale.
        None if nothing is ever delivered. Pure integer arithmetic: the answer is the exact crossing, ceiled.
        """
        per_period = k * self._total + extra * self.period_us
        if per_period <= 0:
            return None
        n = -((-target) // per_period) - 1  # n·per_period < target <= (n+1)·per_period
        rem = target - n * per_period
        starts, cum = self._starts, self._cum
        lo, hi = 1, len(starts)  # first breakpoint whose running total reaches rem
        while lo < hi:
            mid = (lo + hi) // 2
            if k * cum[mid] + extra * starts[mid] >= rem:
                hi = mid
            else:
                lo = mid + 1
        j = lo - 1  # rem lies in segment j, whose rate is positive
        base = k * cum[j] + extra * starts[j]
        return n * self.period_us + starts[j] - ((base - rem) // (k * self._rates[j] + extra))

    def window_extremes(self, window_us: int) -> tuple[Fraction, Fraction]:
        """(least, most) delivered in any window of `window_us` wall-clock µs, in (mL/day)·µs.

        The windowed integral is piecewise linear in the window's start, so its extremes sit where the start
        or the end of the window meets a breakpoint. A window of whole periods holds the same everywhere.
        """
        found = self._windows.get(window_us)
        if found is None:
            if window_us % self.period_us == 0:
                whole = self.total * (window_us // self.period_us)
                found = (whole, whole)
            else:
                candidates = {s % self.period_us for s in self._starts}
                candidates |= {(s - window_us) % self.period_us for s in self._starts}
                values = [self.scaled_integral(x + window_us) - self.scaled_integral(x) for x in candidates]
                found = (Fraction(min(values), self.den), Fraction(max(values), self.den))
            self._windows[window_us] = found
        return found
