"""What a twin keeps besides volumes: alarms, the patient remote's decisions, the boluses running, its modes."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from openidds.programs.clock import from_us
from openidds.programs.delivery import Bolus

Priority = Literal["non-critical", "critical"]
ALARMS: dict[str, Priority] = {
    "low-reservoir": "non-critical",
    "eri": "non-critical",
    "empty-reservoir": "critical",
    "motor-stall": "critical",
    "end-of-service": "critical",
}
Mode = Literal[
    "running",
    "single-bolus",
    "patient-bolus",
    "bridge-bolus",
    "minimum-rate",
    "stopped",
    "motor-stall",
    "latched",
    "end-of-service",
]


@dataclass
class Alarm:
    name: str
    priority: Priority
    raised_at: int
    cleared_at: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "alarm": self.name,
            "priority": self.priority,
            "raised_at": from_us(self.raised_at).isoformat(),
            "cleared_at": None if self.cleared_at is None else from_us(self.cleared_at).isoformat(),
        }


class Decision(NamedTuple):
    """A patient remote request, accepted or denied, with the reason in the patient's words."""

    at: int
    accepted: bool
    reason: str


@dataclass(slots=True)
class Running:
    """A bolus being delivered on top of the schedule: `rate` is units of 1/q mL per µs at the current factor."""

    start: int
    end: int
    volume_ml: Fraction
    duration_us: int
    rate: int
    kind: Literal["patient", "clinician"]

    def bolus(self) -> Bolus:
        return Bolus(self.start, self.volume_ml, self.duration_us)
