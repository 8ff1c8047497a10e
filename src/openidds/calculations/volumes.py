"""Volumes at implant, refill and drug change: priming bolus, bridge bolus, refill volume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from openidds.calculations.projection import stability_limit
from openidds.calculations.result import Calculated
from openidds.devices import CatheterModel, PumpModel
from openidds.errors import InputError
from openidds.programs.clock import DAY_US
from openidds.programs.program import Ingredient, PumpProgram
from openidds.quantities import RATE, Quantity


def _pathway(pump: PumpModel, catheter: CatheterModel, length: Quantity) -> Calculated[Quantity]:
    if length.base <= 0:
        raise InputError("length", f"the catheter length must be more than zero, got '{length}'")
    if pump.family not in catheter.families:
        raise InputError("catheter", f"{catheter.id} is not a catheter for the {pump.family} pump family")
    catheter_volume = (length * catheter.volume_per_cm.value).in_unit("mL")
    total = pump.dead_volume.value.in_unit("mL") + catheter_volume
    return Calculated(
        total,
        (
            f"pump internal volume {pump.dead_volume.describe('mL')}",
            f"catheter {length.format('cm')} × {catheter.volume_per_cm.describe()} = {catheter_volume}",
        ),
    )


def priming_bolus(
    pump: PumpModel, catheter: CatheterModel, length: Quantity, solution: Sequence[Ingredient] = ()
) -> Calculated[Quantity]:
    """Volume to fill the empty pump pathway and catheter after implant: dead volume + length × volume/cm."""
    path = _pathway(pump, catheter, length)
    notes = list(path.assumptions)
    for ing in solution:
        notes.append(f"{ing.dose(path.value)} of {ing.drug.name} may reach the patient before the bolus ends")
    notes.append("give it under medical supervision: drug and priming fluid mix at the high priming rate")
    return Calculated(path.value, tuple(notes))


@dataclass(frozen=True, slots=True)
class BridgeBolus:
    volume: Quantity  # old solution left in the pump pathway and catheter
    rate: Quantity  # mL/day the old solution runs at
    duration: Quantity
    old_doses: dict[str, Quantity]  # each old drug's daily dose while the bridge runs
    new_doses: dict[str, Quantity]  # each new drug's prescribed daily dose
    ends_at: datetime | None  # when the new program starts, if a start was given


def bridge_bolus(
    pump: PumpModel,
    catheter: CatheterModel,
    length: Quantity,
    old: Sequence[Ingredient],
    new: Sequence[Ingredient],
    new_rate: Quantity,
    start: datetime | None = None,
) -> Calculated[BridgeBolus]:
    """Deliver the old solution still in pump and catheter at the rate that keeps the new daily dose.

    The rate keeps the new prescribed daily dose of the first new drug that the old solution also holds;
    after the bridge the new program starts.
    """
    if not new_rate.is_kind(RATE) or new_rate.base <= 0:
        raise InputError("new_rate", f"expected a rate above zero such as '0.5 mL/day', got '{new_rate}'")
    path = _pathway(pump, catheter, length)
    notes = list(path.assumptions)
    new_doses = {i.drug.name: i.dose_rate(new_rate) for i in new}
    old_by_name = {i.drug.name: i for i in old}
    keep = next((i for i in new if i.drug.name in old_by_name), None)
    if keep is None:
        raise InputError(
            "new", "the new solution shares no drug with the old one: no dose to keep (plan the switch by hand)"
        )
    kept_dose = new_doses[keep.drug.name]
    old_conc = old_by_name[keep.drug.name].concentration
    rate = (kept_dose / old_conc).in_unit("mL/day")
    duration_days = path.value.to("mL") / rate.to("mL/day")
    duration = Quantity.of(duration_days, "day").in_unit("h")
    old_doses = {i.drug.name: i.dose_rate(rate) for i in old}
    notes.append(f"keeps {keep.drug.name} at the new {kept_dose}: rate = {kept_dose} ÷ old {old_conc} = {rate}")
    for name, dose in old_doses.items():
        if name != keep.drug.name:
            target = new_doses.get(name)
            notes.append(f"{name} meanwhile runs at {dose}" + (f" (new program: {target})" if target else ""))
    ends = None if start is None else start + timedelta(microseconds=int(duration_days * DAY_US))
    return Calculated(BridgeBolus(path.value, rate, duration, old_doses, new_doses, ends), tuple(notes))


def refill_volume(program: PumpProgram, until: datetime) -> Calculated[Quantity]:
    """Volume to fill now so the worst case (every allowed patient bolus) reaches `until` above the alarm level.

    Capped at the reservoir capacity; the assumptions say when the capacity or drug stability falls short.
    """
    res = program.reservoir
    if until <= res.filled_at:
        raise InputError("until", "the next refill must come after this fill")
    use = program.worst_case_profile.delivered(res.filled_at, until)
    needed = (use + res.low_alarm).in_unit("mL")
    notes = [f"worst-case use until then {use}", f"plus the low-reservoir level {res.low_alarm}"]
    capacity = program.pump.capacity
    volume = needed
    if needed > capacity:
        volume = capacity
        last = program.worst_case_profile.time_when_delivered(res.filled_at, capacity - res.low_alarm)
        notes.append(
            f"more than the {capacity} reservoir holds: a full fill reaches the alarm level at {last:%Y-%m-%d %H:%M}Z"
            if last
            else f"more than the {capacity} reservoir holds"
        )
    stability = stability_limit(program).value
    if until - res.filled_at > timedelta(days=float(stability.to("day"))):
        notes.append(f"beyond drug stability ({stability.format('day')}): refill sooner")
    return Calculated(volume, tuple(notes))
