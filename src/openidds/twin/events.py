"""What can happen to a pump: the events a twin takes in. Instants are integer UTC microseconds."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from openidds.programs.program import Ingredient, PumpProgram


@dataclass(frozen=True, slots=True)
class ProgramChange:
    at: int
    program: PumpProgram  # its schedule, solution and remote settings take effect at `at`
    override_reason: str = ""  # needed when the new program has soft findings
    # A bridge bolus: the old solution still in pump and catheter runs out at the rate that gives the new dose
    # with the old concentration, then the new program starts (calculations.bridge: the dose does not dip or jump).
    bridge: bool = False


@dataclass(frozen=True, slots=True)
class RemoteRequest:
    at: int


@dataclass(frozen=True, slots=True)
class Refill:
    at: int
    volume_ml: Fraction  # what the clinician fills (and records)
    solution: tuple[Ingredient, ...] | None = None  # None: the same solution again
    pocket_ml: Fraction = Fraction(0)  # of the fill, what went outside the reservoir (a pocket fill)
    withdrawn_ml: Fraction | None = None  # measured residual; None: what the twin holds
    # The clinic recorded the pocket fill it suspects, so it expects only the rest in the reservoir (a scenario's
    # `pocket` is what really happened, unknown to the clinic until the next refill shows it)
    pocket_recorded: bool = False


@dataclass(frozen=True, slots=True)
class ClinicianBolus:
    """A single bolus programmed by the clinic (loading dose, priming), on top of the running program."""

    at: int
    volume_ml: Fraction
    duration_us: int


@dataclass(frozen=True, slots=True)
class Interrogation:
    at: int


@dataclass(frozen=True, slots=True)
class MriExposure:
    at: int
    duration_us: int
    recovery_us: int | None = None  # peristaltic pumps may resume late; None: the catalog's delay for the pump


@dataclass(frozen=True, slots=True)
class CatheterFault:
    at: int
    # occlusion: nothing leaves the pump; disconnection or leak: it leaves, but not into the intrathecal space
    kind: Literal["occlusion", "disconnection", "leak"]


@dataclass(frozen=True, slots=True)
class CatheterRepair:
    at: int


@dataclass(frozen=True, slots=True)
class MotorStall:
    at: int
    recovers_after_us: int | None = None  # None: the pump stays stalled


@dataclass(frozen=True, slots=True)
class AccuracyChange:
    at: int
    factor: Fraction  # delivered / programmed, e.g. 6/5 for a pump over-infusing by 20 %


Event = (
    ProgramChange
    | RemoteRequest
    | Refill
    | ClinicianBolus
    | Interrogation
    | MriExposure
    | CatheterFault
    | CatheterRepair
    | MotorStall
    | AccuracyChange
)
