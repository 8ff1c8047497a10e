"""Parse a program file. Every problem is an `InputError` naming the field, e.g. `program.steps[2].rate`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from openidds.devices import DeviceCatalog
from openidds.drugs import CareArea, DrugLibrary
from openidds.errors import InputError
from openidds.programs.clock import LocalTimeError, localize
from openidds.programs.program import (
    MODES,
    WEEKDAYS,
    Context,
    Ingredient,
    Mode,
    PatientBolus,
    ProgramStep,
    PumpProgram,
    Reservoir,
)
from openidds.programs.solution import check_solution, check_volume
from openidds.quantities import CONCENTRATION, DOSE_RATE, LENGTH, MASS, RATE, TIME, VOLUME, Kind, Quantity
from openidds.quantities import parse_quantity as _parse
from openidds.tomlinput import read_toml as read_toml  # programfile.read_toml: the one reader of TOML
from openidds.validation import catheter_length_problem, instant_problem, validation_error


def _of(kind: Kind) -> Callable[[Any], Quantity]:
    def parse(value: Any) -> Quantity:
        return _parse(value, kind)

    return parse


Volume = Annotated[Quantity, BeforeValidator(_of(VOLUME))]
Rate = Annotated[Quantity, BeforeValidator(_of(RATE))]
DoseRate = Annotated[Quantity, BeforeValidator(_of(DOSE_RATE))]
Mass = Annotated[Quantity, BeforeValidator(_of(MASS))]
Duration = Annotated[Quantity, BeforeValidator(_of(TIME))]
Concentration = Annotated[Quantity, BeforeValidator(_of(CONCENTRATION))]
Length = Annotated[Quantity, BeforeValidator(_of(LENGTH))]
Text = Annotated[str, Field(min_length=1)]
WhenText = str | datetime


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class CatheterIn(_In):
    model: Text
    length: Length


class PumpIn(_In):
    model: Text
    catheter: CatheterIn | None = None


class ReservoirIn(_In):
    filled_at: WhenText
    timezone: Text
    volume: Volume
    low_alarm: Volume | None = None
    first_fill: StrictBool = False


class DrugIn(_In):
    name: Text
    concentration: Concentration


class StepIn(_In):
    at: str | time
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    rate: Rate | None = None
    dose: DoseRate | None = None


class ProgramIn(_In):
    mode: Literal["continuous", "flex", "stopped", "minimum-rate"]
    period: Literal["day", "week"] = "day"
    rate: Rate | None = None
    dose: DoseRate | None = None
    steps: list[StepIn] | None = None


class PatientBolusIn(_In):
    volume: Volume | None = None
    dose: Mass | None = None
    duration: Duration
    lockout: Duration
    max_per_day: StrictInt


class ContextIn(_In):
    care_area: Literal["pain-noncancer", "pain-cancer", "spasticity-spinal", "spasticity-cerebral"]
    opioid_naive: StrictBool | None = None
    psychosis_history: StrictBool | None = None
    sedatives: StrictBool = False
    anticoagulants: StrictBool = False
    last_dose_change_at: WhenText | None = None
    planned_refill_at: WhenText | None = None


class ProgramFileIn(_In):
    pump: PumpIn
    reservoir: ReservoirIn
    drugs: list[DrugIn] = Field(min_length=1)
    program: ProgramIn
    patient_bolus: PatientBolusIn | None = None
    context: ContextIn


def parse_instant(value: str | datetime, zone: ZoneInfo | None, field: str) -> datetime:
    """An ISO date-time as a UTC instant; without an offset it is read in `zone` (the clinic's time zone).

    A local time in a DST gap or overlap is refused; without a zone, an offset is required.
    """
    if isinstance(value, str):
        text = value.strip()
        parsed: datetime | None = None
        try:
            parsed = datetime.fromisoformat(text) if len(text) <= 60 else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise InputError(field, f"expected a date and time such as '2026-11-21T09:00', got '{text[:60]}'")
        value = parsed
    problem = instant_problem(value)  # before any conversion: year 9999 overflows it
    if problem is not None:
        raise InputError(field, problem)
    if value.tzinfo is not None:
        instant = value.astimezone(UTC)
    elif zone is None:
        raise InputError(field, f"give the UTC offset, e.g. '{value.isoformat()}+00:00'")
    else:
        try:
            instant = localize(value, zone)
        except LocalTimeError as exc:
            raise InputError(field, str(exc)) from None
    problem = instant_problem(instant)  # the wall time in the zone may still fall outside
    if problem is not None:
        raise InputError(field, problem)
    return instant


def _wall_time(value: str | time, field: str) -> time:
    if isinstance(value, time):
        parsed = value
    else:
        try:
            parsed = time.fromisoformat(value.strip())
        except ValueError:
            raise InputError(field, f"expected a time of day such as '07:00', got '{value}'") from None
    if parsed.tzinfo is not None or parsed.microsecond:
        raise InputError(field, f"expected a local time of day such as '07:00', got '{value}'")
    return parsed


def _positive(q: Quantity, field: str, what: str) -> None:
    if q.base <= 0:
        raise InputError(field, f"{what} must be more than zero, got '{q}'")


def parse_program(text: str | bytes, library: DrugLibrary, catalog: DeviceCatalog) -> PumpProgram:
    """Parse a program file's text. Raises InputError naming the first bad field."""
    return program_from_dict(read_toml(text), library, catalog)


def program_from_dict(raw: dict[str, Any], library: DrugLibrary, catalog: DeviceCatalog) -> PumpProgram:
    """A program from an already-read TOML document (a program file, or one inside a scenario)."""
    try:
        doc = ProgramFileIn.model_validate(raw)
    except ValidationError as exc:
        raise InputError(*validation_error(exc)) from None
    return _build(doc, library, catalog)


def _build(doc: ProgramFileIn, library: DrugLibrary, catalog: DeviceCatalog) -> PumpProgram:
    pump = catalog.pump(doc.pump.model, "pump.model")
    catheter, catheter_length = None, None
    if doc.pump.catheter is not None:
        catheter = catalog.catheter(doc.pump.catheter.model, "pump.catheter.model")
        catheter_length = doc.pump.catheter.length
        _positive(catheter_length, "pump.catheter.length", "the catheter length")
        too_long = catheter_length_problem(catheter_length.to("cm"))
        if too_long is not None:
            raise InputError("pump.catheter.length", too_long)

    # Reservoir and its time zone: every local time in the file is read in this zone.
    res = doc.reservoir
    try:
        zone = ZoneInfo(res.timezone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError("reservoir.timezone", f"unknown time zone '{res.timezone}' (e.g. 'America/Chicago')") from None
    _positive(res.volume, "reservoir.volume", "the fill volume")
    check_volume(pump, res.volume, "reservoir.volume", "the fill volume")
    low_alarm = res.low_alarm
    if low_alarm is None:
        default = pump.low_alarm_default
        low_alarm = default.value if default is not None else Quantity.of(0, "mL")
    elif low_alarm.base < 0:
        raise InputError("reservoir.low_alarm", f"the low-reservoir level cannot be negative, got '{low_alarm}'")
    if low_alarm > pump.capacity:
        raise InputError("reservoir.low_alarm", f"{low_alarm} is more than the reservoir holds ({pump.capacity})")
    reservoir = Reservoir(
        filled_at=parse_instant(res.filled_at, zone, "reservoir.filled_at"),
        zone=zone,
        volume=res.volume,
        low_alarm=low_alarm,
        first_fill=res.first_fill,
    )

    # Solution: the first drug is the one doses are written in.
    solution: list[Ingredient] = []
    for i, d in enumerate(doc.drugs):
        drug = library.drug(d.name, f"drugs[{i}].name")
        _positive(d.concentration, f"drugs[{i}].concentration", "the concentration")
        solution.append(Ingredient(drug, d.concentration.in_unit(drug.concentration_unit)))
    check_solution(solution)
    primary = solution[0]

    def rate_of(rate: Quantity | None, dose: Quantity | None, where: str) -> tuple[Quantity, Quantity | None]:
        if (rate is None) == (dose is None):
            raise InputError(where, f"give either rate (e.g. '0.5 mL/day') or dose (daily dose of {primary.drug.name})")
        if dose is not None:
            if dose.base < 0:
                raise InputError(f"{where}.dose", f"a dose cannot be negative, got '{dose}'")
            dose = dose.in_unit(primary.drug.dose_rate_unit)
            return (dose / primary.concentration).in_unit("mL/day"), dose
        assert rate is not None
        if rate.base < 0:
            raise InputError(f"{where}.rate", f"a rate cannot be negative, got '{rate}'")
        return rate.in_unit("mL/day"), None

    prog = doc.program
    mode: Mode = prog.mode
    steps: list[ProgramStep] = []
    if mode == "continuous":
        if prog.steps is not None:
            raise InputError("program.steps", "a continuous program has one rate: give rate or dose, not steps")
        if prog.period != "day":
            raise InputError("program.period", "a continuous program runs the same every day: leave period out")
        rate, dose = rate_of(prog.rate, prog.dose, "program")
        steps.append(ProgramStep(None, time(0, 0), rate, dose))
    elif mode == "flex":
        if prog.rate is not None or prog.dose is not None:
            raise InputError("program", "a flex program gives its rates in steps, not as program.rate or program.dose")
        if not prog.steps:
            raise InputError(
                "program.steps", "a flex program needs steps, e.g. [{ at = '00:00', rate = '0.4 mL/day' }]"
            )
        for i, s in enumerate(prog.steps):
            where = f"program.steps[{i}]"
            at = _wall_time(s.at, f"{where}.at")
            if prog.period == "week" and s.day is None:
                raise InputError(f"{where}.day", "a week-period step needs day = 'mon' .. 'sun'")
            if prog.period == "day" and s.day is not None:
                raise InputError(f"{where}.day", "a day-period step has no day (use period = 'week')")
            rate, dose = rate_of(s.rate, s.dose, where)
            step = ProgramStep(WEEKDAYS.index(s.day) if s.day else None, at, rate, dose)
            if steps and step.offset_us <= steps[-1].offset_us:
                problem = "repeats" if step.offset_us == steps[-1].offset_us else "comes before"
                raise InputError(
                    f"{where}.at",
                    f"{step.label()} {problem} the previous step ({steps[-1].label()}): "
                    "list steps once each, in time order",
                )
            steps.append(step)
    else:
        if prog.rate is not None or prog.dose is not None or prog.steps is not None:
            raise InputError("program", f"mode '{mode}' takes no rate, dose or steps")

    patient_bolus = None
    if doc.patient_bolus is not None:
        pb = doc.patient_bolus
        if (pb.volume is None) == (pb.dose is None):
            raise InputError("patient_bolus", f"give either volume (e.g. '0.02 mL') or dose (of {primary.drug.name})")
        dose = pb.dose.in_unit(primary.drug.dose_unit) if pb.dose is not None else None
        volume = (dose / primary.concentration).in_unit("mL") if dose is not None else pb.volume
        assert volume is not None
        _positive(volume, "patient_bolus.dose" if dose is not None else "patient_bolus.volume", "the bolus")
        _positive(pb.duration, "patient_bolus.duration", "the bolus duration")
        _positive(pb.lockout, "patient_bolus.lockout", "the lockout")
        if pb.max_per_day < 1:
            raise InputError("patient_bolus.max_per_day", f"must be 1 or more, got {pb.max_per_day}")
        patient_bolus = PatientBolus(volume, pb.duration.in_unit("min"), pb.lockout.in_unit("h"), pb.max_per_day, dose)

    ctx = doc.context
    care_area: CareArea = ctx.care_area
    # A fact that can make a drug unsafe must be stated, never assumed false.
    for ing in solution:
        if ing.drug.is_opioid and ctx.opioid_naive is None:
            raise InputError("context.opioid_naive", f"required with {ing.drug.name}: true or false")
        for caution in ing.drug.cautions:
            if caution.severity == "hard" and getattr(ctx, caution.when) is None:
                raise InputError(f"context.{caution.when}", f"required with {ing.drug.name}: true or false")
    context = Context(
        care_area=care_area,
        opioid_naive=bool(ctx.opioid_naive),
        psychosis_history=bool(ctx.psychosis_history),
        sedatives=ctx.sedatives,
        anticoagulants=ctx.anticoagulants,
        last_dose_change_at=None
        if ctx.last_dose_change_at is None
        else parse_instant(ctx.last_dose_change_at, zone, "context.last_dose_change_at"),
        planned_refill_at=None
        if ctx.planned_refill_at is None
        else parse_instant(ctx.planned_refill_at, zone, "context.planned_refill_at"),
    )
    assert mode in MODES
    return PumpProgram(
        pump=pump,
        reservoir=reservoir,
        solution=tuple(solution),
        mode=mode,
        period=prog.period,
        steps=tuple(steps),
        context=context,
        patient_bolus=patient_bolus,
        catheter=catheter,
        catheter_length=catheter_length,
    )
