"""Run a scenario through the twin: the timeline, totals, reservoir levels and daily samples for a plot."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from openidds.programs.clock import DAY_US, from_us
from openidds.twin.pump import PumpTwin
from openidds.twin.scenario import Scenario


@dataclass(frozen=True)
class Sample:
    at: int
    reservoir_ml: Fraction
    patient: dict[str, Fraction]  # cumulative, in each drug's dose unit


@dataclass(frozen=True)
class SimulationResult:
    scenario: Scenario
    twin: PumpTwin
    samples: tuple[Sample, ...]  # at the start, every 24 h, and at the end
    report: tuple[tuple[int, Fraction], ...]  # reservoir at the requested instants

    def dose_units(self) -> dict[str, str]:
        units: dict[str, str] = {i.drug.name: i.drug.dose_unit for i in self.scenario.program.solution}
        for e in self.scenario.events:
            for ing in getattr(e, "solution", None) or ():
                units[ing.drug.name] = ing.drug.dose_unit
        return units

    def as_json(self) -> dict[str, Any]:
        twin, units = self.twin, self.dose_units()
        return {
            "simulation": {"start": iso(self.scenario.start), "end": iso(self.scenario.end)},
            "timeline": [_jsonable(entry) for entry in twin.log],
            "alarms": [a.as_json() for a in twin.alarms],
            "remote": [{"at": iso(d.at), "accepted": d.accepted, "reason": d.reason} for d in twin.decisions],
            "totals": {
                "outlet": {k: {"value": float(v), "unit": units[k]} for k, v in twin.outlet.items()},
                "patient": {k: {"value": float(v), "unit": units[k]} for k, v in twin.patient.items()},
                "outlet_volume": {"value": float(twin.outlet_volume), "unit": "mL"},
                "patient_volume": {"value": float(twin.patient_volume), "unit": "mL"},
                "pocket": {k: {"value": float(v), "unit": units[k]} for k, v in twin.pocket.items()},
            },
            "reservoir_at": [{"at": iso(t), "volume": {"value": float(v), "unit": "mL"}} for t, v in self.report],
            "reservoir_at_end": {"value": float(twin.reservoir), "unit": "mL"},
        }


def iso(us: int) -> str:
    return from_us(us).isoformat()


def _jsonable(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: iso(value) if key == "at" else _plain(value) for key, value in entry.items()}


def _plain(value: Any) -> Any:
    """Exact numbers as JSON numbers, inside lists and maps too."""
    if isinstance(value, Fraction):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def simulate(scenario: Scenario) -> SimulationResult:
    """Run the whole scenario. Same scenario, same result, to the bit."""
    twin = PumpTwin(scenario.program)
    marks = sorted({*range(scenario.start, scenario.end, DAY_US), scenario.end, *scenario.report_at})
    wanted = set(scenario.report_at)
    samples: list[Sample] = []
    report: list[tuple[int, Fraction]] = []
    events = list(scenario.events)
    i = 0
    for mark in marks:
        while i < len(events) and events[i].at < mark:
            twin.apply(events[i])
            i += 1
        twin.advance(mark)
        samples.append(Sample(mark, twin.reservoir, dict(twin.patient)))
        if mark in wanted:
            report.append((mark, twin.reservoir))
    while i < len(events):  # events exactly at the end
        twin.apply(events[i])
        i += 1
    return SimulationResult(scenario, twin, tuple(samples), tuple(report))
