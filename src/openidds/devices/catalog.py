"""Schema of the device catalog file (TOML): pump models of three families, and catheter models."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from itertools import pairwise
from typing import Literal

from pydantic import Field, model_validator

from openidds.errors import InputError
from openidds.evidence import Cited, DataModel, check_kind
from openidds.evidence.datafile import VersionedFile
from openidds.quantities import DIMENSIONLESS, RATE, TIME, VOLUME, VOLUME_PER_LENGTH, Quantity

Family = Literal["programmable", "valve-gated", "constant-flow"]
Mode = Literal["continuous", "flex", "single-bolus", "patient-bolus", "minimum-rate", "stopped"]
MriBehaviour = Literal["stops-during-exposure", "valve-closes-until-reset", "no-effect"]


class BatteryLifePoint(DataModel):
    daily_volume: Cited
    life: Cited


class Battery(DataModel):
    """`life` by programmed daily volume (linear between points, flat beyond); ERI precedes end of service."""

    powered: bool
    life: list[BatteryLifePoint] = Field(default_factory=list)
    eri_to_eos: Cited | None = None  # the pump stops this long after the elective replacement indicator
    hard_stop: Cited | None = None  # automatic shutdown at this age whatever the use
    replace_before_eos: Cited | None = None  # advised scheduling margin

    @model_validator(mode="after")
    def _kinds(self) -> Battery:
        for i, p in enumerate(self.life):
            check_kind(p.daily_volume, RATE, f"life[{i}].daily_volume")
            check_kind(p.life, TIME, f"life[{i}].life")
        for name in ("eri_to_eos", "hard_stop", "replace_before_eos"):
            check_kind(getattr(self, name), TIME, name)
        if self.powered and not self.life:
            raise ValueError("a powered pump needs battery life points")
        volumes = [p.daily_volume.value for p in self.life]
        if volumes != sorted(volumes):
            raise ValueError("battery life points must be in increasing daily volume")
        return self

    def expected_life(self, daily_volume: Quantity) -> Quantity | None:
        """Service life at a steady daily volume (None for an unpowered pump), capped by the hard stop."""
        if not self.powered:
            return None
        points = self.life
        if daily_volume <= points[0].daily_volume.value:
            life = points[0].life.value
        elif daily_volume >= points[-1].daily_volume.value:
            life = points[-1].life.value
        else:
            life = points[0].life.value
            for lo, hi in pairwise(points):
                if lo.daily_volume.value <= daily_volume <= hi.daily_volume.value:
                    span = hi.daily_volume.value - lo.daily_volume.value
                    frac: Fraction = (daily_volume - lo.daily_volume.value).ratio(span)
                    life = lo.life.value + (hi.life.value - lo.life.value) * frac
                    break
        if self.hard_stop is not None and life > self.hard_stop.value:
            life = self.hard_stop.value
        return life


class PumpModel(DataModel):
    id: str
    display_name: str
    family: Family
    resembles: str  # the commercial pump whose published figures this generic model follows
    reservoir: Cited
    modes: list[Mode]
    modes_source: str
    rate_min: Cited | None = None
    rate_max: Cited | None = None
    fixed_rate: Cited | None = None  # constant-flow: the only rate; dose changes by concentration alone
    minimum_rate_mode: Cited | None = None  # the keep-alive rate of minimum-rate mode
    max_steps_per_day: int | None = None  # flex: rate changes a day
    week_patterns: bool = False
    has_alarms: bool = True
    low_alarm_default: Cited | None = None
    low_alarm_min: Cited | None = None
    low_alarm_max: Cited | None = None
    accuracy: Cited  # ± fraction of the programmed volume per refill interval
    over_infusion_threshold: Cited | None = None
    dead_volume: Cited  # pump internal pathway from reservoir to catheter port
    patient_bolus_drugs: list[str] | None = None  # None: any drug the library allows
    patient_bolus_drugs_source: str | None = None
    battery: Battery
    mri: MriBehaviour
    mri_source: str
    mri_latch_source: str | None = None  # why an MRI while alarming latches the pump until interrogated
    mri_recovery: Cited | None = None  # how late the pump may resume after an exposure (stops-during-exposure)

    @model_validator(mode="after")
    def _kinds(self) -> PumpModel:
        check_kind(self.reservoir, VOLUME, "reservoir")
        for name in ("rate_min", "rate_max", "fixed_rate", "minimum_rate_mode"):
            check_kind(getattr(self, name), RATE, name)
        for name in ("low_alarm_default", "low_alarm_min", "low_alarm_max", "dead_volume"):
            check_kind(getattr(self, name), VOLUME, name)
        check_kind(self.mri_recovery, TIME, "mri_recovery")
        check_kind(self.accuracy, DIMENSIONLESS, "accuracy")
        check_kind(self.over_infusion_threshold, DIMENSIONLESS, "over_infusion_threshold")
        if self.family == "constant-flow":
            if self.fixed_rate is None:
                raise ValueError("a constant-flow pump needs fixed_rate")
        elif self.rate_min is None or self.rate_max is None:
            raise ValueError("a programmable pump needs rate_min and rate_max")
        if "minimum-rate" in self.modes and self.minimum_rate_mode is None:
            raise ValueError("minimum-rate mode needs minimum_rate_mode")
        if "flex" in self.modes and self.max_steps_per_day is None:
            raise ValueError("flex mode needs max_steps_per_day")
        if self.has_alarms and self.low_alarm_default is None:
            raise ValueError("a pump with alarms needs low_alarm_default")
        return self

    @property
    def capacity(self) -> Quantity:
        return self.reservoir.value


class CatheterModel(DataModel):
    id: str
    display_name: str
    volume_per_cm: Cited
    families: list[Family]

    @model_validator(mode="after")
    def _kinds(self) -> CatheterModel:
        check_kind(self.volume_per_cm, VOLUME_PER_LENGTH, "volume_per_cm")
        return self


class DeviceCatalog(VersionedFile):
    pumps: list[PumpModel]
    catheters: list[CatheterModel]

    @model_validator(mode="after")
    def _unique(self) -> DeviceCatalog:
        for kind, ids in (("pump", [p.id for p in self.pumps]), ("catheter", [c.id for c in self.catheters])):
            dupes = {i for i in ids if ids.count(i) > 1}
            if dupes:
                raise ValueError(f"{kind} listed twice: {', '.join(sorted(dupes))}")
        return self

    def extra_source_keys(self) -> Iterable[tuple[str, str]]:
        for p in self.pumps:
            for src in (p.modes_source, p.mri_source, p.mri_latch_source, p.patient_bolus_drugs_source):
                if src is not None:
                    yield f"pump {p.id}", src

    def pump(self, model_id: str, field: str = "pump.model") -> PumpModel:
        for p in self.pumps:
            if p.id == model_id.strip():
                return p
        known = ", ".join(p.id for p in self.pumps)
        raise InputError(field, f"unknown pump model '{model_id}' (the catalog has: {known})")

    def catheter(self, model_id: str, field: str = "pump.catheter.model") -> CatheterModel:
        for c in self.catheters:
            if c.id == model_id.strip():
                return c
        known = ", ".join(c.id for c in self.catheters)
        raise InputError(field, f"unknown catheter model '{model_id}' (the catalog has: {known})")
