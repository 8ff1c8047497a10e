"""A pump program as the care team writes it: pump, reservoir fill, solution, infusion schedule, patient remote."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from fractions import Fraction
from typing import Literal
from zoneinfo import ZoneInfo

from openidds.devices import CatheterModel, PumpModel
from openidds.drugs import CareArea, Drug
from openidds.programs.clock import DAY_US, HOUR_US, MINUTE_US, US, WEEK_US
from openidds.programs.delivery import DeliveryProfile
from openidds.programs.schedule import RateSchedule, Step
from openidds.quantities import Quantity

Mode = Literal["continuous", "flex", "stopped", "minimum-rate"]
MODES: tuple[Mode, ...] = ("continuous", "flex", "stopped", "minimum-rate")
Period = Literal["day", "week"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ML_PER_DAY = "mL/day"


@dataclass(frozen=True, slots=True)
class Ingredient:
    drug: Drug
    concentration: Quantity

    def dose_rate(self, rate: Quantity) -> Quantity:
        """Daily dose of this drug at a volumetric rate, in the drug's own unit (mg/day or mcg/day)."""
        return (rate * self.concentration).in_unit(self.drug.dose_rate_unit)

    def dose(self, volume: Quantity) -> Quantity:
        return (volume * self.concentration).in_unit(self.drug.dose_unit)


@dataclass(frozen=True, slots=True)
class ProgramStep:
    day: int | None  # 0 = Monday, for week-period programs
    at: time
    rate: Quantity  # mL/day
    dose: Quantity | None = None  # the daily dose of the first drug, when the step was written as a dose

    @property
    def offset_us(self) -> int:
        day = (self.day or 0) * DAY_US
        return day + self.at.hour * HOUR_US + self.at.minute * MINUTE_US + self.at.second * US

    def label(self) -> str:
        when = f"{self.at:%H:%M}"
        return f"{WEEKDAYS[self.day]} {when}" if self.day is not None else when


@dataclass(frozen=True, slots=True)
class PatientBolus:
    volume: Quantity
    duration: Quantity
    lockout: Quantity
    max_per_day: int
    dose: Quantity | None = None  # of the first drug, when written as a dose

    @property
    def daily_maximum_volume(self) -> Quantity:
        return self.volume * self.max_per_day


@dataclass(frozen=True, slots=True)
class Reservoir:
    filled_at: datetime  # UTC
    zone: ZoneInfo
    volume: Quantity
    low_alarm: Quantity
    first_fill: bool = False  # first fill of a new pump with this drug (ziconotide's shorter stability)


@dataclass(frozen=True, slots=True)
class Context:
    care_area: CareArea
    opioid_naive: bool = False
    psychosis_history: bool = False
    sedatives: bool = False
    anticoagulants: bool = False
    last_dose_change_at: datetime | None = None  # UTC; for the titration window
    planned_refill_at: datetime | None = None  # UTC; the booked refill visit

    def flag(self, name: str) -> bool:
        return bool(getattr(self, name))


@dataclass(frozen=True)
class PumpProgram:
    pump: PumpModel
    reservoir: Reservoir
    solution: tuple[Ingredient, ...]
    mode: Mode
    period: Period
    steps: tuple[ProgramStep, ...]
    context: Context
    patient_bolus: PatientBolus | None = None
    catheter: CatheterModel | None = None
    catheter_length: Quantity | None = None
    _schedule: RateSchedule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_schedule", self._build_schedule())

    @property
    def primary(self) -> Ingredient:
        return self.solution[0]

    @property
    def is_admixture(self) -> bool:
        return len(self.solution) > 1

    def _build_schedule(self) -> RateSchedule:
        if self.mode == "stopped":
            return RateSchedule.constant(Fraction(0))
        if self.mode == "minimum-rate":
            keep_alive = self.pump.minimum_rate_mode
            return RateSchedule.constant(keep_alive.value.to(ML_PER_DAY) if keep_alive else Fraction(0))
        if self.pump.fixed_rate is not None:
            # A constant-flow pump runs at its fixed rate whatever is asked; the checker flags any mismatch.
            return RateSchedule.constant(self.pump.fixed_rate.value.to(ML_PER_DAY))
        period = WEEK_US if self.period == "week" else DAY_US
        return RateSchedule(period, tuple(Step(s.offset_us, s.rate.to(ML_PER_DAY)) for s in self.steps))

    @property
    def schedule(self) -> RateSchedule:
        """What the pump will actually run (constant-flow pumps run their fixed rate)."""
        return self._schedule

    @property
    def profile(self) -> DeliveryProfile:
        return DeliveryProfile(self._schedule, self.reservoir.zone)

    @property
    def worst_case_extra(self) -> Quantity:
        """Every allowed patient bolus, counted as an even extra rate over each 24 h."""
        if self.patient_bolus is None:
            return Quantity.of(0, ML_PER_DAY)
        return (self.patient_bolus.daily_maximum_volume / Quantity.of(1, "day")).in_unit(ML_PER_DAY)

    @property
    def worst_case_profile(self) -> DeliveryProfile:
        return self.profile.with_extra_rate(self.worst_case_extra.to(ML_PER_DAY))

    def daily_volume(self) -> Quantity:
        """The most delivered in any 24 h of the schedule (every 24 h alike for a day-period program)."""
        _, most = self._schedule.window_extremes(DAY_US)
        return Quantity.of(most / DAY_US, ML_PER_DAY)

    def mean_daily_volume(self) -> Quantity:
        return Quantity.of(self._schedule.total / self._schedule.period_us, ML_PER_DAY)

    def worst_case_daily_volume(self) -> Quantity:
        return self.daily_volume() + self.worst_case_extra

    def pathway_volume(self) -> Quantity:
        """Pump dead volume plus the catheter's (when the file names it): the old solution a bridge flushes."""
        volume = self.pump.dead_volume.value.in_unit("mL")
        if self.catheter is not None and self.catheter_length is not None:
            volume = volume + (self.catheter_length * self.catheter.volume_per_cm.value).in_unit("mL")
        return volume
