"""What a simulation's log says, as spans, markers and daily doses: shared by the plot and the text rendering.

Pure functions of the twin's log (dicts with "at" in µs and "event") and the result's samples. No matplotlib here,
so the text rendering and the tests never load it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from itertools import pairwise
from typing import Any, NamedTuple

from openidds.programs.clock import DAY_US
from openidds.programs.program import PumpProgram
from openidds.twin.events import ProgramChange, Refill
from openidds.twin.simulate import Sample

HOUR_US = 3_600_000_000

# Why the pump is not delivering, as a clinician would say it.
HOLDS = {
    "mri": "MRI: motor stopped",
    "latch": "latched until interrogation",
    "valve": "MRI: valve closed until reset",
    "stall": "motor stall",
    "empty": "reservoir empty",
    "eos": "end of service",
}
_ALARM_HOLD = {"motor-stall": "stall", "empty-reservoir": "empty", "end-of-service": "eos"}


class Span(NamedTuple):
    start: int
    end: int
    label: str


class Marker(NamedTuple):
    at: int
    kind: str  # refill, interrogation, program, bolus, mri, refused, accuracy
    label: str


def num(value: Fraction | float | int, places: int = 3) -> str:
    """A volume or dose at clinical precision: `places` decimals, trailing zeros trimmed (2.4333… → 2.433)."""
    text = f"{float(value):.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def duration(us: int) -> str:
    """A span's length in the unit a clinician would use: minutes, hours, then days."""
    if us < HOUR_US:
        return f"{num(Fraction(us, 60_000_000), 0)} min"
    if us < 2 * DAY_US:
        return f"{num(Fraction(us, HOUR_US), 1)} h"
    return f"{num(Fraction(us, DAY_US), 1)} days"


def stop_spans(log: Iterable[Mapping[str, Any]], end: int) -> list[Span]:
    """Where the pump delivered nothing: MRI stop, latch until interrogation, valve closed, motor stall, empty
    reservoir, end of service. Overlapping causes make one span naming each cause; an open span ends at `end`."""
    held: set[str] = set()
    spans: list[Span] = []
    since: int | None = None
    causes: list[str] = []
    for e in log:
        at, what = e["at"], e["event"]
        if what == "mri":
            effect = str(e.get("effect", ""))
            if effect.startswith("valve"):
                held.add("valve")
            elif effect.startswith("stopped"):
                held.add("mri")
                if "latched" in effect:
                    held.add("latch")
        elif what in ("resumed", "still-stopped"):
            # Each restart names the stop that ended; another may still hold the pump.
            reason = str(e.get("reason", ""))
            if reason.startswith("MRI"):
                held.discard("mri")
            elif reason.startswith("motor stall"):
                held.discard("stall")
        elif what == "interrogation":
            held -= {"latch", "valve"}
        elif what == "alarm" and e.get("alarm") in _ALARM_HOLD:
            held.add(_ALARM_HOLD[e["alarm"]])
        elif what == "alarm-cleared" and e.get("alarm") in ("motor-stall", "empty-reservoir"):
            held.discard(_ALARM_HOLD[e["alarm"]])
        elif what == "refill":
            held.discard("empty")
        if held and since is None:
            since, causes = at, []
        causes += [h for h in sorted(held, key=list(HOLDS).index) if h not in causes]
        if not held and since is not None:
            if at > since:
                spans.append(Span(since, at, _join(causes)))
            since = None
    if since is not None and end > since:
        spans.append(Span(since, end, _join(causes)))
    return spans


def _join(causes: list[str]) -> str:
    labels = [HOLDS[c] for c in causes]
    if "mri" in causes and "latch" in causes:  # one story: the scan stopped it, the latch kept it stopped
        labels.remove(HOLDS["latch"])
        labels[labels.index(HOLDS["mri"])] = "MRI: stopped, latched until interrogation"
    return "; ".join(labels)


def catheter_spans(log: Iterable[Mapping[str, Any]], end: int) -> list[Span]:
    """Where the pump delivered but the drug did not reach the patient (catheter occlusion or disconnection)."""
    spans: list[Span] = []
    open_: tuple[int, str] | None = None
    for e in log:
        if e["event"] in ("catheter-fault", "catheter-repaired") and open_ is not None:
            if e["at"] > open_[0]:
                spans.append(Span(open_[0], e["at"], open_[1]))
            open_ = None
        if e["event"] == "catheter-fault":
            open_ = (e["at"], f"catheter {e.get('kind', 'fault')}: drug not reaching the patient")
    if open_ is not None and end > open_[0]:
        spans.append(Span(open_[0], end, open_[1]))
    return spans


