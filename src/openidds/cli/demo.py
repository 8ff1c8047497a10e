"""`idds demo`: a worked example from the shipped example files, printed as rich tables."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from openidds import display
from openidds.calculations import bridge_bolus, project
from openidds.cli import render
from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.programfile import parse_program
from openidds.programs.program import PumpProgram
from openidds.review import diff, settings
from openidds.safety import check

CURRENT = "morphine-clonidine-flex.toml"
PROPOSED = "morphine-clonidine-flex-concentrated.toml"
REFUSED = "morphine-above-hard-limit.toml"


def _example(name: str, library: DrugLibrary, catalog: DeviceCatalog) -> PumpProgram:
    text = resources.files("openidds.examples").joinpath(name).read_bytes()
    return parse_program(text, library, catalog)


def run_demo(out: Console, library: DrugLibrary, catalog: DeviceCatalog) -> None:
    out.print(
        Panel.fit(
            "OpenIDDS worked example: a pump program checked and projected, then a proposed change reviewed.\n"
            "Not a certified medical device: for education, research and software development.",
            title="idds demo",
        )
    )
    out.print(render.identity_line(library, catalog))

    current = _example(CURRENT, library, catalog)
    zone = current.reservoir.zone
    units = {i.drug.name: i.drug.dose_rate_unit for i in current.solution}
    out.rule(f"1. The current program (examples/{CURRENT})")
    proj = project(current)
    out.print(render.settings_table(settings(current, proj), "Programmed settings"))
    out.print(render.projection_table(proj, zone, units))
    out.print(render.assumptions_text(proj.assumptions))
    out.print(render.findings_table(check(current, current.context, library=library, starting=False)))

    proposed = _example(PROPOSED, library, catalog)
    out.rule(f"2. A proposed change, reviewed (examples/{PROPOSED})")
    change_at = proposed.reservoir.filled_at
    out.print(render.rows_table(diff(current, proposed), "Review: current beside new"))
    findings = check(proposed, proposed.context, current, library=library, now=change_at)
    out.print(render.findings_table(findings, "Findings of the new program against the current one"))

    if current.catheter is not None and current.catheter_length is not None:
        bridge = bridge_bolus(
            current.pump,
            current.catheter,
            current.catheter_length,
            current.solution,
            proposed.solution,
            proposed.daily_volume(),
            change_at,
        )
        b = bridge.value
        out.rule("3. Bridge bolus for the concentration change")
        t = Table(show_header=False)
        t.add_column("")
        t.add_column("", justify="right")
        t.add_row("old solution in pump and catheter", render.programmed(b.volume))
        t.add_row("delivered at", b.rate.format("mL/day"))
        t.add_row("for", display.duration(b.duration))
        for name, dose in b.old_doses.items():
            t.add_row(f"{name} meanwhile", display.dose(dose))
        if b.ends_at:
            t.add_row("new program starts", render.local(b.ends_at, zone))
        out.print(t)
        out.print(render.assumptions_text(bridge.assumptions))

    refused = _example(REFUSED, library, catalog)
    out.rule(f"4. A program that is refused (examples/{REFUSED})")
    hard = [f for f in check(refused, refused.context, library=library) if f.severity == "hard"]
    out.print(render.findings_table(hard, "Hard findings: this program cannot be sent to the pump"))
    printed = display.instant(datetime.now(UTC), zone)  # the one zone of every time above: the program's
    out.print(f"Demo printed at {printed}. Try: idds check examples/{CURRENT}", style="dim")
