"""Dose ⇄ rate, for one drug and for admixtures (every drug's daily dose follows from one volumetric rate)."""

from __future__ import annotations

from collections.abc import Sequence

from openidds.calculations.result import Calculated
from openidds.errors import InputError
from openidds.programs.program import Ingredient
from openidds.quantities import DOSE_RATE, RATE, Quantity


def rate_for_dose(dose: Quantity, solution: Sequence[Ingredient]) -> Calculated[Quantity]:
    """The rate (mL/day) that gives `dose` per day of the solution's first drug."""
    if not dose.is_kind(DOSE_RATE):
        raise InputError("dose", f"expected a daily dose such as '5 mg/day', got '{dose}'")
    if dose.base < 0:
        raise InputError("dose", f"a dose cannot be negative, got '{dose}'")
    first = solution[0]
    rate = (dose / first.concentration).in_unit("mL/day")
    return Calculated(
        rate,
        (
            f"rate = daily dose of {first.drug.name} ÷ its concentration = "
            f"{dose.format(first.drug.dose_rate_unit)} ÷ {first.concentration}",
        ),
    )


def doses_for_rate(rate: Quantity, solution: Sequence[Ingredient]) -> Calculated[dict[str, Quantity]]:
    """Every drug's daily dose at one volumetric rate: dose = rate × concentration."""
    if not rate.is_kind(RATE):
        raise InputError("rate", f"expected a rate such as '0.5 mL/day', got '{rate}'")
    if rate.base < 0:
        raise InputError("rate", f"a rate cannot be negative, got '{rate}'")
    doses = {i.drug.name: i.dose_rate(rate) for i in solution}
    notes = tuple(f"{i.drug.name}: {rate.format('mL/day')} × {i.concentration}" for i in solution)
    return Calculated(doses, notes)
