"""Projections from a fill: low-reservoir alarm, empty reservoir, stability expiry and next refill due.

`program` is the schedule alone; `worst_case` adds every allowed patient bolus (their daily maximum) as an
even extra rate over each 24 h, which is what the clinician must plan the refill around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from openidds.calculations.result import Calculated
from openidds.programs.clock import DAY_US
from openidds.programs.program import PumpProgram
from openidds.quantities import Quantity

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Both(Generic[T]):
    program: T
    worst_case: T


@dataclass(frozen=True)
class Projection:
    daily_volume: Both[Quantity]
    daily_dose: dict[str, Both[Quantity]]
    low_reservoir_alarm_at: Both[datetime | None]
    reservoir_empty_at: Both[datetime | None]
    stability_expires_at: datetime
    next_refill_due: datetime
    next_refill_reason: str
    assumptions: tuple[str, ...]


def stability_limit(program: PumpProgram) -> Calculated[Quantity]:
    """How long this fill may stay in the pump: the shortest limit of any drug in the solution."""
    best: Quantity | None = None
    notes: list[str] = []
    for ing in program.solution:
        st = ing.drug.stability
        diluted = program.is_admixture or not ing.drug.is_formulation(ing.concentration)
        if program.reservoir.first_fill and st.first_fill_max_days is not None:
            cited, why = st.first_fill_max_days, "first fill of a new pump"
        elif diluted and st.diluted_max_days is not None:
            cited, why = st.diluted_max_days, "diluted" if not program.is_admixture else "in an admixture"
        else:
            cited, why = st.max_days, "undiluted" if ing.drug.formulations and not diluted else "in the pump"
        notes.append(f"{ing.drug.name} {why}: stable {cited.describe('days')}")
        if best is None or cited.value < best:
            best = cited.value
    assert best is not None
    return Calculated(best.in_unit("day"), tuple(notes))


def _at_delivered(program: PumpProgram, volume: Quantity, worst: bool) -> datetime | None:
    profile = program.worst_case_profile if worst else program.profile
    return profile.time_when_delivered(program.reservoir.filled_at, volume)


def project(program: PumpProgram) -> Projection:
    res = program.reservoir
    notes: list[str] = []
    daily = Both(program.daily_volume(), program.worst_case_daily_volume())
    doses = {i.drug.name: Both(i.dose_rate(daily.program), i.dose_rate(daily.worst_case)) for i in program.solution}
    if program.period == "week":
        notes.append(
            f"daily figures are the most in any 24 h of the week; the weekly mean is "
            f"{program.mean_daily_volume().format('mL/day')}"
        )
    if program.patient_bolus is not None:
        pb = program.patient_bolus
        notes.append(
            f"worst case: all {pb.max_per_day} patient boluses of {pb.volume} a day, counted as an even extra "
            f"{program.worst_case_extra.format('mL/day')}"
        )
    if program.pump.fixed_rate is not None:
        notes.append(f"constant-flow pump: runs at its fixed {program.pump.fixed_rate.describe()}")
    notes.append(f"schedule on the {res.zone.key} wall clock; a rate in mL/day is per 24 h of elapsed time")

    to_alarm = res.volume - res.low_alarm
    alarm: Both[datetime | None]
    if to_alarm.base <= 0:
        alarm = Both(res.filled_at, res.filled_at)
        notes.append(f"filled at or below the low-reservoir level ({res.low_alarm}): the alarm is due at once")
    else:
        alarm = Both(_at_delivered(program, to_alarm, False), _at_delivered(program, to_alarm, True))
    empty = Both(_at_delivered(program, res.volume, False), _at_delivered(program, res.volume, True))
    if not program.pump.has_alarms:
        notes.append(f"this pump has no alarm: the low-reservoir instant is when {res.low_alarm} remain")

    stability = stability_limit(program)
    notes.extend(stability.assumptions)
    expires = res.filled_at + timedelta(microseconds=math.floor(stability.value.to("day") * DAY_US))

    candidates: list[tuple[datetime, str]] = [(expires, "drug stability expires")]
    if alarm.worst_case is not None:
        candidates.append((alarm.worst_case, "low-reservoir alarm (worst case)"))
    due, reason = min(candidates, key=lambda c: c[0])
    return Projection(
        daily_volume=daily,
        daily_dose=doses,
        low_reservoir_alarm_at=alarm,
        reservoir_empty_at=empty,
        stability_expires_at=expires,
        next_refill_due=due,
        next_refill_reason=reason,
        assumptions=tuple(notes),
    )
