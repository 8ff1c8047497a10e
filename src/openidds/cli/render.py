"""Rendering for the CLI: JSON documents and rich tables. No decisions are made here.

The tables follow the one display policy (`openidds.display`): volumes to 0.1 mL, doses to 3 significant figures,
instants on the program's wall clock with the zone's abbreviation; --json keeps the exact values and UTC instants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from openidds import display
from openidds.calculations import Projection
from openidds.cli.timeline import catheter_spans, duration, num, stop_spans
from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.evidence import Cited, Guardrail
from openidds.fleet import FleetReport
from openidds.programs.clock import from_us
from openidds.quantities import Quantity
from openidds.review import Row
from openidds.safety import Finding
from openidds.twin.simulate import SimulationResult

SEVERITY_STYLE = {"hard": "bold white on red", "soft": "black on yellow", "info": "cyan"}


def iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat()


def local(instant: datetime | None, zone: ZoneInfo) -> str:
    """'24 Jan 2027 09:00 CST': one zone on the screen, the program's (UTC is in the --json)."""
    return "never" if instant is None else display.instant(instant, zone)


def programmed(volume: Quantity) -> str:
    """A volume the pump is programmed with (a priming or bridge bolus): to 0.1 mL, and exactly when that rounds."""
    shown, exact = display.volume(volume), display.volume_exact(volume)
    return shown if shown == exact else f"{shown} (exactly {exact})"


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
        table.add_row(
            f"{name} daily dose", display.dose(d.program, unit_of[name]), display.dose(d.worst_case, unit_of[name])
        )
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
    table.add_column("finding", ratio=1)  # in words: the codes are in the --json
    for f in findings:
        table.add_row(Text(f" {f.severity} ", style=SEVERITY_STYLE[f.severity]), f.message)
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
    """The run as text: timeline, spans without delivery, the reservoir at the report instants and the totals.
    Volumes and doses are shown at clinical precision here; --json keeps full floats."""
    zone = result.scenario.program.reservoir.zone
    twin = result.twin
    timeline = Table(title="Timeline", title_justify="left")
    timeline.add_column("when")
    timeline.add_column("event")
    timeline.add_column("details")
    for entry in twin.log:
        details = "; ".join(_detail(k, v, zone) for k, v in entry.items() if k not in ("at", "event") and v != "")
        timeline.add_row(local(from_us(entry["at"]), zone), entry["event"], details)
    parts: list[Table | Text] = [timeline]
    gaps = sorted(stop_spans(twin.log, result.scenario.end) + catheter_spans(twin.log, result.scenario.end))
    if gaps:
        table = Table(title="Not delivering to the patient", title_justify="left")
        for col in ("from", "to", "for"):
            table.add_column(col, justify="right" if col == "for" else "left")
        table.add_column("why")
        for s in gaps:
            span = duration(s.end - s.start)
            table.add_row(local(from_us(s.start), zone), local(from_us(s.end), zone), span, s.label)
        parts.append(table)
    if result.report:
        refills = {e["at"] for e in twin.log if e["event"] == "refill"}
        report = Table(title="Reservoir at the report instants", title_justify="left")
        report.add_column("when")
        report.add_column("reservoir", justify="right")
        report.add_column("")
        for at, volume in result.report:
            report.add_row(local(from_us(at), zone), _ml(volume), "before the refill" if at in refills else "")
        parts.append(report)
    units = result.dose_units()
    patient = twin.patient
    totals = Table(title="Delivered", title_justify="left")
    totals.add_column("drug")
    totals.add_column("to the outlet", justify="right")
    totals.add_column("to the patient", justify="right")
    for name, amount in twin.outlet.items():
        unit = units[name]
        totals.add_row(name, display.dose(_exact(amount), unit), display.dose(_exact(patient.get(name, 0)), unit))
    totals.add_row("volume", _ml(twin.outlet_volume), _ml(twin.patient_volume))
    parts += [totals, Text(f"reservoir at the end: {_ml(twin.reservoir)}")]
    return Group(*parts)


def _exact(value: Fraction | float | int) -> Fraction:
    return display.exact(value) if isinstance(value, float) else Fraction(value)


def _ml(value: Fraction | float | int) -> str:
    return display.volume(_exact(value))


