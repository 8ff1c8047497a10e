"""`idds`: the command line. Exit 0 ok, 1 a hard finding, 2 bad input (one line naming the field)."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from openidds import display
from openidds.calculations import (
    bridge_bolus,
    doses_for_rate,
    expected_residual,
    intrathecal_morphine_start,
    priming_bolus,
    project,
    rate_for_dose,
    reconcile,
    refill_volume,
)
from openidds.cli import render
from openidds.cli.demo import run_demo
from openidds.data import load_catalog, load_library
from openidds.devices import DeviceCatalog
from openidds.drugs import CARE_AREAS, DrugLibrary
from openidds.errors import InputError, UnitMismatchError
from openidds.fleet import DEFAULT_POLICY, parse_policy, run_fleet
from openidds.programfile import parse_instant, parse_program
from openidds.programs.clock import LocalTimeError
from openidds.programs.program import Ingredient, PumpProgram
from openidds.programs.solution import check_solution, check_volume
from openidds.quantities import CONCENTRATION, DOSE_RATE, LENGTH, RATE, VOLUME, parse_quantity
from openidds.review import diff as review_diff
from openidds.review import settings
from openidds.safety import Finding, check, worst_severity
from openidds.twin.scenario import parse_scenario
from openidds.twin.simulate import simulate as run_scenario
from openidds.validation import ascii_number, ascii_whole

if TYPE_CHECKING:
    pass

app = typer.Typer(
    name="idds",
    help="OpenIDDS: intrathecal drug-delivery therapy math, drug library and dose-error checks. "
    "Not a certified medical device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
calc_app = typer.Typer(help="Single programmer calculations, each with the assumptions it used.", no_args_is_help=True)
app.add_typer(calc_app, name="calc")

out = render.make_console()


class State:
    library_path: str | None = None
    catalog_path: str | None = None

    @property
    def library(self) -> DrugLibrary:
        return load_library(self.library_path)

    @property
    def catalog(self) -> DeviceCatalog:
        return load_catalog(self.catalog_path)


state = State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@app.callback()
def _options(
    library: Annotated[
        str | None, typer.Option("--library", help="Drug library TOML to use instead of the shipped one.")
    ] = None,
    catalog: Annotated[
        str | None, typer.Option("--catalog", help="Device catalog TOML to use instead of the shipped one.")
    ] = None,
) -> None:
    state.library_path = library
    state.catalog_path = catalog


# Fields the core names by parameter, as the options a user types.
OPTION_FOR_FIELD = {
    "at": "--at",
    "until": "--until",
    "ratio": "--ratio",
    "mme": "--mme",
    "withdrawn": "--withdrawn",
    "patient_boluses_taken": "--boluses",
    "new": "--new",
    "catheter": "--catheter",
    "length": "--length",
    "dose": "--dose",
    "rate": "--rate",
    "care_area": "--care-area",
    "patients": "--patients",
    "years": "--years",
    "seed": "--seed",
    "workers": "--workers",
}


@contextmanager
def guarded() -> Iterator[None]:
    """Bad input → one line on stderr naming the field, exit 2. Nothing else is caught: a bug shows."""
    try:
        yield
    except (InputError, UnitMismatchError, LocalTimeError) as exc:
        if isinstance(exc, InputError) and exc.field in OPTION_FOR_FIELD:
            exc = InputError(OPTION_FOR_FIELD[exc.field], exc.message)
        # Plain write, never rich: the message must stay one line whatever the terminal width.
        message = " ".join(str(exc).split())
        sys.stderr.write(f"error: {message}\n")
        raise typer.Exit(2) from None


def emit_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def read_program(path: Path, field: str) -> PumpProgram:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(field, f"cannot read '{path}' ({exc.strerror or exc})") from None
    try:
        return parse_program(text, state.library, state.catalog)
    except InputError as exc:
        raise InputError(str(path), str(exc)) from None


def instant_or_now(text: str | None, zone: ZoneInfo | None, field: str) -> datetime:
    """The instant given on the command line, or now: the CLI is the edge, the core never reads the clock."""
    return datetime.now(UTC) if text is None else parse_instant(text, zone, field)


def parse_ingredients(values: list[str] | None, field: str) -> list[Ingredient]:
    if not values:
        raise InputError(field, "give at least one drug as NAME=CONCENTRATION, e.g. 'morphine=10 mg/mL'")
    found: list[Ingredient] = []
    for i, text in enumerate(values):
        where = f"{field}[{i}]"
        name, sep, conc = text.partition("=")
        if not sep:
            raise InputError(where, f"expected NAME=CONCENTRATION such as 'morphine=10 mg/mL', got '{text}'")
        drug = state.library.drug(name, where)
        concentration = parse_quantity(conc, CONCENTRATION, where)
        if concentration.base <= 0:
            raise InputError(where, f"the concentration must be more than zero, got '{conc.strip()}'")
        found.append(Ingredient(drug, concentration.in_unit(drug.concentration_unit)))
    return list(check_solution(found, f"{field}[{{i}}]"))


def unit_of(program: PumpProgram) -> dict[str, str]:
    return {i.drug.name: i.drug.dose_rate_unit for i in program.solution}


def exit_for(findings: list[Finding]) -> None:
    if worst_severity(findings) == "hard":
        raise typer.Exit(1)


# --- library and catalog --------------------------------------------------------------------------------------
@app.command()
def drugs(
    name: Annotated[str | None, typer.Argument(help="One drug's full entry.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The active drug library: drugs, care areas and their limits (with sources)."""
    with guarded():
        lib = state.library
        chosen = [lib.drug(name, "name")] if name else lib.drugs
        if as_json:
            emit_json(
                {
                    "drug_library": lib.identity,
                    "sources": {k: s.model_dump() for k, s in lib.sources.items()},
                    "drugs": [d.model_dump(mode="json") for d in chosen],
                }
            )
            return
        out.print(render.identity_line(lib, state.catalog))
        for d in chosen:
            table = Table(title=f"{d.display_name} ({d.drug_class}; doses in {d.dose_unit})", title_justify="left")
            table.add_column("care area")
            table.add_column("daily dose")
            table.add_column("concentration")
            table.add_column("patient bolus")
            table.add_column("starting dose")
            for area, lim in d.care_areas.items():
                table.add_row(
                    area,
                    render.rail_text(lim.daily_dose, d.dose_rate_unit),
                    render.rail_text(lim.concentration, d.concentration_unit),
                    render.rail_text(lim.patient_bolus_dose, d.dose_unit) if lim.patient_bolus_dose else "none",
                    render.rail_text(lim.starting_dose, d.dose_rate_unit),
                )
            out.print(table)
            strengths = ", ".join(f"{f.product} {f.concentration.value}" for f in d.formulations) or "compounded only"
            stab = d.stability
            out.print(f"  products: {strengths}")
            out.print(
                f"  stability in the pump: {stab.max_days.describe('days')}"
                + (f"; diluted {stab.diluted_max_days.describe('days')}" if stab.diluted_max_days else "")
                + (f"; first fill {stab.first_fill_max_days.describe('days')}" if stab.first_fill_max_days else "")
            )
        out.print("[U] = unconfirmed: verify against the primary source before clinical use.", style="dim")


