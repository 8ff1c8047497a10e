"""Schema of the drug library file (TOML). Validated on load; a clinic may load its own file instead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from pydantic import Field, model_validator

from openidds.errors import InputError
from openidds.evidence import Basis, Cited, DataModel, Guardrail, Severity, check_kind
from openidds.evidence.datafile import VersionedFile
from openidds.quantities import CONCENTRATION, DIMENSIONLESS, DOSE_RATE, MASS, TIME, VOLUME, Quantity

CareArea = Literal["pain-noncancer", "pain-cancer", "spasticity-spinal", "spasticity-cerebral"]
CARE_AREAS: tuple[CareArea, ...] = get_args(CareArea)

DrugClass = Literal["opioid", "n-type-calcium-channel-blocker", "local-anesthetic", "alpha-2-agonist", "gaba-b-agonist"]

# Patient facts a caution can depend on (the program file's [context] carries them).
CautionFlag = Literal["psychosis_history", "opioid_naive", "sedatives", "anticoagulants"]


class Formulation(DataModel):
    product: str
    concentration: Cited


class Stability(DataModel):
    """How long a fill may stay in the pump. `max_days` applies to the undiluted product."""

    max_days: Cited
    diluted_max_days: Cited | None = None
    first_fill_max_days: Cited | None = None  # first fill of a new pump (ziconotide: sorption to titanium)


class TitrationRule(DataModel):
    """At most one increase per `window`, of at most `max_increase` or `max_increase_percent` of the daily dose."""

    window: Cited
    max_increase: Cited | None = None
    max_increase_percent: Cited | None = None

    @model_validator(mode="after")
    def _kinds(self) -> TitrationRule:
        check_kind(self.window, TIME, "window")
        check_kind(self.max_increase, DOSE_RATE, "max_increase")
        check_kind(self.max_increase_percent, DIMENSIONLESS, "max_increase_percent")
        if self.max_increase is None and self.max_increase_percent is None:
            raise ValueError("give max_increase or max_increase_percent")
        return self


class Titration(DataModel):
    soft: TitrationRule | None = None
    hard: TitrationRule | None = None
    max_decrease_percent: Cited | None = None  # soft: a steep cut risks withdrawal

    @model_validator(mode="after")
    def _kinds(self) -> Titration:
        check_kind(self.max_decrease_percent, DIMENSIONLESS, "max_decrease_percent")
        return self


class Screening(DataModel):
    """A screening sequence of test doses (baclofen: 50, 75, 100 mcg), in order."""

    doses: list[Cited]

    @model_validator(mode="after")
    def _kinds(self) -> Screening:
        for i, d in enumerate(self.doses):
            check_kind(d, MASS, f"doses[{i}]")
        if [d.value for d in self.doses] != sorted(d.value for d in self.doses) or not self.doses:
            raise ValueError("screening doses must be given, in increasing order")
        return self


class CareAreaLimits(DataModel):
    daily_dose: Guardrail
    concentration: Guardrail
    patient_bolus_dose: Guardrail | None = None  # absent: no patient bolus for this drug in this care area
    patient_boluses_per_day: Guardrail | None = None
    titration: Titration | None = None
    trial_bolus: Guardrail | None = None
    screening: Screening | None = None  # a screening sequence (baclofen) instead of a single trial bolus
    starting_dose: Guardrail | None = None
    starting_dose_opioid_tolerant: Guardrail | None = None

    @model_validator(mode="after")
    def _kinds(self) -> CareAreaLimits:
        self.daily_dose.check_kind(DOSE_RATE, "daily_dose")
        self.concentration.check_kind(CONCENTRATION, "concentration")
        for name, kind in (
            ("patient_bolus_dose", MASS),
            ("patient_boluses_per_day", DIMENSIONLESS),
            ("trial_bolus", MASS),
            ("starting_dose", DOSE_RATE),
            ("starting_dose_opioid_tolerant", DOSE_RATE),
        ):
            rail: Guardrail | None = getattr(self, name)
            if rail is not None:
                rail.check_kind(kind, name)
        return self


class Caution(DataModel):
    """A patient fact that makes this drug unsafe or risky, e.g. ziconotide with any history of psychosis."""

    when: CautionFlag
    severity: Severity
    code: str
    message: str
    source: str
    basis: Basis
    unconfirmed: bool = False


class GranulomaRisk(DataModel):
    """Catheter-tip inflammatory mass: warn at or above either threshold (dose and concentration drive it)."""

    concentration: Cited | None = None
    daily_dose: Cited | None = None

    @model_validator(mode="after")
    def _kinds(self) -> GranulomaRisk:
        check_kind(self.concentration, CONCENTRATION, "concentration")
        check_kind(self.daily_dose, DOSE_RATE, "daily_dose")
        return self


class WithdrawalRisk(DataModel):
    """Stopping the drug abruptly can kill (baclofen): stopping, minimum rate or an empty reservoir warn."""

    severity: Severity
    message: str
    source: str
    basis: Basis
    unconfirmed: bool = False


class PocketFill(DataModel):
    """What to do when this drug was injected into the pump pocket instead of the reservoir (a pocket fill)."""

    message: str
    source: str
    basis: Basis
    unconfirmed: bool = False


class OralConversion(DataModel):
    """Oral morphine milligram equivalents (MME/day) to this drug intrathecally: divide by a ratio.

    The first ratio is the default; the others are named options (e.g. a conservative cancer start).
    """

    ratios: list[Cited] = Field(min_length=1)

    @model_validator(mode="after")
    def _kinds(self) -> OralConversion:
        for i, r in enumerate(self.ratios):
            check_kind(r, DIMENSIONLESS, f"ratios[{i}]")
            if r.value.base <= 0:
                raise ValueError(f"ratios[{i}]: must be more than zero")
        return self


class Drug(DataModel):
    name: str
    display_name: str
    also_known_as: list[str] = Field(default_factory=list)  # brand names, for reading allergy lists
    drug_class: DrugClass
    dose_unit: Literal["mg", "mcg"]
    formulations: list[Formulation] = Field(default_factory=list)
    compounded: bool = False  # no labeled intrathecal product: sterile compounding (PACC 2024 CP6)
    stability: Stability
    care_areas: dict[CareArea, CareAreaLimits]
    cautions: list[Caution] = Field(default_factory=list)
    granuloma_risk: GranulomaRisk | None = None
    withdrawal_risk: WithdrawalRisk | None = None
    pocket_fill: PocketFill | None = None
    patient_bolus_allowed: bool = True
    oral_conversion: OralConversion | None = None
    low_alarm_at_least: Cited | None = None  # advised low-reservoir alarm level (baclofen: withdrawal margin)

    @property
    def is_opioid(self) -> bool:
        return self.drug_class == "opioid"

    @property
    def concentration_unit(self) -> str:
        return f"{self.dose_unit}/mL"

    @property
    def dose_rate_unit(self) -> str:
        return f"{self.dose_unit}/day"

    def is_formulation(self, concentration: Quantity) -> bool:
        return any(f.concentration.value == concentration for f in self.formulations)

    @model_validator(mode="after")
    def _kinds(self) -> Drug:
        for i, f in enumerate(self.formulations):
            check_kind(f.concentration, CONCENTRATION, f"formulations[{i}].concentration")
        check_kind(self.low_alarm_at_least, VOLUME, "low_alarm_at_least")
        for name in ("max_days", "diluted_max_days", "first_fill_max_days"):
            check_kind(getattr(self.stability, name), TIME, f"stability.{name}")
        return self


class DrugLibrary(VersionedFile):
    drugs: list[Drug]

    @model_validator(mode="after")
    def _unique(self) -> DrugLibrary:
        names = [d.name for d in self.drugs]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"drug listed twice: {', '.join(sorted(dupes))}")
        return self

    def extra_source_keys(self) -> Iterable[tuple[str, str]]:
        for d in self.drugs:
            for attached in (*d.cautions, d.withdrawal_risk, d.pocket_fill):
                if attached is not None:
                    yield f"drug {d.name}", attached.source

    def drug(self, name: str, field: str = "name") -> Drug:
        key = name.strip().lower()
        for d in self.drugs:
            if d.name == key:
                return d
        known = ", ".join(d.name for d in self.drugs)
        raise InputError(field, f"unknown drug '{name}' (the library '{self.name}' has: {known})")
