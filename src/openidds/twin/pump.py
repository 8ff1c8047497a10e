"""An exact, event-driven digital twin of one implanted pump.

Time is data (integer UTC microseconds); there is no clock. Between events the pump delivers by the core's
closed-form schedule, times its actual accuracy factor; the twin jumps straight to the next thing that can
happen (an input event, the low-reservoir level or empty reservoir being reached, a stall recovering, a
bridge bolus ending, ERI or end of service). Same inputs, same outputs, to the bit.

Volumes are exact. Inside, they are integers of 1/q mL, with q chosen so that every volume the pump can
deliver between two microseconds is a whole number of units: a year of events then costs integer additions
rather than Fraction arithmetic. The scale grows (and everything held is rescaled) when a program, a bolus, a
fill or an accuracy factor needs a finer one. Outside, every volume is a Fraction of mL.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from functools import partial
from math import lcm
from typing import Any, Literal

from openidds.calculations.bridge import bridge_program, bridge_rule
from openidds.calculations.reconcile import ResidualEstimate, reconcile
from openidds.errors import InputError
from openidds.programs.clock import DAY_US, from_us, offset_spans, to_us, wall_us
from openidds.programs.delivery import DeliveryProfile
from openidds.programs.program import Ingredient, PumpProgram
from openidds.programs.solution import check_solution, check_volume
from openidds.quantities import Quantity
from openidds.safety import check
from openidds.twin.events import (
    AccuracyChange,
    CatheterFault,
    CatheterRepair,
    ClinicianBolus,
    Event,
    Interrogation,
    MotorStall,
    MriExposure,
    ProgramChange,
    Refill,
    RemoteRequest,
)
from openidds.twin.records import ALARMS, Alarm, Decision, Mode, Running

Solution = tuple[Ingredient, ...]
NEVER = 1 << 62  # later than any instant a scenario can name
_REMOTE_BLOCK: dict[int, tuple[weakref.ref[PumpProgram], str | None]] = {}


class PumpTwin:
    def __init__(self, program: PumpProgram, *, implanted_at: int | None = None, factor: Fraction = Fraction(1)):
        self.pump = program.pump
        self.zone = program.reservoir.zone
        self.t = to_us(program.reservoir.filled_at)
        self.implanted_at = self.t if implanted_at is None else implanted_at
        self.factor = Fraction(factor)
        self._q = 1  # volumes inside are integers of 1/q mL
        self._res = 0
        self._solutions: list[Solution] = []  # every solution seen; inside, a solution is its index here
        self._sid = self._solution_id(program.solution)
        path = program.pathway_volume().to("mL")
        # Pump dead space and catheter, first in first out: [units, solution id] from the pump end to the tip.
        self._path: deque[list[int]] = deque()
        self._out: dict[int, int] = {}  # units that left the catheter tip, per solution
        self._pat: dict[int, int] = {}  # of those, units that reached the patient
        self._pocket: dict[int, int] = {}  # units injected outside the reservoir at a refill (a pocket fill)
        self._outlet_total = 0
        self._patient_total = 0
        self._running: list[Running] = []
        self._span = (0, -1, 0)  # [from, to) µs with one UTC offset, and the offset
        # occlusion: nothing leaves the pump; disconnection or leak: it leaves, but not into the intrathecal space
        self.catheter: Literal["ok", "occlusion", "disconnection", "leak"] = "ok"
        self.mri_until: int | None = None  # a peristaltic pump stopped by an MRI field, until it recovers
        self.stall_until: int | None = None  # a motor stall that recovers by itself
        self.latched = False  # after MRI while alarming (peristaltic) or a closed valve: until interrogated
        self.stalled = False
        self.end_of_service = False
        self.accepted: list[int] = []
        self._window: deque[int] = deque()  # accepted requests in the trailing 24 h
        self.decisions: list[Decision] = []
        self.alarms: list[Alarm] = []
        self._active: dict[str, Alarm] = {}
        # The event log, kept in two parts for speed: notes, and the remote decisions (a year holds thousands).
        # Each note remembers how many decisions came before it, which is all the merge needs.
        self._notes: list[tuple[int, dict[str, Any]]] = []
        self._merged: tuple[int, int, list[dict[str, Any]]] = (0, 0, [])
        # What the clinic knows: recorded fill, programmed delivery since then, boluses since then.
        self.recorded_fill_at = self.t
        self.recorded_fill = program.reservoir.volume.to("mL")
        self._programmed_before = Fraction(0)  # programmed delivery since the fill under earlier programs
        self._program_since = self.t
        self._boluses_since: list[tuple[int, Fraction, int]] = []  # (start, volume mL, duration µs)
        self.eri_at: int | None = None
        battery = self.pump.battery
        self._gap_days = battery.eri_to_eos.value.to("day") if battery.eri_to_eos else Fraction(0)
        self._hard_stop_days = battery.hard_stop.value.to("day") if battery.hard_stop else None
        self._battery_anchor = (self.t, Fraction(0))  # (instant, fraction of the service life used by then)
        self._life_days: Fraction | None = None
        self._eri_due = NEVER
        self._pending: tuple[int, PumpProgram] | None = None  # a program waiting for its bridge bolus to end
        # Bridge phases still to run after the current one: (mL of one old solution, the program that flushes it)
        self._phases: deque[tuple[Fraction, PumpProgram]] = deque()
        self._timer = NEVER
        self._halted = False
        self._settled = self.t  # volumes, pathway and alarms are worked out up to here
        self._has_alarms = self.pump.has_alarms
        self._max_step = 0  # the most units the schedule can deliver in one µs, at the factor
        self._bolus_bound = 0  # the most units the boluses running or given since `_settled` can deliver
        self._at_wall = (NEVER, 0)  # the last wall position integrated, and the schedule's integral there
        self._set(self.recorded_fill)
        self._path.append([self._units(path), self._sid])  # primed with the first solution
        self._use_program(program)
        self.note("start", reservoir_ml=self.reservoir)

    # --- exact volumes on one integer scale ---------------------------------------------------------------------
    def _units(self, ml: Fraction) -> int:
        """`ml` as whole units of 1/q mL, refining the scale first if it is too coarse."""
        if self._q % ml.denominator:
            self._rescale(lcm(self._q, ml.denominator))
        return ml.numerator * (self._q // ml.denominator)

    def _ml(self, units: int) -> Fraction:
        return Fraction(units, self._q)

    def _set(self, reservoir_ml: Fraction) -> None:
        self._res = self._units(reservoir_ml)

    def _rescale(self, q: int) -> None:
        """Refine the scale to 1/q mL: everything held, and every rate, counts m times as many units."""
        m = q // self._q
        self._q = q
        self._res *= m
        self._low *= m
        self._mul *= m
        self._max_step *= m
        self._bolus_bound *= m
        self._bolus_rate *= m
        for seg in self._path:
            seg[0] *= m
        for r in self._running:
            r.rate *= m
        self._out = {k: v * m for k, v in self._out.items()}
        self._pat = {k: v * m for k, v in self._pat.items()}
        self._pocket = {k: v * m for k, v in self._pocket.items()}
        self._outlet_total *= m
        self._patient_total *= m

    # Held before the first program sets them.
    _low = 0
    _mul = 0  # units per scaled schedule unit (see RateSchedule.scaled_integral), at the factor
    _bolus_rate = 0  # units per µs of the programmed patient bolus, at the factor

    def _rerate(self) -> None:
        """Units per µs for the schedule and boluses, after a change of program or factor."""
        per = self.factor / (DAY_US * self._schedule.den)  # mL per scaled schedule unit
        running = [r.volume_ml * self.factor / r.duration_us for r in self._running]
        pb = self.factor * self._pb_volume / self._pb_duration if self.program.patient_bolus else Fraction(0)
        q = lcm(self._q, per.denominator, pb.denominator, *(f.denominator for f in running))
        if q != self._q:
            self._rescale(q)
        self._mul = per.numerator * (q // per.denominator)
        self._max_step = self._schedule.max_scaled_rate * self._mul
        self._bolus_rate = pb.numerator * (q // pb.denominator)
        for r, f in zip(self._running, running, strict=True):
            r.rate = f.numerator * (q // f.denominator)
        self._bolus_bound = sum(r.rate * r.duration_us for r in self._running)

    def _rate_units(self, volume_ml: Fraction, duration_us: int) -> int:
        """A bolus rate as units per µs, at the factor."""
        rate = volume_ml * self.factor / duration_us
        if self._q % rate.denominator:
            self._rescale(lcm(self._q, rate.denominator))
        return rate.numerator * (self._q // rate.denominator)

    def _solution_id(self, solution: Solution) -> int:
        for i, s in enumerate(self._solutions):
            if s == solution:
                return i
        self._solutions.append(solution)
        return len(self._solutions) - 1

    # --- what the twin reports ----------------------------------------------------------------------------------
    @property
    def reservoir(self) -> Fraction:
        """mL in the reservoir now."""
        self._settle()
        return self._ml(self._res)

    @property
    def solution(self) -> Solution:
        """What is in the reservoir."""
        return self._solutions[self._sid]

    @property
    def outlet_volume(self) -> Fraction:
        self._settle()
        return self._ml(self._outlet_total)

    @property
    def patient_volume(self) -> Fraction:
        self._settle()
        return self._ml(self._patient_total)

    @property
    def outlet(self) -> dict[str, Fraction]:
        """Each drug that left the catheter tip, in its dose unit."""
        self._settle()
        return self._per_drug(self._out)

    @property
    def patient(self) -> dict[str, Fraction]:
        """Each drug that reached the patient through the catheter tip, in its dose unit."""
        self._settle()
        return self._per_drug(self._pat)

    @property
    def pocket(self) -> dict[str, Fraction]:
        """Each drug injected outside the reservoir at refills (pocket fills), in its dose unit: an acute dose
        into the tissue around the pump, never counted as delivered."""
        return self._per_drug(self._pocket)

    def _per_drug(self, by_solution: dict[int, int]) -> dict[str, Fraction]:
        totals: dict[str, Fraction] = {}
        for sid, units in by_solution.items():
            volume = Quantity.of(self._ml(units), "mL")
            for ing in self._solutions[sid]:
                amount = (volume * ing.concentration).to(ing.drug.dose_unit)
                totals[ing.drug.name] = totals.get(ing.drug.name, Fraction(0)) + amount
        return totals

    @property
    def running_program(self) -> PumpProgram:
        """The program the clinic wrote for the pump now: during a bridge bolus, the one that starts after it."""
        return self.program if self._pending is None else self._pending[1]

    def _bridge_phases(self) -> list[tuple[int, int | None, DeliveryProfile]]:
        """The bridge still to run, as (start, end or None for never, profile) per phase, as programmed."""
        if self._pending is None:
            return []
        out: list[tuple[int, int | None, DeliveryProfile]] = []
        end: int | None = None if self._pending[0] >= NEVER else self._pending[0]
        out.append((self.t, end, self.program.profile))
        for volume, program in self._phases:
            if end is None:
                break
            start = end
            end = program.profile.time_when_delivered_us(start, volume)
            out.append((start, end, program.profile))
        return out

    @property
    def bridge_ends_at(self) -> int | None:
        """When the new program starts after a running bridge bolus (every phase of it), or None."""
        phases = self._bridge_phases()
        return phases[-1][1] if phases else None

    def projected_at(self, volume_ml: Fraction, worst_case: bool = True) -> int | None:
        """When `volume_ml` more will have left the reservoir from now, as programmed: a running bridge first (the
        remote gives nothing during it), then the program after it, with every allowed patient bolus when
        `worst_case`. None: never."""
        self._settle()
        if volume_ml <= 0:
            return self.t
        after = self.running_program
        profile = after.worst_case_profile if worst_case else after.profile
        start = self.t
        for begin, end, phase in self._bridge_phases():
            if end is None:
                return phase.time_when_delivered_us(begin, volume_ml)
            during = phase.delivered_ml(begin, end)
            if volume_ml <= during:
                return phase.time_when_delivered_us(begin, volume_ml)
            volume_ml -= during
            start = end
        return profile.time_when_delivered_us(start, volume_ml)

    @property
    def pathway(self) -> list[tuple[Fraction, Solution]]:
        """What fills pump dead space and catheter, from the pump end to the tip."""
        self._settle()
        return [(self._ml(units), self._solutions[sid]) for units, sid in self._path]

    @property
    def battery_used(self) -> Fraction:
        """Fraction of the battery's service life used (at the current program's mean daily volume)."""
        at, used = self._battery_anchor
        if self._life_days is None:
            return used
        return used + Fraction(self.t - at, DAY_US) / self._life_days

    @property
    def eri_due(self) -> int | None:
        """When ERI will fall due at the current program (None: already raised, or a pump without a battery)."""
        return None if self._eri_due >= NEVER else self._eri_due

    @property
    def mode(self) -> Mode:
        self._settle()
        if self.end_of_service:
            return "end-of-service"
        if self.stalled:
            return "motor-stall"
        if self.latched:
            return "latched"
        if self._res <= 0 or self.program.mode == "stopped" or self.mri_until is not None:
            return "stopped"
        if self._pending is not None:
            return "bridge-bolus"
        running = {r.kind for r in self._running if r.start <= self.t < r.end}
        if "clinician" in running:
            return "single-bolus"
        if "patient" in running:
            return "patient-bolus"
        return "minimum-rate" if self.program.mode == "minimum-rate" else "running"

    # --- records ------------------------------------------------------------------------------------------------
    def note(self, what: str, **fields: Any) -> None:
        self._notes.append((len(self.decisions), {"at": self.t, "event": what, **fields}))

    @property
    def log(self) -> list[dict[str, Any]]:
        """Everything that happened, in order: notes and remote decisions alike."""
        notes, decisions = self._notes, self.decisions
        n, d, merged = self._merged
        if (n, d) != (len(notes), len(decisions)):
            merged, k = [], 0
            for before, entry in notes:
                merged.extend(_remote_entry(x) for x in decisions[k:before])
                merged.append(entry)
                k = before
            merged.extend(_remote_entry(x) for x in decisions[k:])
            self._merged = (len(notes), len(decisions), merged)
        return merged

    def active(self, name: str) -> Alarm | None:
        return self._active.get(name)

    def raise_alarm(self, name: str) -> None:
        if not self._has_alarms:
            # A constant-flow pump cannot warn anyone: the condition is logged, and no alarm sounds.
            self.note("unannounced", condition=name, reason="this pump has no alarms: nobody is warned")
            return
        if name not in self._active:
            self._active[name] = alarm = Alarm(name, ALARMS[name], self.t)
            self.alarms.append(alarm)
            self.note("alarm", alarm=name, priority=ALARMS[name])

    def clear_alarm(self, name: str) -> None:
        alarm = self._active.pop(name, None)
        if alarm is not None:
            alarm.cleared_at = self.t
            self.note("alarm-cleared", alarm=name)

    # --- delivery -----------------------------------------------------------------------------------------------
    @property
    def delivering(self) -> bool:
        self._settle()
        return self._res > 0 and not self._halted

    def _use_program(self, program: PumpProgram) -> None:
        """What follows from the program alone, worked out once rather than at every step."""
        self._battery_anchor = (self.t, self.battery_used)
        self.program = program
        self._schedule = program.schedule
        self._at_wall = (NEVER, 0)
        life = self.pump.battery.expected_life(program.mean_daily_volume())
        self._life_days = None if life is None else life.to("day")
        self._low = self._units(program.reservoir.low_alarm.to("mL"))
        self.remote_blocked = self._remote_block(program)
        pb = program.patient_bolus
        self._pb_max: int | None = None
        if pb is not None:
            self._pb_volume = pb.volume.to("mL")
            self._pb_duration = int(pb.duration.to("s") * 1_000_000)
            self._pb_lockout = int(pb.lockout.to("s") * 1_000_000)
            self._pb_max = pb.max_per_day
        self._rerate()
        self._eri_due = self._eri_time()
        self._retime()

    def _eri_time(self) -> int:
        """When ERI falls due: battery life used up to the ERI-to-EOS gap, or the hard stop by age."""
        life = self._life_days
        if self.eri_at is not None or life is None:
            return NEVER
        at, used = self._battery_anchor
        by_use = at + int((1 - self._gap_days / life - used) * life * DAY_US)
        if self._hard_stop_days is not None:
            by_age = self.implanted_at + int((self._hard_stop_days - self._gap_days) * DAY_US)
            by_use = min(by_use, by_age)
        return by_use

    def _eos_due(self) -> int:
        """End of service: the catalog's ERI-to-EOS gap after ERI was raised."""
        if self.eri_at is None or self.end_of_service:
            return NEVER
        return self.eri_at + int(self._gap_days * DAY_US)

    def _retime(self) -> None:
        """After any change of state: the next instant at which something happens by itself, and whether the
        pump is halted (stalled, stopped, latched or out of service)."""
        self._halted = self.stalled or self.latched or self.end_of_service or self.mri_until is not None
        nxt = min(self._eri_due, self._eos_due())
        for until in (self.mri_until, self.stall_until):
            if until is not None:
                nxt = min(nxt, until)
        if self._pending is not None:
            nxt = min(nxt, self._pending[0])
        self._timer = nxt

    def _offset_span(self, t: int) -> tuple[int, int, int]:
        lo, hi, off = next(offset_spans(self.zone, t, None))
        self._span = span = (lo, NEVER if hi is None else hi, off)
        return span

    def _volume(self, t0: int, t1: int) -> int:
        """Units delivered in [t0, t1) while delivering: the schedule plus running boluses, at the factor."""
        sched = self._schedule
        lo, hi, off = self._span
        if not lo <= t0 < hi:
            lo, hi, off = self._offset_span(t0)
        if t1 <= hi:
            w0, w1 = wall_us(t0, off), wall_us(t1, off)
            # Events come in order, so this step usually starts where the last one ended.
            at, value = self._at_wall
            v0 = value if at == w0 else sched.scaled_integral(w0)
            v1 = sched.scaled_integral(w1)
            self._at_wall = (w1, v1)
            scaled = v1 - v0
        else:  # across a change of UTC offset
            scaled, a = 0, t0
            while a < t1:
                lo, hi, off = self._offset_span(a)
                b = min(hi, t1)
                scaled += sched.scaled_integral(wall_us(b, off)) - sched.scaled_integral(wall_us(a, off))
                a = b
        units = scaled * self._mul
        for r in self._running:
            overlap = min(t1, r.end) - max(t0, r.start)
            if overlap > 0:
                units += r.rate * overlap
        return units

    def _crossing(self, level: int) -> int | None:
        """The exact first µs at which the reservoir reaches `level` units (rare: solved by the core)."""
        if self.factor == 0:
            return None
        need = self._ml(self._res - level) / self.factor
        profile = DeliveryProfile(self._schedule, self.zone, tuple(r.bolus() for r in self._running))
        return profile.time_when_delivered_us(self.t, need)

    def advance(self, until: int) -> None:
        """Run the pump to `until`, handling everything that happens on the way."""
        until = max(until, self.t)
        self.t = self._settled  # see _on_RemoteRequest: nothing but remote decisions happened since
        if self._timer <= self.t:
            self._on_time()
        while self.t < until:
            nxt = until if until < self._timer else self._timer
            crossing: str | None = None
            # An occluded catheter lets nothing out: the pump runs on, the reservoir stays up.
            if self._res > 0 and not self._halted and self.catheter != "occlusion":
                if self._running:
                    self._running = [r for r in self._running if r.end > self.t]
                units = self._volume(self.t, nxt)
                low = self._low
                level = low if self._has_alarms and self._res > low and "low-reservoir" not in self._active else 0
                if units >= self._res - level:
                    at = self._crossing(level)
                    assert at is not None  # the level is reached by nxt, so it is reached
                    nxt = at
                    if level:
                        units, crossing = self._volume(self.t, nxt), "low-reservoir"
                    else:
                        units, crossing = self._res, "empty-reservoir"
                self._deliver(units)
            self.t = nxt
            if nxt >= self._timer:
                self._on_time()
            if crossing is not None:
                self.raise_alarm(crossing)
        self._settled = self.t
        self._running = [r for r in self._running if r.end > self.t]
        self._bolus_bound = sum(r.rate * r.duration_us for r in self._running)

    def _settle(self) -> None:
        if self._settled < self.t:
            self.advance(self.t)

    def _deliver(self, units: int) -> None:
        if units <= 0:
            return
        self._res -= units
        path = self._path
        sid = self._sid
        if len(path) == 1 and path[0][1] == sid:  # one solution throughout: what goes in comes out
            self._exit(units, sid)
            return
        if path and path[-1][1] == sid:
            path[-1][0] += units
        else:
            path.append([units, sid])
        excess = units  # the pathway was full before
        while excess > 0:
            front = path[0]
            take = min(front[0], excess)
            self._exit(take, front[1])
            front[0] -= take
            excess -= take
            if front[0] == 0:
                path.popleft()

    def _exit(self, units: int, sid: int) -> None:
        if units <= 0:
            return
        out = self._out
        out[sid] = out.get(sid, 0) + units
        self._outlet_total += units
        if self.catheter == "ok":
            pat = self._pat
            pat[sid] = pat.get(sid, 0) + units
            self._patient_total += units

    def _on_time(self) -> None:
        """Timers that fall due at self.t."""
        if self.stall_until is not None and self.stall_until <= self.t:
            self.stall_until, self.stalled = None, False
            self.clear_alarm("motor-stall")
            self._note_restart("motor stall recovered")
        if self.mri_until is not None and self.mri_until <= self.t:
            self.mri_until = None
            self._note_restart("MRI exposure over")
        if self._pending is not None and self._pending[0] <= self.t:
            program = self._pending[1]
            if self._phases:  # the next old solution in the catheter, at its own bridge rate
                volume, phase = self._phases.popleft()
                self._begin_phase(volume, phase, program)
                self.note("bridge-phase", volume_ml=volume, rates_ml_per_day=[s.rate.to("mL/day") for s in phase.steps])
            else:
                self._pending = None
                self._start_program(program)
                self.note("program-started", reason="bridge bolus delivered: the new program runs")
        if self._eri_due <= self.t:
            self.eri_at = self.t
            self._eri_due = NEVER
            self.raise_alarm("eri")
        if self._eos_due() <= self.t:
            self.end_of_service = True
            self.raise_alarm("end-of-service")
        self._retime()

    def _note_restart(self, why: str) -> None:
        """A stop has ended: say whether the pump runs again or what still holds it."""
        still = [
            reason
            for held, reason in (
                (self.stalled, "the motor is stalled"),
                (self.latched, "it stays stopped until interrogated"),
                (self.mri_until is not None and self.mri_until > self.t, "an MRI stop is still on"),
                (self.end_of_service, "end of service"),
            )
            if held
        ]
        if still:
            self.note("still-stopped", reason=f"{why}, but {' and '.join(still)}")
        else:
            self.note("resumed", reason=why)

    # --- events in ----------------------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        if event.at < self.t:
            raise InputError("events", f"event at {from_us(event.at):%Y-%m-%d %H:%M}Z is before the twin's time")
        if type(event) is RemoteRequest:  # the common case: see there
            self._on_RemoteRequest(event)
        else:
            self.advance(event.at)
            getattr(self, "_on_" + type(event).__name__)(event)

    def _on_RemoteRequest(self, e: RemoteRequest) -> None:
        self._requests((e.at,))

    def _requests(self, ats: Sequence[int]) -> None:
        """Decide patient remote requests, in time order, each with its reason in the patient's words.

        The twin's hot path (thousands a year), so one loop on local names. A request only needs the exact
        reservoir when it might be near the low level: when even the fastest delivery since the last settled
        instant could not have reached it, and no timer falls due, the twin decides at once and integrates the
        whole stretch later in one go (the same exact result).
        """
        append, accepted, window = self.decisions.append, self.accepted, self._window
        for at in ats:
            res = self._res
            level = self._low if self._has_alarms else 0
            if (
                at < self._timer
                and res > level
                and not self._halted
                and self._max_step * (at - self._settled) + self._bolus_bound < res - level
            ):
                self.t = at
            else:
                self.advance(at)  # may start a pending program: read the settings below afresh
                res = self._res
            most = self._pb_max
            if most is None:
                append(_new_decision((at, False, "no patient bolus is programmed")))
            elif self.remote_blocked is not None:
                append(_new_decision((at, False, self.remote_blocked)))
            elif res <= 0 or self._halted:
                why = "the reservoir is empty" if res <= 0 else "the pump is not infusing"
                append(_new_decision((at, False, why)))
            elif self._has_alarms and res <= self._low:
                append(_new_decision((at, False, "the reservoir is low: call the clinic for a refill")))
            else:
                while window and at - window[0] >= DAY_US:
                    window.popleft()
                lockout = self._pb_lockout
                in_lockout = accepted and at - accepted[-1] < lockout
                full = len(window) >= most
                if in_lockout or full:
                    # When both rules next allow a dose: the lockout has run, and the oldest dose that keeps the
                    # trailing 24 h at the maximum has left the window.
                    ok = accepted[-1] + lockout if in_lockout else at
                    if full:
                        ok = max(ok, window[-most] + DAY_US)
                    rule = f"daily maximum of {most} reached" if full else "lockout"
                    wait = -(-(ok - at) // 60_000_000)
                    append(_new_decision((at, False, f"{rule}: next dose possible in {wait} min")))
                else:
                    accepted.append(at)
                    window.append(at)
                    volume, duration, rate = self._pb_volume, self._pb_duration, self._bolus_rate
                    self._running.append(Running(at, at + duration, volume, duration, rate, "patient"))
                    self._bolus_bound += rate * duration
                    self._boluses_since.append((at, volume, duration))
                    append(_new_decision((at, True, "dose given")))

    def _on_ClinicianBolus(self, e: ClinicianBolus) -> None:
        volume = e.volume_ml
        if self._units(volume) > self._res:
            self.note("bolus-refused", reason=f"{float(volume):g} mL is more than the reservoir holds now")
            return
        if not self.delivering:
            self.note("bolus-refused", reason="the pump is not infusing")
            return
        rate = self._rate_units(volume, e.duration_us)
        self._running.append(Running(e.at, e.at + e.duration_us, volume, e.duration_us, rate, "clinician"))
        self._bolus_bound += rate * e.duration_us
        self._boluses_since.append((e.at, volume, e.duration_us))
        doses = {i.drug.name: f"{i.dose(Quantity.of(volume, 'mL'))}" for i in self.solution}
        self.note("bolus", volume_ml=volume, duration_min=Fraction(e.duration_us, 60_000_000), doses=doses)

    def _on_ProgramChange(self, e: ProgramChange) -> None:
        findings = check(e.program, e.program.context, self.running_program)  # during a bridge: the one after it
        hard = [f for f in findings if f.severity == "hard"]
        soft = [f for f in findings if f.severity == "soft"]
        if hard:
            self.note("program-refused", reasons=[f.message for f in hard])
            return
        if soft and not e.override_reason.strip():
            self.note("program-refused", reasons=["soft findings need an override reason", *(f.message for f in soft)])
            return
        overrides: dict[str, Any] = {"overrides": [f.code for f in soft], "override_reason": e.override_reason}
        self._settle()
        phases, notes = (
            self._bridge_plan(e.program) if e.bridge and e.program.mode in ("continuous", "flex") else ([], [])
        )
        self._pending, self._phases = None, deque()
        if not phases:
            self._start_program(e.program)
            self.note("program-changed", **({"bridge": notes[0]} if notes else {}), **overrides)
            return
        # The old solutions still in pump and catheter, the tip's first, each run out at the rate that gives the
        # new dose with its own concentration (calculations.bridge), then the new program starts.
        total = sum((volume for volume, _ in phases), Fraction(0))
        first_volume, first = phases[0]
        self._phases = deque(phases[1:])
        self._begin_phase(first_volume, first, e.program)
        ends = self.bridge_ends_at
        self.note(
            "program-changed",
            bridge_ml=total,
            bridge_ends_at=None if ends is None else from_us(ends).isoformat(),
            bridge_rates_ml_per_day=[s.rate.to("mL/day") for s in first.steps],
            bridge_phases=[
                {"volume_ml": volume, "rates_ml_per_day": [s.rate.to("mL/day") for s in phase.steps]}
                for volume, phase in phases
            ],
            bridge_notes=notes,
            **overrides,
        )

    def _bridge_plan(self, new: PumpProgram) -> tuple[list[tuple[Fraction, PumpProgram]], list[str]]:
        """One phase per old solution in pump and catheter, from the tip up to the last that is not the new one
        (a solution the new one does not share a drug with runs at the new program's rates, and says so)."""
        segments = list(self._path)
        last_old = max((i for i, (_, sid) in enumerate(segments) if sid != self._sid), default=-1)
        phases: list[tuple[Fraction, PumpProgram]] = []
        notes: list[str] = []
        for units, sid in segments[: last_old + 1]:
            volume = self._ml(units)
            try:
                bridge = bridge_program(new, bridge_rule(self._solutions[sid], new.solution))
            except InputError as exc:
                notes.append("not possible for one old solution: " + exc.message)
                phases.append((volume, new))
                continue
            notes += [n for n in bridge.assumptions if n not in notes]
            phases.append((volume, bridge.value))
        return phases, notes

    def _begin_phase(self, volume_ml: Fraction, program: PumpProgram, final: PumpProgram) -> None:
        """Run `program` until `volume_ml` more has left the reservoir, the remote off, then the next phase."""
        self._start_program(program)
        self.remote_blocked = "a bridge bolus is running: the remote gives no dose until it ends"
        units = self._units(volume_ml)
        # Not `self.delivering`: this also runs inside `advance` (a phase ending), which must not settle again.
        ends = self._crossing(self._res - units) if self._res > 0 and not self._halted else None
        self._pending = (NEVER if ends is None else ends, final)
        self._retime()

    def _start_program(self, program: PumpProgram) -> None:
        self._close_program_span()
        self._use_program(program)

    def _close_program_span(self) -> None:
        """Keep what the clinic expected under the program so far before another takes over."""
        profile = DeliveryProfile(self._schedule, self.zone)
        self._programmed_before += profile.delivered_ml(self._program_since, self.t)
        self._program_since = self.t

    @staticmethod
    def _remote_block(program: PumpProgram) -> str | None:
        """Why the remote can give no bolus under this program (pump, drug or patient), or None."""
        if program.patient_bolus is None:
            return None
        # The full check costs far more than a year of requests: once per program object (a fleet reuses them).
        cached = _REMOTE_BLOCK.get(id(program))
        if cached is not None and cached[0]() is program:
            return cached[1]
        blocked = [f for f in check(program, program.context) if f.severity == "hard" and f.family == "patient-bolus"]
        why = blocked[0].message if blocked else None
        key = id(program)
        _REMOTE_BLOCK[key] = (weakref.ref(program, lambda _: _REMOTE_BLOCK.pop(key, None)), why)
        return why

    def expected_residual(self) -> ResidualEstimate:
        """What the clinic expects in the reservoir now: the recorded fill, less what each program since then
        should have delivered and every bolus given (the clinic cannot know the pump's actual accuracy)."""
        delivered = self._programmed_before + DeliveryProfile(self._schedule, self.zone).delivered_ml(
            self._program_since, self.t
        )
        # Finished boluses counted per volume (a year holds thousands: one multiplication per kind, not each).
        whole: dict[tuple[int, int], int] = {}
        for start, volume, duration in self._boluses_since:
            if start + duration <= self.t:
                key = (volume.numerator, volume.denominator)
                whole[key] = whole.get(key, 0) + 1
            elif start < self.t:
                delivered += volume * (self.t - start) / duration
        delivered += sum((Fraction(num * n, den) for (num, den), n in whole.items()), Fraction(0))
        band = delivered * self.pump.accuracy.value.base
        left = self.recorded_fill - delivered
        return ResidualEstimate(_ml(left), _ml(left - band), _ml(left + band), Quantity.of(delivered, "mL"))

    def _on_Refill(self, e: Refill) -> None:
        check_volume(self.pump, e.volume_ml, "refill.volume", "the fill")
        if e.withdrawn_ml is not None:
            check_volume(self.pump, e.withdrawn_ml, "refill.withdrawn", "the withdrawn volume")
        if not 0 <= e.pocket_ml <= e.volume_ml:
            raise InputError("refill.pocket", "the volume outside the reservoir must be between 0 and the fill")
        if e.solution is not None:
            check_solution(e.solution, "refill.drugs[{i}].name")
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
        self._set(e.volume_ml - e.pocket_ml)
        if e.solution is not None:
            self._sid = self._solution_id(e.solution)
        if e.pocket_ml > 0:
            # Injected into the tissue around the pump: an acute dose that never passes the catheter.
            units = self._units(e.pocket_ml)
            self._pocket[self._sid] = self._pocket.get(self._sid, 0) + units
            doses = {i.drug.name: i.dose(Quantity.of(e.pocket_ml, "mL")).to(i.drug.dose_unit) for i in self.solution}
            self.note("pocket-fill", volume_ml=e.pocket_ml, doses=doses)
        self.recorded_fill = e.volume_ml - e.pocket_ml if e.pocket_recorded else e.volume_ml
        self.recorded_fill_at = self.t
        self._programmed_before, self._program_since, self._boluses_since = Fraction(0), self.t, []
        for name in ("low-reservoir", "empty-reservoir"):
            self.clear_alarm(name)
        if self._has_alarms and self._res <= self._low:
            self.raise_alarm("low-reservoir")  # filled to at or below the alarm level: it sounds at once

    def _on_Interrogation(self, e: Interrogation) -> None:
        was = self.latched
        self.latched = False
        self._retime()
        self.note(
            "interrogation",
            reservoir_ml=self.reservoir,
            resumed=was and not self._halted,
            mode=self.mode,
            alarms=[a.name for a in self.alarms if a.cleared_at is None],
        )

    def _on_MriExposure(self, e: MriExposure) -> None:
        behaviour = self.pump.mri
        if behaviour == "no-effect":
            self.note("mri", effect="none")
        elif behaviour == "valve-closes-until-reset":
            self.latched = True
            self._retime()
            self.note("mri", effect="valve closed until the pump is interrogated and reset")
        else:
            # The catalog says whether this pump latches when the field catches it alarming (SynchroMed does).
            alarming = bool(self._active) and self.pump.mri_latch_source is not None
            # A second scan never shortens the first one's recovery.
            recovery = e.recovery_us
            if recovery is None:  # not given: the delay the catalog cites for this pump
                delay = self.pump.mri_recovery
                recovery = 0 if delay is None else int(delay.value.to("s") * 1_000_000)
            self.mri_until = max(self.mri_until or 0, e.at + e.duration_us + recovery)
            self.latched = self.latched or alarming
            self._retime()
            self.note("mri", effect="stopped during exposure" + (", latched until interrogated" if alarming else ""))

    def _on_CatheterFault(self, e: CatheterFault) -> None:
        self.catheter = e.kind
        self.note("catheter-fault", kind=e.kind)

    def _on_CatheterRepair(self, e: CatheterRepair) -> None:
        self.catheter = "ok"
        self.note("catheter-repaired")

    def _on_MotorStall(self, e: MotorStall) -> None:
        self.stalled = True
        self.stall_until = None if e.recovers_after_us is None else e.at + e.recovers_after_us
        self._retime()
        self.raise_alarm("motor-stall")

    def _on_AccuracyChange(self, e: AccuracyChange) -> None:
        if e.factor < 0:
            raise InputError("accuracy.factor", "cannot be negative")
        self.factor = Fraction(e.factor)
        self._rerate()
        self.note("accuracy", factor=e.factor)

    # --- running a whole scenario -------------------------------------------------------------------------------
    def run(self, events: list[Event], until: int) -> PumpTwin:
        ats = [e.at for e in events]
        if ats != sorted(ats):
            i = next(i for i in range(1, len(ats)) if ats[i] < ats[i - 1])
            raise InputError(f"events[{i}].at", "events must be in time order")
        if events and events[-1].at > until:
            raise InputError("events", "an event comes after the end of the simulation")
        if events and events[0].at < self.t:
            self.apply(events[0])  # refused, with the reason
        run: list[int] = []  # consecutive remote requests, decided in one go
        for e in events:
            if type(e) is RemoteRequest:
                run.append(e.at)
                continue
            if run:
                self._requests(run)
                run = []
            self.apply(e)
        if run:
            self._requests(run)
        self.advance(until)
        return self


_new_decision = partial(tuple.__new__, Decision)  # a Decision without the keyword machinery: thousands a year


def _remote_entry(d: Decision) -> dict[str, Any]:
    return {"at": d.at, "event": "remote", "accepted": d.accepted, "reason": d.reason}


def _ml(volume: Fraction) -> Quantity:
    return Quantity.of(max(volume, Fraction(0)), "mL")
