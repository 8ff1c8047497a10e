"""Volumes at implant and refill: the pump pathway, priming bolus, refill volume (the bridge: bridge.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from openidds.calculations.projection import stability_limit
from openidds.calculations.result import Calculated
from openidds.devices import CatheterModel, PumpModel
from openidds.errors import InputError
from openidds.programs.program import Ingredient, PumpProgram
from openidds.quantities import Quantity


def pathway_volume(pump: PumpModel, catheter: CatheterModel, length: Quantity) -> Calculated[Quantity]:
    """Pump dead volume plus catheter length × volume per cm: what a priming bolus fills, what a bridge flushes."""
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
    path = pathway_volume(pump, catheter, length)
    notes = list(path.assumptions)
    for ing in solution:
        notes.append(f"{ing.dose(path.value)} of {ing.drug.name} may reach the patient before the bolus ends")
    notes.append("give it under medical supervision: drug and priming fluid mix at the high priming rate")
    return Calculated(path.value, tuple(notes))


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
