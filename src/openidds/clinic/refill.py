"""A refill as a careful clinic does it, as a state machine: prepare → independent double check → fill.

    prepared ──check (a second person)──▶ checked ──complete──▶ completed
        └──────complete with an emergency reason (flagged for review)──▶ completed
    prepared, checked ──cancel──▶ cancelled

*Prepare*: the solution as labelled, its lot, its expiry or beyond-use date and the volume to fill. *Check*: a
second person, not the one who prepared it, checks the preparation against the prescription before anything goes
into the pump; a compounded solution (an admixture, a strength that is no product, a drug with no labeled product)
needs a pharmacist or a physician. *Complete*: the residual withdrawn, the volume filled, the reconciliation, and
only now the new fill in the pump twin (with a program written for this solution, applied in the same step).

Pure: the service supplies the records and the instant; every refusal is an InputError naming the field, or the
reason a step is out of order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Literal, get_args

from openidds import display
from openidds.clinic.citations import cite, policy
from openidds.clinic.followup import Flag
from openidds.devices import PumpModel
from openidds.errors import InputError
from openidds.programs.program import Ingredient
from openidds.programs.solution import check_volume
from openidds.quantities import Quantity, format_ml, format_number

RefillStatus = Literal["prepared", "checked", "completed", "cancelled"]
REFILL_STATUSES: tuple[RefillStatus, ...] = get_args(RefillStatus)
Step = Literal["check", "complete", "cancel"]
STEPS_FROM: dict[Step, tuple[RefillStatus, ...]] = {
    "check": ("prepared",),
    "complete": ("prepared", "checked"),
    "cancel": ("prepared", "checked"),
}
EXPIRED = "the solution's expiry or beyond-use date has passed: do not fill it"
SECOND_CHECK = cite("refill-second-check", "literature")
DOUBLE_CHECK = cite("independent-double-check", "literature")
POCKET_FILL = cite("pocket-fill-reports", "literature")
EMERGENCY = policy(
    "A refill filled without its independent double check is allowed only with an emergency reason, and is "
    "flagged for the team's review: an OpenIDDS choice."
)


def step_refused(status: str, step: Step) -> str | None:
    """Why `step` cannot be taken from `status`, or None when it can."""
    if status in STEPS_FROM[step]:
        return None
    what = {"check": "checked", "complete": "completed", "cancel": "cancelled"}[step]
    return f"this refill is {status}: it cannot be {what} now"


@dataclass(frozen=True, slots=True)
class Compounded:
    value: bool
    reasons: tuple[str, ...]


def compounded(solution: Sequence[Ingredient]) -> Compounded:
    """Whether the solution is compounded (so a pharmacist or a physician checks it), with why: an admixture, a
    drug with no labeled intrathecal product, or a strength that is not a product strength (diluted or mixed)."""
    reasons = []
    if len(solution) > 1:
        reasons.append(f"an admixture of {len(solution)} drugs")
    for ing in solution:
        drug = ing.drug
        if drug.compounded:
            reasons.append(f"{drug.name} has no labeled intrathecal product")
        elif not drug.formulations:
            reasons.append(f"the library lists no product strength of {drug.name}")
        elif not drug.is_formulation(ing.concentration):
            strengths = ", ".join(str(f.concentration.value) for f in drug.formulations)
            reasons.append(f"{drug.name} {ing.concentration} is not a product strength ({strengths})")
    if reasons:
        return Compounded(True, tuple(reasons))
    return Compounded(False, ("every drug is a labeled product strength",))


def check_preparation(pump: PumpModel, volume_ml: Fraction, expires_at: datetime, now: datetime) -> None:
    """A preparation the pump can take and that is still in date."""
    if volume_ml <= 0:
        raise InputError("volume_ml", "the volume to fill must be more than 0 mL")
    check_volume(pump, volume_ml, "volume_ml", "the volume to fill")
    if expires_at <= now:
        raise InputError("expires_at", EXPIRED)


def check_completion(
    pump: PumpModel,
    *,
    prepared_ml: Fraction,
    withdrawn_ml: Fraction,
    filled_ml: Fraction,
    pocket_fill_suspected: bool,
    pocket_ml: Fraction | None,
    expires_at: datetime | None,
    now: datetime,
    checked: bool,
    emergency_reason: str,
) -> Fraction:
    """The fill as recorded: volumes the pump can hold, no more than was prepared (and checked), in date, and a
    check before the fill unless an emergency reason is given. Returns what may have gone outside the reservoir:
    0 mL, or with a suspected pocket fill `pocket_ml` (None: all of the fill)."""
    check_volume(pump, withdrawn_ml, "withdrawn_ml", "the withdrawn volume")
    if filled_ml <= 0:
        raise InputError("filled_ml", "the volume filled must be more than 0 mL")
    check_volume(pump, filled_ml, "filled_ml", "the volume filled")
    if filled_ml > prepared_ml:
        raise InputError(
            "filled_ml",
            f"{format_number(filled_ml)} mL is more than was prepared and checked ({format_number(prepared_ml)} mL)",
        )
    pocket = Fraction(0)
    if pocket_fill_suspected:
        pocket = filled_ml if pocket_ml is None else pocket_ml
        if not 0 < pocket <= filled_ml:
            raise InputError(
                "pocket_ml",
                "a suspected pocket fill is more than 0 mL and at most the fill (leave it empty for all of the fill)",
            )
    elif pocket_ml is not None:
        raise InputError("pocket_ml", "only with a suspected pocket fill")
    if expires_at is not None and expires_at <= now:
        raise InputError("expires_at", EXPIRED)
    if not checked and not emergency_reason.strip():
        raise InputError(
            "emergency_reason",
            "this preparation has not had its independent double check: have a second person check it before the "
            "fill, or give the emergency reason for filling it unchecked (it is flagged for review)",
        )
    return pocket


def match_solution(
    solution: Sequence[Ingredient],
    running: Sequence[Ingredient],
    waiting: Sequence[tuple[int, Sequence[Ingredient]]],
    named: int | None,
) -> int | None:
    """Which waiting program (its number) this refill's solution brings, or None for the running program's own.

    `waiting`: the programs confirmed and verified for a new drug or concentration, waiting for their refill. A
    solution that is neither the running program's nor a waiting program's cannot be filled (an InputError)."""
    if named is not None:
        found = next((s for n, s in waiting if n == named), None)
        if found is None:
            raise InputError("program_version", f"program version {named} is not waiting for a refill")
        if not same_solution(found, solution):
            raise InputError("solution", f"differs from the solution program version {named} is written for")
        return named
    if same_solution(solution, running):
        return None
    for number, waiting_solution in waiting:
        if same_solution(waiting_solution, solution):
            return number
    raise InputError(
        "solution",
        "differs from the running program's solution, and no program waits for it: a new drug or concentration "
        "needs a new program (proposed, confirmed and verified) before its refill",
    )


def same_solution(a: Sequence[Ingredient], b: Sequence[Ingredient]) -> bool:
    """The same drugs at the same concentrations, in whatever order a label lists them."""
    return {i.drug.name: i.concentration for i in a} == {i.drug.name: i.concentration for i in b}


def describe_solution(solution: Sequence[Ingredient]) -> str:
    """'morphine 10 mg/mL, clonidine 100 mcg/mL': a solution as its label reads."""
    return ", ".join(f"{i.drug.name} {i.concentration}" for i in solution)


def pocket_fill_flag(solution: Sequence[Ingredient], pocket_ml: Fraction) -> Flag:
    """An urgent flag after a suspected pocket fill: how much of each drug went into the tissue, and what to do."""
    volume = Quantity.of(pocket_ml, "mL")
    amounts = "; ".join(f"{i.drug.name} {i.dose(volume).format(i.drug.dose_unit, 3)}" for i in solution)
    actions = tuple(
        i.drug.pocket_fill.message if i.drug.pocket_fill is not None else f"{i.drug.name}: observe the patient"
        for i in solution
    )
    return Flag(
        "refill.pocket-fill",
        True,
        f"suspected pocket fill: up to {format_ml(pocket_ml)} outside the reservoir ({amounts}), an "
        "acute dose into the tissue around the pump",
        POCKET_FILL,
        actions,
    )


DISCREPANCY = policy(
    "A withdrawn volume outside the expected band is acknowledged by a clinician with what was found: an OpenIDDS "
    "choice (the band is the pump's accuracy; see the reconciliation's likely causes)."
)


def discrepancy_flag(
    status: str,
    withdrawn_ml: Fraction,
    expected_ml: Fraction,
    low_ml: Fraction,
    high_ml: Fraction,
    likely_causes: Sequence[str],
    solution: Sequence[Ingredient] = (),
) -> Flag | None:
    """A flag to acknowledge when the residual withdrawn at a refill lies outside the expected band (None inside).

    Less than expected means up to the difference may have reached the patient beyond the program (or leaked): the
    amount of each drug is named, and it is urgent: assess the patient now (opioid: sedation and breathing, naloxone
    at hand). More than expected means less was delivered: urgent with a withdrawal-risk drug (baclofen)."""
    if status == "within-band":
        return None
    less = status == "less-than-expected"
    gap = Quantity.of(abs(expected_ml - withdrawn_ml), "mL")
    amounts = "; ".join(f"{i.drug.name} {display.dose(i.dose(gap), i.drug.dose_unit)}" for i in solution)
    side = "less" if less else "more"
    text = (
        f"reconciliation discrepancy: {format_ml(withdrawn_ml)} withdrawn, {side} than the "
        f"{format_ml(expected_ml)} expected (band {format_ml(low_ml).removesuffix(' mL')} to {format_ml(high_ml)})"
    )
    actions: list[str] = []
    urgent = False
    if less and solution:
        urgent = True
        text += f": up to {format_ml(gap.to('mL'))} unaccounted for ({amounts}), delivered beyond the program or lost"
        actions.append("assess the patient now: sedation, breathing, blood pressure, new weakness")
        if any(i.drug.is_opioid for i in solution):
            actions.append("opioid: observe for respiratory depression with naloxone at hand")
    elif not less and any(i.drug.withdrawal_risk is not None for i in solution):
        urgent = True
        text += f": {format_ml(gap.to('mL'))} less delivered than programmed ({amounts}): watch for withdrawal"
        actions.append("assess the patient for withdrawal now (itching, fever, returning spasticity, confusion)")
    return Flag(
        "refill.discrepancy",
        urgent,
        text,
        DISCREPANCY,
        (
            *actions,
            *(f"likely: {c}" for c in likely_causes),
            "interrogate the pump; a second person (not who filled it) acknowledges with what was found",
        ),
    )


def emergency_flag(reason: str) -> Flag:
    return Flag(
        "refill.unchecked",
        False,
        f"filled without its independent double check (emergency: {reason.strip()}): review the preparation "
        "against the prescription and the label",
        EMERGENCY,
    )


FIRST_FILL = policy(
    "A compounded first fill, put in at the implant without the refill's double check, is reviewed by a second "
    "person (a pharmacist or a physician other than the surgeon) against the prescription and the label: an "
    "OpenIDDS choice, as for every compounded refill."
)


def first_fill_flag(solution: Sequence[Ingredient]) -> Flag | None:
    """A review flag for an implant's first fill when its solution is compounded (None for a product strength)."""
    why = compounded(solution)
    if not why.value:
        return None
    return Flag(
        "implant.first-fill-unchecked",
        False,
        f"the first fill ({describe_solution(solution)}) is compounded ({'; '.join(why.reasons)}): a second person "
        "checks the preparation against the prescription and the label",
        FIRST_FILL,
        ("a pharmacist or a physician other than who recorded the implant reviews the compounding record",),
    )
