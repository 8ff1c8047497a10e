"""Expected residual at a refill, within the device accuracy band, and reconciling what was withdrawn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from openidds import display
from openidds.calculations.result import Calculated
from openidds.errors import InputError
from openidds.programs.program import PumpProgram
from openidds.quantities import VOLUME, Quantity


@dataclass(frozen=True, slots=True)
class ResidualEstimate:
    expected: Quantity
    low: Quantity  # if the pump ran at the top of its accuracy band
    high: Quantity  # if it ran at the bottom
    delivered: Quantity  # programmed volume since the fill, boluses included


def _clip(volume: Quantity) -> Quantity:
    return volume if volume.base > 0 else Quantity.of(0, "mL")


def expected_residual(
    program: PumpProgram, at: datetime, patient_boluses_taken: int = 0
) -> Calculated[ResidualEstimate]:
    """What should be left in the reservoir at `at`, given the programmed delivery and the boluses taken."""
    res = program.reservoir
    if at < res.filled_at:
        raise InputError("at", "the instant is before the fill")
    if patient_boluses_taken < 0:
        raise InputError("patient_boluses_taken", "cannot be negative")
    delivered = program.profile.delivered(res.filled_at, at)
    notes = [f"programmed delivery since the fill {delivered}"]
    if patient_boluses_taken:
        if program.patient_bolus is None:
            raise InputError("patient_boluses_taken", "the program has no patient bolus")
        extra = program.patient_bolus.volume * patient_boluses_taken
        delivered = delivered + extra
        notes.append(f"plus {patient_boluses_taken} patient boluses = {extra}")
    accuracy = program.pump.accuracy
    band = delivered * accuracy.value.base
    notes.append(f"accuracy band ± {accuracy.describe('%')} of the delivered volume = ± {band}")
    estimate = ResidualEstimate(
        expected=_clip(res.volume - delivered),
        low=_clip(res.volume - delivered - band),
        high=_clip(res.volume - delivered + band),
        delivered=delivered,
    )
    return Calculated(estimate, tuple(notes))


Status = Literal["within-band", "less-than-expected", "more-than-expected"]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    status: Status
    discrepancy: Quantity  # withdrawn − expected
    likely_causes: tuple[str, ...]


def reconcile(estimate: ResidualEstimate, withdrawn: Quantity) -> Calculated[Reconciliation]:
    """Compare the volume withdrawn at a refill with the expected residual and its accuracy band."""
    if not withdrawn.is_kind(VOLUME) or withdrawn.base < 0:
        raise InputError("withdrawn", f"expected a volume of zero or more such as '3.2 mL', got '{withdrawn}'")
    diff = withdrawn - estimate.expected
    band = f"{display.volume_number(estimate.low)} to {display.volume(estimate.high)}"  # for reading: to 0.1 mL
    if withdrawn < estimate.low:
        result = Reconciliation(
            "less-than-expected",
            diff,
            (
                "over-infusion: the pump delivered more than programmed",
                "pocket fill at the last refill: part of the fill went outside the reservoir",
                "the last fill volume was recorded higher than given",
            ),
        )
    elif withdrawn > estimate.high:
        result = Reconciliation(
            "more-than-expected",
            diff,
            (
                "under-infusion or a stalled pump: less was delivered than programmed",
                "a catheter occlusion: nothing left the pump while it ran",
                "the pump was stopped or at minimum rate for a while",
                "the last fill volume was recorded lower than given",
            ),
        )
    else:
        result = Reconciliation("within-band", diff, ())
    shown = f"withdrawn {display.volume(withdrawn)}, expected {display.volume(estimate.expected)} (band {band})"
    return Calculated(result, (shown,))
