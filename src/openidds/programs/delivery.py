"""Exact delivery of a program over real time: `delivered(t0, t1)` and its inverse, with no time stepping.

Time is cut into pieces where the UTC offset and the set of running boluses are constant; inside each piece
the wall clock advances with elapsed time, so the schedule's closed-form integral applies directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from itertools import pairwise
from math import lcm
from zoneinfo import ZoneInfo

from openidds.programs.clock import DAY_US, HORIZON_US, from_us, offset_spans, to_us, utc_from_wall, wall_us
from openidds.programs.schedule import RateSchedule
from openidds.quantities import VOLUME, Quantity


@dataclass(frozen=True, slots=True)
class Bolus:
    """A one-off bolus on top of the schedule: `volume_ml` spread evenly over [start_us, start_us + duration_us)."""

    start_us: int
    volume_ml: Fraction
    duration_us: int

    def __post_init__(self) -> None:
        if self.duration_us <= 0 or self.volume_ml < 0:
            raise ValueError("a bolus needs a positive duration and a volume of zero or more")

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    @property
    def rate(self) -> Fraction:
        """mL/day while it runs."""
        return self.volume_ml * DAY_US / self.duration_us


@dataclass(frozen=True)
class DeliveryProfile:
    schedule: RateSchedule
    zone: ZoneInfo
    boluses: tuple[Bolus, ...] = ()
    extra_rate: Fraction = Fraction(0)  # mL/day added at all times (e.g. every allowed patient bolus, spread)

    def with_extra_rate(self, rate: Fraction) -> DeliveryProfile:
        return DeliveryProfile(self.schedule, self.zone, self.boluses, self.extra_rate + rate)

    # --- public API on datetimes and quantities -------------------------------------------------------------
    def delivered(self, t0: datetime, t1: datetime) -> Quantity:
        """Volume delivered between two instants (negative if t1 is before t0)."""
        return Quantity(self.delivered_ml(to_us(t0), to_us(t1)), VOLUME_ML)

    def time_when_delivered(self, t0: datetime, volume: Quantity) -> datetime | None:
        """The first instant by which `volume` has been delivered since t0; None if it never is."""
        if not volume.is_kind(VOLUME):
            raise ValueError(f"expected a volume, got {volume}")
        start = to_us(t0)
        found = self.time_when_delivered_us(start, volume.to("mL"))
        # Beyond the horizon is "never" for any pump (and beyond what a datetime can hold).
        return None if found is None or found - start > HORIZON_US else from_us(found)

    # --- exact core on integer microseconds ------------------------------------------------------------------
    def delivered_ml(self, t0: int, t1: int) -> Fraction:
        if t1 < t0:
            return -self.delivered_ml(t1, t0)
        sched, scaled = self.schedule, 0
        for a, b, off in offset_spans(self.zone, t0, t1):
            assert b is not None
            scaled += sched.scaled_integral(wall_us(b, off)) - sched.scaled_integral(wall_us(a, off))
        total = (Fraction(scaled, sched.den) + self.extra_rate * (t1 - t0)) / DAY_US
        for bolus in self.boluses:
            overlap = min(t1, bolus.end_us) - max(t0, bolus.start_us)
            if overlap > 0:
                total += bolus.volume_ml * overlap / bolus.duration_us
        return total

    def _pieces(self, start: int) -> Iterator[tuple[int, int | None, int, Fraction]]:
        """(start, end or None, offset, constant extra rate) from `start` on, cut at offsets and boluses."""
        cuts = sorted({t for b in self.boluses for t in (b.start_us, b.end_us) if t > start})
        for a, b, off in offset_spans(self.zone, start, None):
            inner = [t for t in cuts if t > a and (b is None or t < b)]
            edges = [a, *inner, b]
            for lo, hi in pairwise(edges):
                assert lo is not None
                extra = self.extra_rate + sum(
                    (bol.rate for bol in self.boluses if bol.start_us <= lo < bol.end_us), Fraction(0)
                )
                yield lo, hi, off, extra

    def time_when_delivered_us(self, t0: int, volume_ml: Fraction) -> int | None:
        if volume_ml <= 0:
            return t0
        need = volume_ml * DAY_US  # in (mL/day)·µs
        sched = self.schedule
        for a, b, off, extra in self._pieces(t0):
            # One integer scale for the schedule, the extra rate and what is still needed: exact and fast.
            den = lcm(sched.den, extra.denominator, need.denominator)
            k, add = den // sched.den, extra.numerator * (den // extra.denominator)
            xa = wall_us(a, off)
            start_value = k * sched.scaled_integral(xa) + add * xa
            if b is not None:
                xb = wall_us(b, off)
                piece = k * sched.scaled_integral(xb) + add * xb - start_value
                if piece * need.denominator < need.numerator * den:
                    need -= Fraction(piece, den)
                    continue
            x = sched.solve_scaled(start_value + need.numerator * (den // need.denominator), k, add)
            if x is None:
                if b is None:
                    return None
                continue
            return utc_from_wall(x, off)
        return None


VOLUME_ML = Quantity.of(1, "mL").unit
