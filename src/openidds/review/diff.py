"""Settings of a program as a clinician reads them, and the side-by-side comparison of two programs.

The programmed settings are shown exactly as the pump is told them; the doses that follow from them are shown to
3 significant figures and the fill instant on the patient's wall clock (`openidds.display`).

Rows are keyed by meaning (a drug's name, a step's time of day), not by position, so reordering the file
does not show as a change.
"""

from __future__ import annotations

from dataclasses import dataclass

from openidds import display
from openidds.calculations.projection import Projection, project
from openidds.programs.program import PumpProgram
from openidds.quantities import Quantity

ABSENT = "—"


@dataclass(frozen=True, slots=True)
class Row:
    setting: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _q(q: Quantity | None, unit: str | None = None) -> str:
    return ABSENT if q is None else q.format(unit)


def settings(program: PumpProgram, projection: Projection | None = None) -> dict[str, str]:
    """Every programmed setting and the daily figures that follow from them, in reading order.

    Give `projection` when the caller already has it: it is not worked out again.
    """
    p, res = program, program.reservoir
    out: dict[str, str] = {
        "pump model": p.pump.id,
        "catheter": f"{p.catheter.id}, {p.catheter_length}" if p.catheter and p.catheter_length else ABSENT,
        "reservoir filled at": f"{display.instant(res.filled_at, res.zone)} ({res.zone.key})",
        "reservoir volume": _q(res.volume, "mL"),
        "low-reservoir alarm": _q(res.low_alarm, "mL"),
    }
    if res.first_fill:
        out["first fill of a new pump"] = "yes"
    out["doses written in"] = p.primary.drug.name
    for ing in p.solution:
        out[f"{ing.drug.name} concentration"] = str(ing.concentration)
    out["mode"] = p.mode + (f" (period: {p.period})" if p.mode == "flex" else "")
    first = p.primary
    for step in p.steps:
        dose = first.dose_rate(step.rate)
        key = "rate" if p.mode == "continuous" else f"rate from {step.label()}"
        out[key] = f"{step.rate.format('mL/day')} ({display.dose(dose)} {first.drug.name})"
    pb = p.patient_bolus
    if pb is not None:
        doses = ", ".join(f"{display.dose(i.dose(pb.volume))} {i.drug.name}" for i in p.solution)
        out["patient bolus"] = f"{pb.volume.format('mL')} ({doses})"
        out["patient bolus duration"] = str(pb.duration)
        out["patient bolus lockout"] = str(pb.lockout)
        out["patient boluses per day"] = str(pb.max_per_day)
    else:
        out["patient bolus"] = "none"
    ctx = p.context
    out["care area"] = ctx.care_area
    out["opioid-naive"] = "yes" if ctx.opioid_naive else "no"
    for flag, label in (
        ("psychosis_history", "psychosis history"),
        ("sedatives", "on sedatives"),
        ("anticoagulants", "on anticoagulants"),
    ):
        if ctx.flag(flag):
            out[label] = "yes"
    proj = projection or project(p)
    out["daily volume"] = proj.daily_volume.program.format("mL/day")
    out["daily volume, worst case"] = proj.daily_volume.worst_case.format("mL/day")
    for name, daily in proj.daily_dose.items():
        out[f"{name} daily dose"] = display.dose(daily.program)
        out[f"{name} daily dose, worst case"] = display.dose(daily.worst_case)
    return out


def diff(old: PumpProgram, new: PumpProgram) -> list[Row]:
    """Every setting of either program, old beside new (ABSENT where a program lacks it)."""
    a, b = settings(old), settings(new)
    order = list(b)
    for i, key in enumerate(a):
        if key not in b:
            # Keep a removed setting next to its neighbour in the old program.
            before = next((k for k in reversed(list(a)[:i]) if k in order), None)
            order.insert(order.index(before) + 1 if before else 0, key)
    return [Row(k, a.get(k, ABSENT), b.get(k, ABSENT)) for k in order]
