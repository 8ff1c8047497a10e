"""The scenario file: a program file plus [simulation], [[events]] and optional [remote_use]. Pure: text in.

Every problem is an InputError naming the event and field (e.g. `events[3].volume`); nothing is half-run,
because the whole scenario is parsed and checked before the twin starts.
"""

from __future__ import annotations

import copy
import random
import re
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError

from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.errors import InputError
from openidds.programfile import parse_instant, program_from_dict, read_toml
from openidds.programs.clock import DAY_US, to_us
from openidds.programs.program import PumpProgram
from openidds.quantities import CONCENTRATION, TIME, VOLUME, parse_quantity
from openidds.twin.events import (
    AccuracyChange,
    CatheterFault,
    CatheterRepair,
    ClinicianBolus,
    Event,
    Interrogation,
    MotorStall,
    MriExposure,
    ProgramChange,
    Refill,
    RemoteRequest,
)
from openidds.validation import ascii_number, validation_error

When = str | datetime


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DrugIn(_In):
    name: str
    concentration: str


class RemoteIn(_In):
    type: Literal["remote"]
    at: When


class RefillIn(_In):
    type: Literal["refill"]
    at: When
    volume: str
    drugs: list[DrugIn] | None = None
    pocket: str | None = None
    withdrawn: str | None = None


class ProgramIn(_In):
    type: Literal["program"]
    at: When
    program: dict[str, Any]
    drugs: list[DrugIn] | None = None  # the solution the new program is written for (after a refill with it)
    patient_bolus: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    override_reason: str = ""
    bridge: StrictBool = False


class BolusIn(_In):
    type: Literal["bolus"]
    at: When
    volume: str
    duration: str


class InterrogationIn(_In):
    type: Literal["interrogation"]
    at: When


class MriIn(_In):
    type: Literal["mri"]
    at: When
    duration: str
    recovery: str | None = None  # None: the catalog's delay for the pump


class CatheterFaultIn(_In):
    type: Literal["catheter-fault"]
    at: When
    kind: Literal["occlusion", "disconnection", "leak"]


class CatheterRepairIn(_In):
    type: Literal["catheter-repair"]
    at: When


class MotorStallIn(_In):
    type: Literal["motor-stall"]
    at: When
    recovers_after: str | None = None


class AccuracyIn(_In):
    type: Literal["accuracy"]
    at: When
    factor: StrictFloat | StrictInt | str  # true is no factor


EventIn = Annotated[
    RemoteIn
    | RefillIn
    | ProgramIn
    | BolusIn
    | InterrogationIn
    | MriIn
    | CatheterFaultIn
    | CatheterRepairIn
    | MotorStallIn
    | AccuracyIn,
    Field(discriminator="type"),
]
EVENT_TYPES = (
    "remote",
    "refill",
    "program",
    "bolus",
    "interrogation",
    "mri",
    "catheter-fault",
    "catheter-repair",
    "motor-stall",
    "accuracy",
)


class SimulationIn(_In):
    start: When | None = None  # default: the fill
    end: When
    report_at: list[When] = Field(default_factory=list)


class RemoteUseIn(_In):
    requests_per_day: StrictFloat = Field(ge=0, le=48)  # true is no rate
    seed: StrictInt = 0


class ScenarioIn(_In):
    simulation: SimulationIn
    events: list[EventIn] = Field(default_factory=list)
    remote_use: RemoteUseIn | None = None


@dataclass(frozen=True)
class Scenario:
    program: PumpProgram
    start: int
    end: int
    events: tuple[Event, ...]
    report_at: tuple[int, ...]


SCENARIO_KEYS = ("simulation", "events", "remote_use")


def parse_scenario(text: str | bytes, library: DrugLibrary, catalog: DeviceCatalog) -> Scenario:
    raw = read_toml(text)
    base = {k: v for k, v in raw.items() if k not in SCENARIO_KEYS}
    program = program_from_dict(base, library, catalog)
    for i, e in enumerate(raw.get("events") or []):
        if isinstance(e, dict) and e.get("type") not in EVENT_TYPES:
            known = ", ".join(EVENT_TYPES)
            raise InputError(f"events[{i}].type", f"unknown event type {e.get('type')!r} (choose {known})")
    try:
        doc = ScenarioIn.model_validate({k: v for k, v in raw.items() if k in SCENARIO_KEYS})
    except ValidationError as exc:
        # pydantic names the union member in the path (events[0].mri.duration); users wrote events[0].duration.
        where, message = validation_error(exc)
        where = re.sub(r"(events\[\d+\])\.(?:" + "|".join(map(re.escape, EVENT_TYPES)) + r")\b", r"\1", where)
        raise InputError(where, message) from None
    zone = program.reservoir.zone
    fill = to_us(program.reservoir.filled_at)
    start = (
        fill if doc.simulation.start is None else to_us(parse_instant(doc.simulation.start, zone, "simulation.start"))
    )
    end = to_us(parse_instant(doc.simulation.end, zone, "simulation.end"))
    if start != fill:
        raise InputError("simulation.start", "the simulation starts at the fill (reservoir.filled_at)")
    if end <= start:
        raise InputError("simulation.end", "must come after the start")
    events: list[Event] = []
    current = program
    for i, e in enumerate(doc.events):
        where = f"events[{i}]"
        at = to_us(parse_instant(e.at, zone, f"{where}.at"))
        if at < start or at > end:
            raise InputError(f"{where}.at", "outside the simulation")
        if events and at < events[-1].at:
            raise InputError(f"{where}.at", "events must be listed in time order")
        events.append(_event(e, at, where, base, current, library, catalog))
        if isinstance(events[-1], ProgramChange):
            current = events[-1].program
        if isinstance(e, RemoteIn) and current.patient_bolus is None:
            raise InputError(where, "a remote request, but the program has no [patient_bolus]")
    if doc.remote_use is not None and doc.remote_use.requests_per_day > 0:
        if program.patient_bolus is None:
            raise InputError("remote_use", "remote use, but the program has no [patient_bolus]")
        events = _merge(events, _poisson(doc.remote_use.requests_per_day, doc.remote_use.seed, start, end))
    report = tuple(
        to_us(parse_instant(r, zone, f"simulation.report_at[{j}]")) for j, r in enumerate(doc.simulation.report_at)
    )
    return Scenario(program, start, end, tuple(events), report)