@app.command()
def devices(as_json: JsonOpt = False) -> None:
    """The active device catalog: pump and catheter models (with sources)."""
    with guarded():
        cat = state.catalog
        if as_json:
            emit_json(
                {
                    "device_catalog": cat.identity,
                    "sources": {k: s.model_dump() for k, s in cat.sources.items()},
                    "pumps": [p.model_dump(mode="json") for p in cat.pumps],
                    "catheters": [c.model_dump(mode="json") for c in cat.catheters],
                }
            )
            return
        out.print(render.identity_line(state.library, cat))
        table = Table(title="Pump models", title_justify="left")
        for col in ("id", "family", "reservoir", "rate", "low alarm", "accuracy", "modes", "battery"):
            table.add_column(col)
        for p in cat.pumps:
            rate = (
                f"{p.rate_min.value}{p.rate_min.marker} – {p.rate_max.value}{p.rate_max.marker}"
                if p.rate_min and p.rate_max
                else f"fixed {p.fixed_rate.value}{p.fixed_rate.marker}"
                if p.fixed_rate
                else "—"
            )
            alarm = f"{p.low_alarm_default.value}{p.low_alarm_default.marker}" if p.low_alarm_default else "no alarms"
            life = ", ".join(f"{pt.life.value} at {pt.daily_volume.value}" for pt in p.battery.life)
            table.add_row(
                p.id,
                p.family,
                f"{p.reservoir.value}",
                rate,
                alarm,
                f"± {p.accuracy.value}{p.accuracy.marker}",
                ", ".join(p.modes),
                life if p.battery.powered else "none",
            )
        out.print(table)
        ctable = Table(title="Catheter models", title_justify="left")
        for col in ("id", "name", "volume per cm", "pump families"):
            ctable.add_column(col)
        for c in cat.catheters:
            ctable.add_row(
                c.id, c.display_name, f"{c.volume_per_cm.value}{c.volume_per_cm.marker}", ", ".join(c.families)
            )
        out.print(ctable)
        out.print("[U] = unconfirmed: verify against the manufacturer's manual before clinical use.", style="dim")


