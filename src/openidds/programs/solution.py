"""What a pump can hold, checked once for every adapter: a solution with each drug at one concentration, and
volumes that fit the pump's reservoir. The program file, the calculations, the twin and the clinic service all
call these, so they accept and refuse the same things with the same words."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from openidds.devices import PumpModel
from openidds.errors import InputError
from openidds.programs.program import Ingredient
from openidds.quantities import Quantity, format_number


def check_solution(solution: Sequence[Ingredient], field: str = "drugs[{i}].name") -> tuple[Ingredient, ...]:
    """The solution, refused when it is empty or names a drug twice (a reservoir holds one concentration of each
    drug). `field` names the entry: `{i}` is replaced by its position."""
    if not solution:
        raise InputError(field.replace("[{i}]", "").replace("{i}", ""), "give at least one drug")
    seen: set[str] = set()
    for i, ing in enumerate(solution):
        name = ing.drug.name
        if name in seen:
            raise InputError(
                field.format(i=i),
                f"{name} is listed twice: a reservoir holds one concentration of each drug",
            )
        seen.add(name)
    return tuple(solution)


def check_volume(pump: PumpModel, volume: Fraction | Quantity, field: str, what: str = "the volume") -> Fraction:
    """A volume in or out of the reservoir (mL), refused when negative or more than the reservoir can hold."""
    ml = volume.to("mL") if isinstance(volume, Quantity) else Fraction(volume)
    if ml < 0:
        raise InputError(field, f"{what} cannot be negative, got {format_number(ml)} mL")
    capacity = pump.capacity.to("mL")
    if ml > capacity:
        raise InputError(
            field,
            f"{what} {format_number(ml)} mL is more than the {pump.id} reservoir can hold "
            f"({format_number(capacity)} mL)",
        )
    return ml
