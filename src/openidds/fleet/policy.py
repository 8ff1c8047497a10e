"""Refill policies: when the clinic books the next refill visit, decided at each fill. Pure.

A policy sees what the clinic knows at a refill: the program and the volume it just filled. It never sees the
pump's true state (accuracy, pocket fills, the boluses to come). Every policy plans with the worst case (every
allowed patient bolus, spread as an even extra rate, as `idds check` does) and never books a visit after the
drug's stability in the pump runs out. Each projection is ONE closed-form inverse solve on the worst-case
DeliveryProfile, not the full `project()`, which does several and costs more than a fleet can pay per visit.
Visits are booked in whole days after the fill, never sooner than the next day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from openidds.calculations.projection import stability_limit
from openidds.errors import InputError
from openidds.programs.clock import DAY_US
from openidds.programs.delivery import DeliveryProfile
from openidds.programs.program import PumpProgram

Kind = Literal["alarm-minus", "empty-minus", "fixed"]
KINDS: dict[Kind, tuple[int, int, str]] = {
    # kind: (least N, most N, what it does)
    "alarm-minus": (0, 90, "refill {n} days before the projected low-reservoir alarm (worst case)"),
    "empty-minus": (0, 90, "refill {n} days before the projected empty reservoir (worst case)"),
    "fixed": (1, 365, "refill every {n} days, but at least a day before the projected empty reservoir (worst case)"),
}
DEFAULT_POLICY = "alarm-minus:7"


@dataclass(frozen=True)
class Planner:
    """What the clinic plans a patient's refills with: worked out once per program."""

    worst_case: DeliveryProfile
    low_ml: Fraction
    stability_days: int  # whole days the fill may stay in the pump

    @classmethod
    def for_program(cls, program: PumpProgram) -> Planner:
        days = stability_limit(program).value.to("day")
        return cls(program.worst_case_profile, program.reservoir.low_alarm.to("mL"), math.floor(days))

    def days_until_delivered(self, fill_at: int, volume_ml: Fraction) -> int | None:
        """Whole days from the fill until `volume_ml` is delivered in the worst case (floor); None: never."""
        at = self.worst_case.time_when_delivered_us(fill_at, volume_ml)
        return None if at is None else (at - fill_at) // DAY_US


@dataclass(frozen=True)
class Policy:
    kind: Kind
    days: int

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.days}"

    def describe(self) -> str:
        return KINDS[self.kind][2].format(n=self.days) + "; never after the drug's stability runs out"

    def days_to_next_visit(self, planner: Planner, fill_at: int, fill_ml: Fraction) -> int:
        """Whole days from a fill of `fill_ml` at `fill_at` to the visit this policy books."""
        if self.kind == "fixed":
            empty = planner.days_until_delivered(fill_at, fill_ml)
            days = self.days if empty is None else min(self.days, empty - 1)
        else:
            level = planner.low_ml if self.kind == "alarm-minus" else Fraction(0)
            reached = planner.days_until_delivered(fill_at, fill_ml - level)
            days = planner.stability_days if reached is None else reached - self.days
        return max(1, min(days, planner.stability_days))


def parse_policy(text: str, field: str = "--policy") -> Policy:
    """'alarm-minus:7', 'empty-minus:3' or 'fixed:90'. Anything else is an InputError naming `field`."""
    name, sep, number = text.strip().partition(":")
    kind = next((k for k in KINDS if k == name.strip()), None)
    if kind is None:
        choices = ", ".join(f"{k}:N" for k in KINDS)
        raise InputError(field, f"unknown policy '{text}' (choose {choices})")
    number = number.strip()
    if not sep or not number.isascii() or not number.isdigit():
        raise InputError(field, f"'{text}' needs a whole number of days after the colon, e.g. '{kind}:7'")
    least, most, _ = KINDS[kind]
    days = int(number)
    if not least <= days <= most:
        raise InputError(field, f"the days in '{text}' must be {least} to {most}, got {days}")
    return Policy(kind, days)