def markers(log: Iterable[Mapping[str, Any]], refills: Sequence[Refill] = ()) -> list[Marker]:
    """Clinic visits and things done to the pump, each with a short label. `refills` (the scenario's Refill events,
    in order) adds the new solution to a refill that changed it."""
    entries = list(log)
    refill_entries = [e for e in entries if e["event"] == "refill"]
    solution_of: dict[int, str] = {}
    if len(refills) == len(refill_entries):
        for entry, event in zip(refill_entries, refills, strict=True):
            if event.solution is not None:
                solution_of[id(entry)] = " + ".join(f"{i.drug.name} {i.concentration}" for i in event.solution)
    out: list[Marker] = []
    for e in entries:
        what, at = e["event"], e["at"]
        if what == "refill":
            label = f"refill {num(e.get('filled_ml', 0))} mL"
            if id(e) in solution_of:
                label += f" of {solution_of[id(e)]}"
            status = str(e.get("reconciliation", "within-band"))
            if status != "within-band":  # what came back, and by how much it missed
                off = abs(Fraction(e.get("discrepancy_ml", 0)))
                label += (
                    f": {num(e.get('withdrawn_ml', 0))} mL back, {num(off)} mL {status.split('-')[0]} than expected"
                )
            out.append(Marker(at, "refill", label))
        elif what == "interrogation":
            out.append(Marker(at, "interrogation", "interrogated, restarted" if e.get("resumed") else "interrogated"))
        elif what == "program-changed":
            bridged = e.get("bridge_ml") is not None
            out.append(Marker(at, "program", "program changed (bridge bolus first)" if bridged else "program changed"))
        elif what == "program-started":
            out.append(Marker(at, "program", "bridge bolus done: new program runs"))
        elif what == "program-refused":
            out.append(Marker(at, "refused", "program refused"))
        elif what == "bolus":
            out.append(Marker(at, "bolus", f"bolus {num(e.get('volume_ml', 0))} mL"))
        elif what == "bolus-refused":
            out.append(Marker(at, "refused", "bolus refused"))
        elif what == "mri":
            out.append(Marker(at, "mri", "MRI, no effect" if e.get("effect") == "none" else "MRI"))
        elif what == "accuracy":
            out.append(Marker(at, "accuracy", f"pump delivers ×{num(e.get('factor', 1))} of programmed"))
    return out


def daily_grid(samples: Sequence[Sample], start: int) -> list[Sample]:
    """The samples every 24 h from the start (the report instants left out, so they cannot change the shape)."""
    return [s for s in samples if (s.at - start) % DAY_US == 0]


def daily_doses(
    samples: Sequence[Sample], start: int, names: Iterable[str]
) -> tuple[list[int], dict[str, list[Fraction]]]:
    """Each drug's dose to the patient in each whole 24 h from the start: (day edges in µs, doses per drug)."""
    grid = daily_grid(samples, start)
    edges = [s.at for s in grid]
    doses = {
        n: [b.patient.get(n, Fraction(0)) - a.patient.get(n, Fraction(0)) for a, b in pairwise(grid)] for n in names
    }
    return edges, doses


def reservoir_points(
    samples: Sequence[Sample], log: Sequence[Mapping[str, Any]], refills: Sequence[Refill] = ()
) -> list[tuple[int, Fraction]]:
    """The reservoir at every sample plus the exact levels the log gives (start, interrogations, empty, each side of
    a refill), in time order, so a refill draws as a jump and an empty reservoir as a flat line at zero."""
    points: list[tuple[int, float, Fraction]] = [(s.at, -1, s.reservoir_ml) for s in samples]  # before any event
    refill_entries = [(i, e) for i, e in enumerate(log) if e["event"] == "refill"]
    paired = len(refills) == len(refill_entries)
    for i, e in enumerate(log):
        what = e["event"]
        if what in ("start", "interrogation") and "reservoir_ml" in e:
            points.append((e["at"], i, Fraction(e["reservoir_ml"])))
        elif what == "alarm" and e.get("alarm") == "empty-reservoir":
            points.append((e["at"], i, Fraction(0)))
    if paired:
        for (i, e), event in zip(refill_entries, refills, strict=True):
            if event.withdrawn_ml is None:  # the twin's own level: exact
                points.append((e["at"], i - 0.5, Fraction(e["withdrawn_ml"])))
            points.append((e["at"], i, event.volume_ml - event.pocket_ml))
    points.sort(key=lambda p: (p[0], p[1]))
    return [(at, ml) for at, _, ml in points]


def programs_in_force(
    start: int, first: PumpProgram, changes: Sequence[ProgramChange], log: Sequence[Mapping[str, Any]]
) -> list[tuple[int, PumpProgram]]:
    """Each program with the instant it took over: a refused change never does, a bridged one at program-started.
    If the log and the changes do not pair up, only the first program."""
    outcomes = [e for e in log if e["event"] in ("program-changed", "program-refused")]
    if len(outcomes) != len(changes):
        return [(start, first)]
    program_of = {id(o): c.program for o, c in zip(outcomes, changes, strict=True)}
    out = [(start, first)]
    pending: PumpProgram | None = None  # waiting for its bridge bolus; a later change replaces it
    for e in log:
        if e["event"] == "program-changed":
            pending = None
            if e.get("bridge_ml") is not None:
                pending = program_of[id(e)]
            else:
                out.append((e["at"], program_of[id(e)]))
        elif e["event"] == "program-started" and pending is not None:
            out.append((e["at"], pending))
            pending = None
    return out
