"""An exact, event-driven digital twin of one implanted pump.

Time is data (integer UTC microseconds); there is no clock. Between events the pump delivers by the core's
closed-form schedule, times its actual accuracy factor; the twin jumps straight to the next thing that can
happen (an input event, a bolus ending, the low-reservoir level or empty reservoir being reached, a stall
recovering, ERI or end of service), found by the closed-form inverse. Same inputs, same outputs, to the bit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from openidds.calculations.reconcile import ResidualEstimate, reconcile
from openidds.errors import InputError
from openidds.programs.clock import DAY_US, from_us, to_us
from openidds.programs.delivery import Bolus, DeliveryProfile
from openidds.programs.program import Ingredient, PumpProgram
from openidds.quantities import Quantity
from openidds.safety import check
from openidds.twin.events import (
    AccuracyChange,
    CatheterFault,
    CatheterRepair,
    Event,
    Interrogation,
    MotorStall,
    MriExposure,
    ProgramChange,
    Refill,
    RemoteRequest,
)

Priority = Literal["non-critical", "critical"]
ALARMS: dict[str, Priority] = {
    "low-reservoir": "non-critical",
    "eri": "non-critical",
    "empty-reservoir": "critical",
    "motor-stall": "critical",
    "end-of-service": "critical",
}
Solution = tuple[Ingredient, ...]


@dataclass
class Alarm:
    name: str
    priority: Priority
    raised_at: int
    cleared_at: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "alarm": self.name,
            "priority": self.priority,
            "raised_at": from_us(self.raised_at).isoformat(),
            "cleared_at": None if self.cleared_at is None else from_us(self.cleared_at).isoformat(),
        }


@dataclass
class Pathway:
    """Pump dead space and catheter, first in first out: a new solution reaches the patient only once the old
    one ahead of it has been pushed out."""

    capacity_ml: Fraction
    segments: deque[list[Any]] = field(default_factory=deque)  # [volume_ml, solution]

    def push(self, volume: Fraction, solution: Solution) -> list[tuple[Fraction, Solution]]:
        """Put `volume` in at the pump end; return what leaves at the tip."""
        if volume <= 0:
            return []
        if self.segments and self.segments[-1][1] == solution:
            self.segments[-1][0] += volume
        else:
            self.segments.append([volume, solution])
        out: list[tuple[Fraction, Solution]] = []
        excess = sum((s[0] for s in self.segments), Fraction(0)) - self.capacity_ml
        while excess > 0:
            front = self.segments[0]
            take = min(front[0], excess)
            out.append((take, front[1]))
            front[0] -= take
            excess -= take
            if front[0] == 0:
                self.segments.popleft()
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """A patient remote request, accepted or denied, with the reason in the patient's words."""

    at: int
    accepted: bool
    reason: str