def _event(
    e: Any,
    at: int,
    where: str,
    base: dict[str, Any],
    current: PumpProgram,
    library: DrugLibrary,
    catalog: DeviceCatalog,
) -> Event:
    if isinstance(e, RemoteIn):
        return RemoteRequest(at)
    if isinstance(e, RefillIn):
        volume = parse_quantity(e.volume, VOLUME, f"{where}.volume")
        if volume.base <= 0:
            raise InputError(f"{where}.volume", f"must be more than zero, got '{e.volume}'")
        capacity = current.pump.capacity
        if volume > capacity:
            raise InputError(f"{where}.volume", f"{volume} is more than the reservoir holds ({capacity})")
        pocket = parse_quantity(e.pocket, VOLUME, f"{where}.pocket").to("mL") if e.pocket else Fraction(0)
        if not 0 <= pocket <= volume.to("mL"):
            raise InputError(f"{where}.pocket", "must be between zero and the fill volume")
        withdrawn = parse_quantity(e.withdrawn, VOLUME, f"{where}.withdrawn").to("mL") if e.withdrawn else None
        solution = None
        if e.drugs is not None:
            doc = copy.deepcopy(base)
            doc["drugs"] = [d.model_dump() for d in e.drugs]
            for j, d in enumerate(e.drugs):
                parse_quantity(d.concentration, CONCENTRATION, f"{where}.drugs[{j}].concentration")
            try:
                solution = program_from_dict(doc, library, catalog).solution
            except InputError as exc:
                raise InputError(where, str(exc)) from None
        return Refill(at, volume.to("mL"), solution, pocket, withdrawn)
    if isinstance(e, ProgramIn):
        doc = copy.deepcopy(base)
        doc["program"] = e.program
        if e.drugs is not None:
            doc["drugs"] = [d.model_dump() for d in e.drugs]
        for key in ("patient_bolus", "context"):
            value = getattr(e, key)
            if value is not None:
                doc[key] = value
        try:
            program = program_from_dict(doc, library, catalog)
        except InputError as exc:
            raise InputError(where, str(exc)) from None
        return ProgramChange(at, program, e.override_reason, e.bridge)
    if isinstance(e, BolusIn):
        volume = parse_quantity(e.volume, VOLUME, f"{where}.volume")
        if volume.base <= 0:
            raise InputError(f"{where}.volume", f"must be more than zero, got '{e.volume}'")
        if volume > current.pump.capacity:
            raise InputError(f"{where}.volume", f"{volume} is more than the reservoir holds ({current.pump.capacity})")
        return ClinicianBolus(at, volume.to("mL"), _duration(e.duration, f"{where}.duration"))
    if isinstance(e, InterrogationIn):
        return Interrogation(at)
    if isinstance(e, MriIn):
        duration = _duration(e.duration, f"{where}.duration")
        recovery = None if e.recovery is None else _duration(e.recovery, f"{where}.recovery", allow_zero=True)
        return MriExposure(at, duration, recovery)
    if isinstance(e, CatheterFaultIn):
        return CatheterFault(at, e.kind)
    if isinstance(e, CatheterRepairIn):
        return CatheterRepair(at)
    if isinstance(e, MotorStallIn):
        after = None if e.recovers_after is None else _duration(e.recovers_after, f"{where}.recovers_after")
        return MotorStall(at, after)
    assert isinstance(e, AccuracyIn)
    factor = ascii_number(str(e.factor))  # in the digits 0-9 (Fraction() reads other scripts' digits too)
    if factor is None:
        raise InputError(f"{where}.factor", f"expected a number such as 1.2, got {str(e.factor)[:40]!r}")
    if not 0 < factor <= 3:
        raise InputError(f"{where}.factor", f"must be above 0 and at most 3, got {e.factor}")
    return AccuracyChange(at, factor)


def _duration(text: str, field: str, allow_zero: bool = False) -> int:
    q = parse_quantity(text, TIME, field)
    if q.base < 0 or (q.base == 0 and not allow_zero):
        raise InputError(field, f"must be more than zero, got '{text}'")
    return int(q.to("s") * 1_000_000)


def _poisson(per_day: float, seed: int, start: int, end: int) -> list[Event]:
    """Remote requests as a Poisson process: deterministic for a seed."""
    rng = random.Random(seed)
    out: list[Event] = []
    t = start
    while True:
        t += int(rng.expovariate(per_day) * DAY_US)
        if t >= end:
            return out
        out.append(RemoteRequest(t))


def _merge(a: list[Event], b: list[Event]) -> list[Event]:
    return sorted(a + b, key=lambda e: e.at)  # stable: listed events keep their order at equal instants