# --- check and diff --------------------------------------------------------------------------------------------
@app.command(name="check")
def check_cmd(
    program_file: Annotated[Path, typer.Argument(metavar="PROGRAM.toml", help="The program to check.")],
    current: Annotated[
        Path | None,
        typer.Option("--current", metavar="OLD.toml", help="The program the pump runs now (titration steps)."),
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="When the change is made (default: now).")] = None,
    starting: Annotated[bool, typer.Option("--starting", help="This program starts the therapy.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Daily volume and doses, projected alarm, empty and refill dates, and every finding."""
    with guarded():
        program = read_program(program_file, "PROGRAM")
        old = read_program(current, "--current") if current else None
        now = instant_or_now(at, program.reservoir.zone, "--at")
        findings = check(program, program.context, old, library=state.library, now=now, starting=starting)
    proj = project(program)
    if as_json:
        emit_json(
            {
                **render.identity_json(state.library, state.catalog),
                **render.projection_json(proj, unit_of(program)),
                "findings": [f.as_json() for f in findings],
            }
        )
    else:
        out.print(render.identity_line(state.library, state.catalog))
        out.print(render.settings_table(settings(program, proj), f"Program: {program_file.name}"))
        out.print(render.projection_table(proj, program.reservoir.zone, unit_of(program)))
        out.print(render.assumptions_text(proj.assumptions))
        out.print(render.findings_table(findings))
    exit_for(findings)


@app.command(name="diff")
def diff_cmd(
    old_file: Annotated[Path, typer.Argument(metavar="OLD.toml", help="The program the pump runs now.")],
    new_file: Annotated[Path, typer.Argument(metavar="NEW.toml", help="The proposed program.")],
    at: Annotated[str | None, typer.Option("--at", help="When the change is made (default: now).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The review screen: every setting old beside new, and the new program's findings against the old."""
    with guarded():
        old = read_program(old_file, "OLD")
        new = read_program(new_file, "NEW")
        now = instant_or_now(at, new.reservoir.zone, "--at")
        rows = review_diff(old, new)
        findings = check(new, new.context, old, library=state.library, now=now)
    if as_json:
        emit_json(
            {
                **render.identity_json(state.library, state.catalog),
                "settings": [{"setting": r.setting, "old": r.old, "new": r.new, "changed": r.changed} for r in rows],
                "changed": [r.setting for r in rows if r.changed],
                "findings": [f.as_json() for f in findings],
            }
        )
    else:
        out.print(render.identity_line(state.library, state.catalog))
        out.print(render.rows_table(rows, f"Review: {old_file.name} → {new_file.name}"))
        out.print(render.findings_table(findings, "Findings of the new program"))
    exit_for(findings)


# --- calculations ----------------------------------------------------------------------------------------------
def _calc_out(
    as_json: bool, title: str, value: dict[str, Any], shown: list[tuple[str, str]], notes: tuple[str, ...]
) -> None:
    if as_json:
        emit_json({**render.identity_json(state.library, state.catalog), **value, "assumptions": list(notes)})
        return
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    for k, v in shown:
        table.add_row(k, v)
    out.print(render.identity_line(state.library, state.catalog))
    out.print(Group(table, render.assumptions_text(notes)))


DrugOpt = Annotated[
    list[str], typer.Option("--drug", help="NAME=CONCENTRATION, repeat for an admixture; the first is primary.")
]


@calc_app.command("rate")
def calc_rate(
    dose: Annotated[str, typer.Option("--dose", help="Daily dose of the first drug, e.g. '5 mg/day'.")],
    drug: DrugOpt,
    as_json: JsonOpt = False,
) -> None:
    """Rate for a daily dose of the first drug, and every drug's dose at that rate."""
    with guarded():
        solution = parse_ingredients(drug, "--drug")
        rate = rate_for_dose(parse_quantity(dose, DOSE_RATE, "--dose"), solution)
        doses = doses_for_rate(rate.value, solution)
    _calc_out(
        as_json,
        "Rate for a daily dose",
        {"rate": rate.value.as_json("mL/day"), "daily_dose": {k: v.as_json() for k, v in doses.value.items()}},
        [
            ("rate", rate.value.format("mL/day")),
            *((f"{k} daily dose", display.dose(v)) for k, v in doses.value.items()),
        ],
        rate.assumptions + doses.assumptions,
    )


@calc_app.command("dose")
def calc_dose(
    rate: Annotated[str, typer.Option("--rate", help="Volumetric rate, e.g. '0.5 mL/day'.")],
    drug: DrugOpt,
    as_json: JsonOpt = False,
) -> None:
    """Every drug's daily dose at one rate."""
    with guarded():
        solution = parse_ingredients(drug, "--drug")
        doses = doses_for_rate(parse_quantity(rate, RATE, "--rate"), solution)
    _calc_out(
        as_json,
        "Daily dose at a rate",
        {"daily_dose": {k: v.as_json() for k, v in doses.value.items()}},
        [(f"{k} daily dose", display.dose(v)) for k, v in doses.value.items()],
        doses.assumptions,
    )


PumpOpt = Annotated[str, typer.Option("--pump", help="Pump model id (see `idds devices`).")]
CatheterOpt = Annotated[str, typer.Option("--catheter", help="Catheter model id (see `idds devices`).")]
LengthOpt = Annotated[str, typer.Option("--length", help="Catheter length, e.g. '60 cm'.")]


@calc_app.command("priming")
def calc_priming(
    pump: PumpOpt,
    catheter: CatheterOpt,
    length: LengthOpt,
    drug: Annotated[list[str] | None, typer.Option("--drug", help="NAME=CONCENTRATION (optional).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Priming bolus after implant: pump dead volume + catheter length × volume per cm."""
    with guarded():
        p, c = state.catalog.pump(pump, "--pump"), state.catalog.catheter(catheter, "--catheter")
        solution = parse_ingredients(drug, "--drug") if drug else []
        result = priming_bolus(p, c, parse_quantity(length, LENGTH, "--length"), solution)
    _calc_out(
        as_json,
        "Priming bolus",
        {"volume": result.value.as_json("mL")},
        [("priming bolus", render.programmed(result.value))],
        result.assumptions,
    )


@calc_app.command("bridge")
def calc_bridge(
    pump: PumpOpt,
    catheter: CatheterOpt,
    length: LengthOpt,
    old: Annotated[list[str], typer.Option("--old", help="Old solution NAME=CONCENTRATION (repeat).")],
    new: Annotated[list[str], typer.Option("--new", help="New solution NAME=CONCENTRATION (repeat).")],
    new_dose: Annotated[str | None, typer.Option("--new-dose", help="New daily dose of the first new drug.")] = None,
    new_rate: Annotated[str | None, typer.Option("--new-rate", help="Or the new program's rate.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="When the bridge starts (ISO with offset).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Bridge bolus when drug or concentration changes: old solution at the rate that keeps the new dose."""
    with guarded():
        p, c = state.catalog.pump(pump, "--pump"), state.catalog.catheter(catheter, "--catheter")
        old_sol, new_sol = parse_ingredients(old, "--old"), parse_ingredients(new, "--new")
        if (new_dose is None) == (new_rate is None):
            raise InputError("--new-dose", "give either --new-dose or --new-rate")
        if new_dose is not None:
            rate = rate_for_dose(parse_quantity(new_dose, DOSE_RATE, "--new-dose"), new_sol).value
        else:
            rate = parse_quantity(new_rate, RATE, "--new-rate")
        if rate.base <= 0:
            given = "--new-dose" if new_dose is not None else "--new-rate"
            raise InputError(given, f"must be more than zero, got '{new_dose or new_rate}'")
        begins = parse_instant(start, None, "--start") if start else None
        result = bridge_bolus(p, c, parse_quantity(length, LENGTH, "--length"), old_sol, new_sol, rate, begins)
    b = result.value
    _calc_out(
        as_json,
        "Bridge bolus",
        {
            "volume": b.volume.as_json("mL"),
            "rate": b.rate.as_json("mL/day"),
            "wanted_rate": b.wanted_rate.as_json("mL/day"),
            "workable": b.workable,
            "advice": b.advice or None,
            "duration": b.duration.as_json("h"),
            "old_daily_dose": {k: v.as_json() for k, v in b.old_doses.items()},
            "new_daily_dose": {k: v.as_json() for k, v in b.new_doses.items()},
            "new_program_starts_at": render.iso(b.ends_at),
        },
        [
            ("old solution to deliver", render.programmed(b.volume)),
            ("bridge rate", b.rate.format("mL/day") + ("" if b.workable else " (the nearest the pump can run)")),
            *([] if b.workable else [("rate that keeps the new dose", b.wanted_rate.format("mL/day"))]),
            ("bridge duration", display.duration(b.duration)),
            *((f"{k} during the bridge", display.dose(v)) for k, v in b.old_doses.items()),
            *(([("new program starts", display.instant(b.ends_at, b.ends_at.tzinfo))]) if b.ends_at else []),
        ],
        result.assumptions,
    )
    if not b.workable and p.fixed_rate is None:
        raise typer.Exit(1)  # no bridge keeps the new dose: a decision for the clinician (see the advice)


@calc_app.command("conversion")
def calc_conversion(
    mme: Annotated[str, typer.Option("--mme", help="Oral morphine milligram equivalents, e.g. '120 mg/day'.")],
    ratio: Annotated[
        str | None, typer.Option("--ratio", help="Oral:intrathecal ratio (library default 300; 100 option).")
    ] = None,
    care_area: Annotated[str, typer.Option("--care-area", help="Care area for the starting range.")] = "pain-noncancer",
    opioid_naive: Annotated[bool, typer.Option("--opioid-naive", help="Use the opioid-naive starting range.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Oral MME/day → starting intrathecal morphine, clipped to the library's starting range."""
    with guarded():
        if care_area not in CARE_AREAS:
            raise InputError("--care-area", f"unknown care area '{care_area}' (choose {', '.join(CARE_AREAS)})")
        ratio_n = None if ratio is None else whole_option(ratio, "--ratio", 1, 10_000)
        result = intrathecal_morphine_start(
            parse_quantity(mme, DOSE_RATE, "--mme"),
            state.library,
            CARE_AREAS[CARE_AREAS.index(care_area)],
            Fraction(ratio_n) if ratio_n else None,
            opioid_naive,
        )
    _calc_out(
        as_json,
        "Intrathecal morphine start",
        {"daily_dose": result.value.as_json("mg/day")},
        [("intrathecal morphine", display.dose(result.value, "mg/day"))],
        result.assumptions,
    )


@calc_app.command("refill")
def calc_refill(
    program_file: Annotated[Path, typer.Argument(metavar="PROGRAM.toml")],
    until: Annotated[str, typer.Option("--until", help="The next refill visit (local time in the program's zone).")],
    as_json: JsonOpt = False,
) -> None:
    """Volume to fill so the worst case reaches the next visit above the alarm level."""
    with guarded():
        program = read_program(program_file, "PROGRAM")
        result = refill_volume(program, parse_instant(until, program.reservoir.zone, "--until"))
    _calc_out(
        as_json,
        "Refill volume",
        {"volume": result.value.as_json("mL")},
        [("fill", display.volume(result.value))],
        result.assumptions,
    )


@calc_app.command("residual")
def calc_residual(
    program_file: Annotated[Path, typer.Argument(metavar="PROGRAM.toml")],
    at: Annotated[str, typer.Option("--at", help="The refill instant (local time in the program's zone).")],
    boluses: Annotated[str, typer.Option("--boluses", help="Patient boluses taken since the fill.")] = "0",
    withdrawn: Annotated[str | None, typer.Option("--withdrawn", help="Volume withdrawn, to reconcile.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Expected residual at a refill within the accuracy band; with --withdrawn, the reconciliation."""
    with guarded():
        program = read_program(program_file, "PROGRAM")
        taken = whole_option(boluses, "--boluses", 0, 100_000)
        est = expected_residual(program, parse_instant(at, program.reservoir.zone, "--at"), taken)
        rec = None
        if withdrawn:
            volume = parse_quantity(withdrawn, VOLUME, "--withdrawn")
            check_volume(program.pump, volume, "--withdrawn", "the withdrawn volume")
            rec = reconcile(est.value, volume)
    e = est.value
    doc: dict[str, Any] = {
        "expected": e.expected.as_json("mL"),
        "low": e.low.as_json("mL"),
        "high": e.high.as_json("mL"),
        "delivered": e.delivered.as_json("mL"),
    }
    shown = [
        ("expected residual", display.volume(e.expected)),
        ("accuracy band", f"{display.volume(e.low)} – {display.volume(e.high)}"),
    ]
    notes = est.assumptions
    if rec is not None:
        r = rec.value
        doc["reconciliation"] = {
            "status": r.status,
            "discrepancy": r.discrepancy.as_json("mL"),
            "likely_causes": list(r.likely_causes),
        }
        shown += [("reconciliation", r.status), ("discrepancy", display.volume(r.discrepancy))]
        shown += [("likely cause", c) for c in r.likely_causes]
        notes = notes + rec.assumptions
    _calc_out(as_json, "Expected residual", doc, shown, notes)


# --- simulation ------------------------------------------------------------------------------------------------
@app.command()
def simulate(
    scenario_file: Annotated[Path, typer.Argument(metavar="SCENARIO.toml", help="Program file + simulation + events.")],
    plot_file: Annotated[Path | None, typer.Option("--plot", help="Write a PNG or SVG picture of the run.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the pump twin through a scenario: timeline, alarms, remote decisions, totals."""
    with guarded():
        try:
            text = scenario_file.read_bytes()
        except OSError as exc:
            raise InputError("SCENARIO", f"cannot read '{scenario_file}' ({exc.strerror or exc})") from None
        try:
            scenario = parse_scenario(text, state.library, state.catalog)
        except InputError as exc:
            raise InputError(str(scenario_file), str(exc)) from None
        result = run_scenario(scenario)
        if plot_file is not None:
            from openidds.cli.plot import plot  # matplotlib loads only when a picture is asked for

            plot(result, plot_file)
    if as_json:
        emit_json({**render.identity_json(state.library, state.catalog), **result.as_json()})
        return
    out.print(render.identity_line(state.library, state.catalog))
    out.print(render.simulation_tables(result))


# --- fleet studies ---------------------------------------------------------------------------------------------
def whole_option(text: str, option: str, least: int, most: int = 2**63 - 1) -> int:
    """A whole number typed on the command line, in the digits 0-9 (click's int() reads other scripts' digits:
    '٤٠' as 40), parsed here so a typo is one line naming the option."""
    number = ascii_whole(text.removeprefix("+"))
    if number is None:
        raise InputError(option, f"expected a whole number in the digits 0-9, got '{text}'")
    if not least <= number <= most:
        raise InputError(option, f"must be {least} to {most}, got {number}")
    return number


def _years(text: str) -> float:
    try:
        number = ascii_number(text)
        if number is None:
            raise ValueError(text)
        value = float(number)
    except ValueError:
        raise InputError("--years", f"expected a number of years such as 5 or 0.5, got '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError("--years", f"must be more than 0, got '{text}'")
    return value


@app.command()
def fleet(
    patients: Annotated[
        str, typer.Option("--patients", metavar="N", help="Patients in the synthetic clinic.")
    ] = "1000",
    years: Annotated[str, typer.Option("--years", metavar="Y", help="Years each patient is followed (≤ 5).")] = "1",
    seed: Annotated[str, typer.Option("--seed", metavar="S", help="Random seed: same seed, same report.")] = "0",
    policy: Annotated[
        str, typer.Option("--policy", help="Refill policy: alarm-minus:N, empty-minus:N or fixed:N (days).")
    ] = DEFAULT_POLICY,
    workers: Annotated[
        str | None, typer.Option("--workers", metavar="W", help="Processes (default: one per CPU); same report.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fleet study: a synthetic clinic through the pump twin; alarms, empty days, flags, visits per patient-year."""
    with guarded():
        n = whole_option(patients, "--patients", 1)
        span = _years(years)
        chosen = parse_policy(policy, "--policy")
        rng_seed = whole_option(seed, "--seed", 0)
        jobs = whole_option(workers, "--workers", 1) if workers is not None else (os.cpu_count() or 1)
        err = Console(stderr=True)
        # The bar goes to stderr, only on a terminal and never with --json; no refresh thread (workers fork).
        with Progress(
            TextColumn("simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("patients"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            auto_refresh=False,
            transient=True,
            disable=as_json or not err.is_terminal,
        ) as bar:
            task = bar.add_task("fleet", total=n)

            def advance(done: int) -> None:
                bar.advance(task, done)
                bar.refresh()

            report = run_fleet(state.library, state.catalog, n, span, rng_seed, chosen, jobs, advance)
    if as_json:
        emit_json({**render.identity_json(state.library, state.catalog), **report.as_json()})
        return
    out.print(render.identity_line(state.library, state.catalog))
    out.print(render.fleet_tables(report))


# --- demo ------------------------------------------------------------------------------------------------------
@app.command()
def demo() -> None:
    """A worked example: a program checked and projected, then a proposed change reviewed side by side."""
    with guarded():
        run_demo(out, state.library, state.catalog)


# The clinic service's commands (serve, audit, user) register themselves on `app` (cli/clinic.py).
from openidds.cli import clinic as _clinic  # noqa: E402, F401  (after `app` and its helpers exist)
from openidds.cli import feeds as _feeds  # noqa: E402, F401
from openidds.cli import operations as _operations  # noqa: E402, F401
from openidds.cli import printing as _printing  # noqa: E402, F401
from openidds.cli import worker as _worker  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
