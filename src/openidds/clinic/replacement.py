"""When to replace a pump: one rule for every screen and the API.

The battery's elective replacement indicator (ERI, reached or projected by the twin) is followed by the end of
service after the catalog's `eri_to_eos` (SynchroMed: 90 days, label). Replacement is planned by the end of service
less the catalog's `replace_before_eos` (SynchroMed: about 6 months, label), or by the ERI itself when the catalog
gives no margin. A pump without a battery (constant flow) has no ERI and no replacement date.
"""

from __future__ import annotations

from dataclasses import dataclass

from openidds.devices.catalog import Battery
from openidds.programs.clock import DAY_US


@dataclass(frozen=True, slots=True)
class ReplacementPlan:
    eri: int  # µs UTC: the elective replacement indicator, reached or projected
    end_of_service: int | None  # µs UTC: the pump stops (None: the catalog gives no ERI-to-EOS span)
    plan_by: int  # µs UTC: plan (book) the replacement by
    reason: str  # how plan_by was set, in words


def replacement_plan(battery: Battery, eri: int | None) -> ReplacementPlan | None:
    if eri is None or not battery.powered:
        return None
    eos = None
    if battery.eri_to_eos is not None:
        eos = eri + int(battery.eri_to_eos.value.to("day") * DAY_US)
    if eos is not None and battery.replace_before_eos is not None:
        margin = battery.replace_before_eos
        plan = min(eri, eos - int(margin.value.to("day") * DAY_US))
        why = f"{margin.value.format('day')} before the end of service ({margin.basis}, {margin.source}{margin.marker})"
        return ReplacementPlan(eri, eos, plan, why)
    return ReplacementPlan(eri, eos, eri, "at the elective replacement indicator (the catalog gives no margin)")