class PumpTwin:
    def __init__(self, program: PumpProgram, *, implanted_at: int | None = None, factor: Fraction = Fraction(1)):
        self.pump = program.pump
        self.t = to_us(program.reservoir.filled_at)
        self.implanted_at = self.t if implanted_at is None else implanted_at
        self.reservoir = program.reservoir.volume.to("mL")
        self.solution: Solution = program.solution
        path = self.pump.dead_volume.value.to("mL")
        if program.catheter is not None and program.catheter_length is not None:
            path += (program.catheter_length * program.catheter.volume_per_cm.value).to("mL")
        self.pathway = Pathway(path)
        self.pathway.segments.append([path, self.solution])  # primed with the first solution
        self.factor = factor
        self.catheter: Literal["ok", "occlusion", "disconnection"] = "ok"
        self.stopped_until: int | None = None  # a stall or MRI stop that ends by itself
        self.latched = False  # after MRI while alarming (peristaltic) or a closed valve: until interrogated
        self.stalled = False
        self.end_of_service = False
        self.boluses: list[Bolus] = []
        self.accepted: list[int] = []
        self.decisions: list[Decision] = []
        self.alarms: list[Alarm] = []
        self.log: list[dict[str, Any]] = []
        self.outlet: dict[str, Fraction] = {}
        self.patient: dict[str, Fraction] = {}
        self.outlet_volume = Fraction(0)
        self.patient_volume = Fraction(0)
        # What the clinic knows: recorded fill, programmed delivery since then, boluses since then.
        self.recorded_fill_at = self.t
        self.recorded_fill = self.reservoir
        self.boluses_since_fill: list[Bolus] = []
        self.battery_used = Fraction(0)  # fraction of the battery's service life
        self.eri_at: int | None = None
        battery = self.pump.battery
        self._gap_days = battery.eri_to_eos.value.to("day") if battery.eri_to_eos else Fraction(0)
        self._hard_stop_days = battery.hard_stop.value.to("day") if battery.hard_stop else None
        self._use_program(program)
        self.note("start", reservoir_ml=self.reservoir)

    # --- records ------------------------------------------------------------------------------------------------
    def note(self, what: str, **fields: Any) -> None:
        self.log.append({"at": self.t, "event": what, **fields})

    def active(self, name: str) -> Alarm | None:
        return next((a for a in self.alarms if a.name == name and a.cleared_at is None), None)

    def raise_alarm(self, name: str) -> None:
        if self.active(name) is None:
            self.alarms.append(Alarm(name, ALARMS[name], self.t))
            self.note("alarm", alarm=name, priority=ALARMS[name])

    def clear_alarm(self, name: str) -> None:
        alarm = self.active(name)
        if alarm is not None:
            alarm.cleared_at = self.t
            self.note("alarm-cleared", alarm=name)

    # --- delivery -----------------------------------------------------------------------------------------------
    @property
    def delivering(self) -> bool:
        return (
            self.reservoir > 0
            and not self.stalled
            and not self.latched
            and not self.end_of_service
            and (self.stopped_until is None or self.stopped_until <= self.t)
        )

    def profile(self) -> DeliveryProfile:
        return DeliveryProfile(self.program.schedule, self.program.reservoir.zone, tuple(self.boluses))

    def _next_timer(self, until: int) -> int:
        nxt = until
        for b in self.boluses:
            if self.t < b.end_us < nxt:
                nxt = b.end_us
        if self.stopped_until is not None and self.t < self.stopped_until < nxt:
            nxt = self.stopped_until
        for timer in (self._eri_time(), self._eos_time()):
            if timer is not None and self.t < timer < nxt:
                nxt = timer
        return nxt

    def _use_program(self, program: PumpProgram) -> None:
        """What follows from the program alone, worked out once rather than at every step."""
        self.program = program
        life = self.pump.battery.expected_life(program.mean_daily_volume())
        self._life_days = None if life is None else life.to("day")
        self._low_ml = program.reservoir.low_alarm.to("mL")
        self.remote_blocked = self._remote_block(program)

    def _eri_time(self) -> int | None:
        life = self._life_days
        if self.eri_at is not None or life is None:
            return None
        by_use = self.t + int((1 - self._gap_days / life - self.battery_used) * life * DAY_US)
        if self._hard_stop_days is not None:
            by_age = self.implanted_at + int((self._hard_stop_days - self._gap_days) * DAY_US)
            by_use = min(by_use, by_age)
        return max(by_use, self.t)

    def _eos_time(self) -> int | None:
        if self.eri_at is None or self.end_of_service:
            return None
        return self.eri_at + int(self._gap_days * DAY_US)

    def advance(self, until: int) -> None:
        """Run the pump to `until`, handling everything that happens on the way."""
        while self.t < until:
            nxt = self._next_timer(until)
            crossing: str | None = None
            if self.delivering:
                profile = self.profile()
                levels = [("empty-reservoir", Fraction(0))]
                low = self._low_ml
                if self.pump.has_alarms and self.active("low-reservoir") is None and self.reservoir > low:
                    levels.append(("low-reservoir", low))
                for name, level in levels:
                    at = profile.time_when_delivered_us(self.t, (self.reservoir - level) / self.factor)
                    if at is not None and at <= nxt:
                        nxt, crossing = at, name
                volume = min(profile.delivered_ml(self.t, nxt) * self.factor, self.reservoir)
                if crossing == "empty-reservoir":
                    volume = self.reservoir
                self._deliver(volume)
            if self._life_days is not None:
                self.battery_used += Fraction(nxt - self.t, DAY_US) / self._life_days
            self.t = nxt
            self._on_time()
            if crossing is not None:
                self.raise_alarm(crossing)

    def _deliver(self, volume: Fraction) -> None:
        if volume <= 0:
            return
        self.reservoir -= volume
        for part, solution in self.pathway.push(volume, self.solution):
            self.outlet_volume += part
            reaches = self.catheter == "ok"
            if reaches:
                self.patient_volume += part
            for ing in solution:
                amount = (Quantity.of(part, "mL") * ing.concentration).to(ing.drug.dose_unit)
                self.outlet[ing.drug.name] = self.outlet.get(ing.drug.name, Fraction(0)) + amount
                if reaches:
                    self.patient[ing.drug.name] = self.patient.get(ing.drug.name, Fraction(0)) + amount

    def _on_time(self) -> None:
        """Timers that fall due at self.t."""
        self.boluses = [b for b in self.boluses if b.end_us > self.t]
        if self.stopped_until is not None and self.stopped_until <= self.t:
            self.stopped_until = None
            if self.stalled:
                self.stalled = False
                self.clear_alarm("motor-stall")
                self.note("resumed", reason="motor stall recovered")
            else:
                self.note("resumed", reason="MRI exposure over")
        eri = self._eri_time()
        if eri is not None and eri <= self.t:
            self.eri_at = self.t
            self.raise_alarm("eri")
        eos = self._eos_time()
        if eos is not None and eos <= self.t:
            self.end_of_service = True
            self.raise_alarm("end-of-service")

    # --- events in ----------------------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        if event.at < self.t:
            raise InputError("events", f"event at {from_us(event.at):%Y-%m-%d %H:%M}Z is before the twin's time")
        self.advance(event.at)
        handler = getattr(self, "_on_" + type(event).__name__)
        handler(event)

    def _on_RemoteRequest(self, e: RemoteRequest) -> None:
        self.decisions.append(d := self._decide(e.at))
        self.note("remote", accepted=d.accepted, reason=d.reason)

    def _decide(self, at: int) -> Decision:
        pb = self.program.patient_bolus
        if pb is None:
            return Decision(at, False, "no patient bolus is programmed")
        if self.remote_blocked is not None:
            return Decision(at, False, self.remote_blocked)
        if not self.delivering:
            why = "the reservoir is empty" if self.reservoir <= 0 else "the pump is not infusing"
            return Decision(at, False, why)
        if self.pump.has_alarms and self.reservoir <= self._low_ml:
            return Decision(at, False, "the reservoir is low: call the clinic for a refill")
        lockout = int(pb.lockout.to("s") * 1_000_000)
        if self.accepted and at - self.accepted[-1] < lockout:
            wait = self.accepted[-1] + lockout - at
            return Decision(at, False, f"lockout: next dose possible in {-(-wait // 60_000_000)} min")
        recent = [a for a in self.accepted if at - a < DAY_US]
        if len(recent) >= pb.max_per_day:
            return Decision(at, False, f"daily maximum of {pb.max_per_day} reached")
        self.accepted.append(at)
        duration = int(pb.duration.to("s") * 1_000_000)
        bolus = Bolus(at, pb.volume.to("mL"), duration)
        self.boluses.append(bolus)
        self.boluses_since_fill.append(bolus)
        return Decision(at, True, "dose given")

    def _on_ProgramChange(self, e: ProgramChange) -> None:
        findings = check(e.program, e.program.context, self.program)
        hard = [f for f in findings if f.severity == "hard"]
        soft = [f for f in findings if f.severity == "soft"]
        if hard:
            self.note("program-refused", reasons=[f.message for f in hard])
            return
        if soft and not e.override_reason.strip():
            self.note("program-refused", reasons=["soft findings need an override reason", *(f.message for f in soft)])
            return
        self._use_program(e.program)
        self.note("program-changed", overrides=[f.code for f in soft], override_reason=e.override_reason)

    @staticmethod
    def _remote_block(program: PumpProgram) -> str | None:
        """Why the remote can give no bolus under this program (pump, drug or patient), or None."""
        if program.patient_bolus is None:
            return None
        blocked = [f for f in check(program, program.context) if f.severity == "hard" and f.family == "patient-bolus"]
        return blocked[0].message if blocked else None

    def expected_residual(self) -> ResidualEstimate:
        """What the clinic expects in the reservoir now: recorded fill minus programmed delivery and boluses."""
        profile = DeliveryProfile(self.program.schedule, self.program.reservoir.zone, tuple(self.boluses_since_fill))
        delivered = profile.delivered_ml(self.recorded_fill_at, self.t)
        band = delivered * self.pump.accuracy.value.base
        left = self.recorded_fill - delivered
        return ResidualEstimate(_ml(left), _ml(left - band), _ml(left + band), Quantity.of(delivered, "mL"))

    def _on_Refill(self, e: Refill) -> None:
        capacity = self.pump.capacity.to("mL")
        if e.volume_ml > capacity:
            raise InputError("refill.volume", f"{e.volume_ml} mL is more than the reservoir holds ({capacity} mL)")
        withdrawn = self.reservoir if e.withdrawn_ml is None else e.withdrawn_ml
        result = reconcile(self.expected_residual(), Quantity.of(withdrawn, "mL")).value
        self.note(
            "refill",
            withdrawn_ml=withdrawn,
            filled_ml=e.volume_ml,
            reconciliation=result.status,
            discrepancy_ml=result.discrepancy.to("mL"),
            likely_causes=list(result.likely_causes),
        )
        self.reservoir = e.volume_ml - e.pocket_ml
        if e.solution is not None:
            self.solution = e.solution
        self.recorded_fill, self.recorded_fill_at, self.boluses_since_fill = e.volume_ml, self.t, []
        for name in ("low-reservoir", "empty-reservoir"):
            self.clear_alarm(name)

    def _on_Interrogation(self, e: Interrogation) -> None:
        was = self.latched
        self.latched = False
        self.note(
            "interrogation",
            reservoir_ml=self.reservoir,
            resumed=was,
            alarms=[a.name for a in self.alarms if a.cleared_at is None],
        )

    def _on_MriExposure(self, e: MriExposure) -> None:
        behaviour = self.pump.mri
        if behaviour == "no-effect":
            self.note("mri", effect="none")
        elif behaviour == "valve-closes-until-reset":
            self.latched = True
            self.note("mri", effect="valve closed until the pump is interrogated and reset")
        else:
            alarming = any(a.cleared_at is None for a in self.alarms)
            self.stopped_until = e.at + e.duration_us + e.recovery_us
            self.latched = alarming
            self.note("mri", effect="stopped during exposure" + (", latched until interrogated" if alarming else ""))

    def _on_CatheterFault(self, e: CatheterFault) -> None:
        self.catheter = e.kind
        self.note("catheter-fault", kind=e.kind)

    def _on_CatheterRepair(self, e: CatheterRepair) -> None:
        self.catheter = "ok"
        self.note("catheter-repaired")

    def _on_MotorStall(self, e: MotorStall) -> None:
        self.stalled = True
        self.stopped_until = None if e.recovers_after_us is None else e.at + e.recovers_after_us
        self.raise_alarm("motor-stall")

    def _on_AccuracyChange(self, e: AccuracyChange) -> None:
        if e.factor < 0:
            raise InputError("accuracy.factor", "cannot be negative")
        self.factor = e.factor
        self.note("accuracy", factor=e.factor)

    # --- running a whole scenario -------------------------------------------------------------------------------
    def run(self, events: list[Event], until: int) -> PumpTwin:
        for i in range(1, len(events)):
            if events[i].at < events[i - 1].at:
                raise InputError(f"events[{i}].at", "events must be in time order")
        for e in events:
            if e.at > until:
                raise InputError("events", "an event comes after the end of the simulation")
            self.apply(e)
        self.advance(until)
        return self


def _ml(volume: Fraction) -> Quantity:
    return Quantity.of(max(volume, Fraction(0)), "mL")
