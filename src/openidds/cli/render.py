"""Rendering for the CLI: JSON documents and rich tables. No decisions are made here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from openidds.calculations import Projection
from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.evidence import Cited, Guardrail
from openidds.programs.clock import from_us
from openidds.quantities import Quantity
from openidds.review import Row
from openidds.safety import Finding
from openidds.twin.simulate import SimulationResult

SEVERITY_STYLE = {"hard": "bold white on red", "soft": "black on yellow", "info": "cyan"}


def iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat()


def local(instant: datetime | None, zone: ZoneInfo) -> str:
    if instant is None:
        return "never"
    return f"{instant.astimezone(zone):%Y-%m-%d %H:%M %Z}  ({instant.astimezone(UTC):%Y-%m-%d %H:%MZ})"


def projection_json(proj: Projection, unit_of: dict[str, str]) -> dict[str, Any]:
    return {
        "daily_volume": {
            "program": proj.daily_volume.program.as_json("mL/day"),
            "worst_case": proj.daily_volume.worst_case.as_json("mL/day"),
        },
        "daily_dose": {
            name: {"program": d.program.as_json(unit_of[name]), "worst_case": d.worst_case.as_json(unit_of[name])}
            for name, d in proj.daily_dose.items()
        },
        "low_reservoir_alarm_at": {
            "program": iso(proj.low_reservoir_alarm_at.program),
            "worst_case": iso(proj.low_reservoir_alarm_at.worst_case),
        },
        "reservoir_empty_at": {
            "program": iso(proj.reservoir_empty_at.program),
            "worst_case": iso(proj.reservoir_empty_at.worst_case),
        },
        "stability_expires_at": iso(proj.stability_expires_at),
        "next_refill_due": iso(proj.next_refill_due),
        "next_refill_reason": proj.next_refill_reason,
        "assumptions": list(proj.assumptions),
    }


def projection_table(proj: Projection, zone: ZoneInfo, unit_of: dict[str, str]) -> Table:
    table = Table(title="Daily delivery and projections", title_justify="left", show_lines=False)
    table.add_column("")
    table.add_column("program", justify="right")
    table.add_column("worst case (every patient bolus)", justify="right")
    table.add_row(
        "daily volume", proj.daily_volume.program.format("mL/day"), proj.daily_volume.worst_case.format("mL/day")
    )
    for name, d in proj.daily_dose.items():
        table.add_row(f"{name} daily dose", d.program.format(unit_of[name]), d.worst_case.format(unit_of[name]))
    table.add_row(
        "low-reservoir alarm",
        local(proj.low_reservoir_alarm_at.program, zone),
        local(proj.low_reservoir_alarm_at.worst_case, zone),
    )
    table.add_row(
        "reservoir empty", local(proj.reservoir_empty_at.program, zone), local(proj.reservoir_empty_at.worst_case, zone)
    )
    table.add_row("drug stability expires", local(proj.stability_expires_at, zone), "")
    table.add_row(
        Text("next refill due", style="bold"),
        Text(local(proj.next_refill_due, zone), style="bold"),
        proj.next_refill_reason,
    )
    return table


def findings_table(findings: list[Finding], title: str = "Findings") -> Table | Text:
    if not findings:
        return Text("No findings: the program is inside every limit of the library.", style="green")
    table = Table(title=title, title_justify="left", show_lines=True, expand=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("message", ratio=1)
    for f in findings:
        table.add_row(Text(f" {f.severity} ", style=SEVERITY_STYLE[f.severity]), f.code, f.message)
    return table


def rows_table(rows: list[Row], title: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("setting")
    table.add_column("current", justify="right")
    table.add_column("new", justify="right")
    table.add_column("", no_wrap=True)
    for r in rows:
        style = "bold yellow" if r.changed else ""
        table.add_row(Text(r.setting, style=style), r.old, Text(r.new, style=style), "changed" if r.changed else "")
    return table


def settings_table(values: dict[str, str], title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("")
    table.add_column("")
    for k, v in values.items():
        table.add_row(k, v)
    return table


def assumptions_text(notes: tuple[str, ...] | list[str]) -> Text:
    text = Text("Assumptions\n", style="bold")
    for n in notes:
        text.append(f"  • {n}\n")
    return text


def identity_line(library: DrugLibrary, catalog: DeviceCatalog) -> Text:
    return Text(
        f"drug library: {library.name} {library.version} sha256:{library.sha256[:12]}   "
        f"device catalog: {catalog.name} {catalog.version} sha256:{catalog.sha256[:12]}",
        style="dim",
    )


def identity_json(library: DrugLibrary, catalog: DeviceCatalog) -> dict[str, Any]:
    return {"drug_library": library.identity, "device_catalog": catalog.identity}


def rail_text(r: Guardrail | None, unit: str | None = None) -> str:
    if r is None:
        return "—"
    parts = []
    for key, label in (("soft_min", "soft ≥"), ("soft_max", "soft ≤"), ("hard_min", "hard ≥"), ("hard_max", "hard ≤")):
        c: Cited | None = getattr(r, key)
        if c is not None:
            shown = (
                c.value.format(unit) if unit and c.value.dimension == Quantity.of(1, unit).dimension else str(c.value)
            )
            parts.append(f"{label} {shown}{c.marker}")
    return ", ".join(parts)


def make_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def simulation_tables(result: SimulationResult) -> Group:
    zone = result.scenario.program.reservoir.zone
    doc = result.as_json()
    timeline = Table(title="Timeline", title_justify="left")
    timeline.add_column("when")
    timeline.add_column("event")
    timeline.add_column("details")
    for entry, raw in zip(doc["timeline"], result.twin.log, strict=True):
        details = ", ".join(f"{k}: {v}" for k, v in entry.items() if k not in ("at", "event"))
        timeline.add_row(local(from_us(raw["at"]), zone), entry["event"], details)
    totals = Table(title="Delivered", title_justify="left")
    totals.add_column("drug")
    totals.add_column("to the outlet", justify="right")
    totals.add_column("to the patient", justify="right")
    for name, value in doc["totals"]["outlet"].items():
        patient = doc["totals"]["patient"].get(name, {"value": 0.0})
        totals.add_row(name, f"{value['value']:g} {value['unit']}", f"{patient['value']:g} {value['unit']}")
    totals.add_row(
        "volume", f"{doc['totals']['outlet_volume']['value']:g} mL", f"{doc['totals']['patient_volume']['value']:g} mL"
    )
    return Group(timeline, totals, Text(f"reservoir at the end: {doc['reservoir_at_end']['value']:g} mL"))
