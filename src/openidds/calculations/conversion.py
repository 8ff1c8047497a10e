"""Oral morphine milligram equivalents (MME/day) to a starting intrathecal morphine dose."""

from __future__ import annotations

from fractions import Fraction

from openidds.calculations.result import Calculated
from openidds.drugs import CareArea, DrugLibrary
from openidds.errors import InputError
from openidds.quantities import DOSE_RATE, Quantity


def intrathecal_morphine_start(
    mme: Quantity,
    library: DrugLibrary,
    care_area: CareArea,
    ratio: Fraction | None = None,
    opioid_naive: bool = False,
) -> Calculated[Quantity]:
    """IT morphine mg/day = oral MME/day ÷ ratio (library default, e.g. 300:1), clipped to the starting maximum."""
    if not mme.is_kind(DOSE_RATE) or mme.base <= 0:
        raise InputError("mme", f"expected oral morphine equivalents above zero such as '120 mg/day', got '{mme}'")
    morphine = library.drug("morphine")
    conversion = morphine.oral_conversion
    if conversion is None:
        raise InputError("library", f"the library '{library.name}' has no oral conversion for morphine")
    if ratio is None:
        cited = conversion.ratios[0]
    else:
        cited = next((r for r in conversion.ratios if r.value.base == ratio), None)  # type: ignore[assignment]
        if cited is None:
            known = ", ".join(f"{r.value}:1" for r in conversion.ratios)
            raise InputError("ratio", f"{ratio}:1 is not a ratio in the library (choose {known})")
    raw = (mme / cited.value.base).in_unit("mg/day")
    notes = [f"{mme.format('mg/day')} oral ÷ {cited.value}:1 ({cited.basis}, {cited.source}{cited.marker}) = {raw}"]
    limits = morphine.care_areas.get(care_area)
    if limits is None:
        raise InputError("care_area", f"morphine has no limits for care area '{care_area}'")
    rail = limits.starting_dose if opioid_naive else (limits.starting_dose_opioid_tolerant or limits.starting_dose)
    value = raw
    if rail is not None:
        # Only ever clipped down: a converted opioid dose is never raised to meet a range ("start low").
        which = "opioid-naive" if opioid_naive or limits.starting_dose_opioid_tolerant is None else "opioid-tolerant"
        upper = rail.soft_max or rail.hard_max
        lower = rail.soft_min or rail.hard_min
        if upper is not None and raw > upper.value:
            value = upper.value.in_unit("mg/day")
            notes.append(f"clipped to the {which} starting maximum {upper.describe()}")
        elif lower is not None and raw < lower.value:
            notes.append(f"below the usual {which} starting range (from {lower.describe()}): kept, not raised")
        else:
            notes.append(f"inside the {which} starting range")
    notes.append("a starting point only: observed ratios vary widely; titrate under monitoring")
    return Calculated(value, tuple(notes))