_SUFFIX_UNIT = {"_ml": "mL", "_min": "min"}


def _detail(key: str, value: Any, zone: ZoneInfo) -> str:
    """One field of a timeline entry: volumes with their unit at clinical precision, times local, lists joined."""
    for suffix, unit in _SUFFIX_UNIT.items():
        if key.endswith(suffix) and isinstance(value, Fraction | float | int) and not isinstance(value, bool):
            shown = _ml(value) if unit == "mL" else f"{num(value)} {unit}"
            return f"{key.removesuffix(suffix).replace('_', ' ')}: {shown}"
    name = key.replace("_", " ")
    if isinstance(value, bool):
        shown = "yes" if value else "no"
    elif isinstance(value, Fraction | float):
        shown = num(value)
    elif isinstance(value, list | tuple):
        shown = ", ".join(map(str, value)) or "none"
    elif isinstance(value, dict):
        shown = ", ".join(f"{k} {v}" for k, v in value.items())
    elif value is None:
        shown = "—"
    elif key.endswith("_at") and isinstance(value, str):
        try:
            shown = local(datetime.fromisoformat(value), zone)
        except ValueError:
            shown = value
    else:
        shown = str(value)
    return f"{name}: {shown}"


def _rate(value: float) -> str:
    return f"{value:.3f}"


def _total(value: float) -> str:
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def fleet_tables(report: FleetReport) -> Group:
    overall = report.overall
    rates, totals = overall.per_patient_year(), overall.totals
    study = Table(title="Fleet study (synthetic population)", title_justify="left", show_header=False)
    study.add_column("")
    study.add_column("")
    study.add_row("patients", f"{report.patients:,}")
    study.add_row("years each", f"{report.years:g}")
    study.add_row("patient-years", f"{overall.patient_years:,.6g}")
    study.add_row("seed", str(report.seed))
    study.add_row("refill policy", f"{report.policy.name}: {report.policy.describe()}")

    figures = Table(title="Per patient-year", title_justify="left")
    figures.add_column("")
    figures.add_column("per patient-year", justify="right")
    figures.add_column("total", justify="right")
    for name, count in totals["alarms"].items():
        if count or name in ("low-reservoir", "empty-reservoir"):
            figures.add_row(f"{name} alarms", _rate(rates["alarms"][name]), _total(count))
    for key, label in (
        ("empty_reservoir_episodes", "times the reservoir ran empty"),
        ("empty_reservoir_days", "empty-reservoir days"),
        ("reconciliation_flags", "reconciliation flags"),
        ("refill_visits", "refill visits"),
        ("missed_visits", "missed visits (rebooked)"),
        ("late_visits", "late visits"),
        ("remote_requests", "remote presses"),
        ("remote_doses_given", "remote doses given"),
    ):
        style = "bold" if key in ("empty_reservoir_days", "reconciliation_flags", "refill_visits") else ""
        figures.add_row(Text(label, style=style), _rate(rates[key]), _total(totals[key]))

    groups: list[Table] = []
    for title, by in (
        ("By drug (first drug of the solution)", report.by_drug),
        ("By pump family", report.by_pump_family),
    ):
        table = Table(title=f"{title}, per patient-year", title_justify="left")
        table.add_column("", no_wrap=True)
        for col in ("patients", "low alarms", "empty days", "flags", "visits"):
            table.add_column(col, justify="right")
        for name, f in by.items():
            r = f.per_patient_year()
            table.add_row(
                name,
                f"{f.patients:,}",
                _rate(r["alarms"]["low-reservoir"]),
                _rate(r["empty_reservoir_days"]),
                _rate(r["reconciliation_flags"]),
                _rate(r["refill_visits"]),
            )
        groups.append(table)
    d = report.details
    details = Text(
        f"patients ever empty: {d['patients_ever_empty']:,}   with a remote: {d['patients_with_a_remote']:,}   "
        f"flags: {d['less_than_expected']:,} less than expected, {d['more_than_expected']:,} more   "
        f"pocket fills: {d['pocket_fills']:,}   over-infusing pumps: {d['over_infusing_pumps']:,}"
    )
    return Group(study, figures, *groups, details, assumptions_text(report.assumptions))
