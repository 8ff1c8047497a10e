"""Guardrail: recommended (soft) and absolute (hard) bounds as one type, after LoopKit's Guardrail.

Outside the soft bounds a program needs a recorded override reason; outside the hard bounds it cannot be
programmed at all. Invariant: hard_min <= soft_min <= soft_max <= hard_max, where given.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from pydantic import model_validator

from openidds.evidence.cited import Cited, DataModel
from openidds.quantities import Kind, Quantity

Severity = Literal["hard", "soft", "info"]


@dataclass(frozen=True, slots=True)
class Bound:
    """Which bound a value crossed: e.g. severity 'hard', side 'max', limit 20 mg/day with its source."""

    severity: Severity
    side: Literal["min", "max"]
    limit: Cited


class Guardrail(DataModel):
    soft_min: Cited | None = None
    soft_max: Cited | None = None
    hard_min: Cited | None = None
    hard_max: Cited | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Guardrail:
        chain = [b for b in (self.hard_min, self.soft_min, self.soft_max, self.hard_max) if b is not None]
        dims = {b.value.dimension for b in chain}
        if len(dims) > 1:
            raise ValueError("bounds of one guardrail must all be of the same kind")
        for low, high in pairwise(chain):
            if low.value > high.value:
                raise ValueError(f"bounds out of order: {low.value} is above {high.value}")
        return self

    def check_kind(self, kind: Kind, where: str) -> None:
        for name in ("soft_min", "soft_max", "hard_min", "hard_max"):
            cited: Cited | None = getattr(self, name)
            if cited is not None and not cited.value.is_kind(kind):
                raise ValueError(f"{where}.{name}: expected {kind.describe()}, got '{cited.value}'")

    def crossed(self, value: Quantity) -> Bound | None:
        """The most severe bound `value` lies beyond, or None when it is within the recommended range."""
        if self.hard_max is not None and value > self.hard_max.value:
            return Bound("hard", "max", self.hard_max)
        if self.hard_min is not None and value < self.hard_min.value:
            return Bound("hard", "min", self.hard_min)
        if self.soft_max is not None and value > self.soft_max.value:
            return Bound("soft", "max", self.soft_max)
        if self.soft_min is not None and value < self.soft_min.value:
            return Bound("soft", "min", self.soft_min)
        return None
