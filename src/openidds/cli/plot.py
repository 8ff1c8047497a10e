"""A simulation as a picture a clinician reads at a glance.

Top, "what happened": clinic events (refills, interrogations, program changes, boluses, MRI) as labelled ticks, the
spans where the pump delivered nothing, alarms from raised to cleared, and the patient's remote as a rug. Below,
on the same time axis: the reservoir, then each drug's dose to the patient in each 24 h from the fill, against
the programmed dose. Spans without delivery are shaded and clinic events drawn as thin lines through every panel.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from openidds.cli.timeline import (
    Span,
    catheter_spans,
    daily_doses,
    duration,
    markers,
    num,
    programs_in_force,
    reservoir_points,
    stop_spans,
)
from openidds.errors import InputError
from openidds.programs.clock import DAY_US, from_us, to_us
from openidds.programs.program import PumpProgram
from openidds.twin.events import ProgramChange, Refill
from openidds.twin.records import Alarm
from openidds.twin.simulate import SimulationResult

ALARM_COLOUR = {"critical": "#c62828", "non-critical": "#ef6c00"}
KIND_COLOUR = {
    "refill": "#2e7d32",
    "interrogation": "#00838f",
    "program": "#6d4c41",
    "bolus": "#3949ab",
    "mri": "#8e24aa",
    "refused": "#757575",
    "accuracy": "#ad1457",
}
STOP_COLOUR = "#546e7a"
CATHETER_COLOUR = "#8d6e63"
RESERVOIR_COLOUR = "#1565c0"
DRUG_COLOURS = ("#00897b", "#5e35b1", "#f4511e", "#6d4c41")
GIVEN_COLOUR, REFUSED_COLOUR = "#2e7d32", "#9e9e9e"

WIDTH_IN = 12.0
PLOT_WIDTH_IN = WIDTH_IN - 2.2  # what the axes get once labels are laid out: used to size labels in time
FONT = 7.5
CHAR_IN = 0.56 * FONT / 72  # a label character's width, near enough to keep labels apart
ROW_IN = 0.24
MAX_ROWS = 5  # per lane; further labels that would overlap are left off (their ticks stay)


def plot(result: SimulationResult, path: Path) -> None:
    if path.suffix.lower() not in (".png", ".svg"):
        raise InputError("--plot", f"give a .png or .svg file, got '{path.name}'")
    fig = figure(result)
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise InputError("--plot", f"cannot write '{path}' ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)


# Matplotlib's dates are days since its epoch; working them out here avoids a datetime per remote request.
_EPOCH_US = to_us(datetime.fromisoformat(str(matplotlib.rcParams["date.epoch"])).replace(tzinfo=UTC))


def x(us: int) -> float:
    return (us - _EPOCH_US) / DAY_US


@dataclass
class _Item:
    """One thing in a lane: a tick (start == end) or a bar, with its label placed beside or inside."""

    start: float
    end: float
    label: str
    colour: str
    bar: bool
    text_colour: str = "black"
    hatch: str | None = None
    row: int = 0
    text_x: float = 0.0
    text_ha: str = "left"
    labelled: bool = True


def _place(items: list[_Item], lo: float, hi: float) -> int:
    """Put each label beside (or inside) its item and pack items into rows so no two labels overlap. Rows used."""
    per_in = (hi - lo) / PLOT_WIDTH_IN
    pad, gap = 0.06 * per_in, 0.12 * per_in
    extents: list[tuple[float, float, _Item]] = []
    for it in items:
        width = len(it.label) * CHAR_IN * per_in
        if it.bar and it.end - it.start > width + 2 * pad:  # the label fits inside the bar
            it.text_x, it.text_ha = it.start + pad, "left"
            extents.append((it.start, it.end, it))
        elif it.end + pad + width <= hi:
            it.text_x, it.text_ha = it.end + pad, "left"
            extents.append((it.start, it.end + pad + width, it))
        else:  # no room on the right: the label goes on the left
            it.text_x, it.text_ha = it.start - pad, "right"
            extents.append((it.start - pad - width, it.end, it))
    # First fit in time order, so rows read top to bottom as things happened.
    rows: list[list[tuple[float, float]]] = []
    for a, b, it in sorted(extents, key=lambda e: (e[2].start, e[0])):
        free = (r for r, taken in enumerate(rows) if all(b + gap <= c or d + gap <= a for c, d in taken))
        row = next(free, None)
        if row is None and len(rows) < MAX_ROWS:
            row = len(rows)
            rows.append([])
        elif row is None:  # crowded: keep the tick, leave the label off
            row, it.labelled = len(rows) - 1, False
            a, b = it.start, it.end
        rows[row].append((a, b))
        it.row = row
    return max(len(rows), 1)


def figure(result: SimulationResult) -> Figure:
    scenario, twin = result.scenario, result.twin
    program = scenario.program
    zone = program.reservoir.zone
    log = twin.log
    lo, hi = x(scenario.start), x(scenario.end)
    refills = [e for e in scenario.events if isinstance(e, Refill)]
    changes = [e for e in scenario.events if isinstance(e, ProgramChange)]
    stops = stop_spans(log, scenario.end)
    faults = catheter_spans(log, scenario.end)
    marks = markers(log, refills)
    programs = programs_in_force(scenario.start, program, changes, log)
    units = result.dose_units()
    names = list(dict.fromkeys([*(i.drug.name for i in program.solution), *units]))
    edges, doses = daily_doses(result.samples, scenario.start, names)
    remote = bool(twin.decisions) or any(p.patient_bolus is not None for _, p in programs)

    # --- the lanes of "what happened" -------------------------------------------------------------------------------
    clinic = [_Item(x(m.at), x(m.at), m.label, KIND_COLOUR[m.kind], bar=False) for m in marks]
    min_bar = (hi - lo) * 0.004  # a 3 h stop in a year still shows
    stopped = [_bar(s, STOP_COLOUR, min_bar, "white", scenario.end) for s in stops]
    stopped += [_bar(s, CATHETER_COLOUR, min_bar, "white", scenario.end, hatch="////") for s in faults]
    alarm_items = [
        _bar(
            Span(a.raised_at, scenario.end if a.cleared_at is None else a.cleared_at, a.name),
            ALARM_COLOUR[a.priority],
            min_bar,
            "white",
            scenario.end if a.cleared_at is None else None,
        )
        for a in twin.alarms
    ]
    lanes: list[tuple[str, list[_Item], str]] = [
        ("events", clinic, "no clinic events"),
        ("not delivering", stopped, "delivered throughout"),
        ("alarms", alarm_items, "none" if program.pump.has_alarms else "this pump has no alarms"),
    ]
    rows = [_place(items, lo, hi) for _, items, _ in lanes]
    total_rows = sum(rows) + (2 if remote else 0)

    dose_rows = max(len(names), 1)
    heights = [total_rows * ROW_IN + 0.35, 2.7, *([1.35] * dose_rows)]
    fig = plt.figure(figsize=(WIDTH_IN, sum(heights) + 1.5), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights)
    top, tank, dose_axes = axes[0], axes[1], list(axes[2:])

    # Lanes top to bottom; row r of a lane sits at y = -(first row of the lane + r).
    first = 0
    ticks: list[tuple[float, str]] = []
    for (name, items, empty), n in zip(lanes, rows, strict=True):
        _draw_lane(top, items, first, lo, hi, empty)
        ticks.append((-(first + (n - 1) / 2), name))
        first += n
        top.axhline(-first + 0.5, color="#cfd8dc", lw=0.6)
    if remote:
        given = [x(d.at) for d in twin.decisions if d.accepted]
        refused = [x(d.at) for d in twin.decisions if not d.accepted]
        top.vlines(given, -first - 0.3, -first + 0.3, color=GIVEN_COLOUR, lw=0.6)
        top.vlines(refused, -first - 1.3, -first - 0.7, color=REFUSED_COLOUR, lw=0.6)
        ticks += [(-first, f"remote: dose given ({len(given):,})"), (-first - 1, f"remote: refused ({len(refused):,})")]
        first += 2
    top.set_ylim(-first + 0.5, 0.5)
    top.set_yticks([t for t, _ in ticks], [name for _, name in ticks], fontsize=8)
    top.tick_params(axis="y", length=0)

    # --- reservoir ------------------------------------------------------------------------------------------------
    points = reservoir_points(result.samples, log, refills)
    tank.plot([x(t) for t, _ in points], [float(v) for _, v in points], color=RESERVOIR_COLOUR, lw=2, zorder=3)
    if program.pump.has_alarms:
        for (a, p), b in zip(programs, [*(at for at, _ in programs[1:]), scenario.end], strict=True):
            level = float(p.reservoir.low_alarm.to("mL"))
            tank.hlines(level, x(a), x(b), color=ALARM_COLOUR["non-critical"], ls="--", lw=1, zorder=2)
    tank.set_ylim(0, float(program.pump.capacity.to("mL")) * 1.05)
    tank.set_ylabel("reservoir (mL)")
    tank.set_title("Reservoir", loc="left", fontsize=9, fontweight="bold")

    # --- dose to the patient per day ------------------------------------------------------------------------------
    fill_time = from_us(scenario.start).astimezone(zone)
    for i, (ax, name) in enumerate(zip(dose_axes, names, strict=False)):
        colour = DRUG_COLOURS[i % len(DRUG_COLOURS)]
        unit = f"{units[name]}/day"
        peak = 0.0
        if len(edges) > 1:
            values = [float(v) for v in doses[name]]
            xs = [x(t) for t in edges]
            ax.stairs(values, xs, fill=True, color=colour, alpha=0.18, lw=0)
            ax.stairs(values, xs, color=colour, lw=1.8, baseline=None)
            peak = max(values)
        else:
            ax.text(0.01, 0.5, "shorter than a day: no daily dose", transform=ax.transAxes, fontsize=8, color="grey")
        for (a, p), b in zip(programs, [*(at for at, _ in programs[1:]), scenario.end], strict=True):
            planned = _programmed(p, name, unit)
            if planned is not None:
                ax.hlines(planned, x(a), x(b), color="#212121", ls=(0, (4, 3)), lw=1.1, zorder=3)
                peak = max(peak, planned)
        ax.set_ylim(0, peak * 1.25 or 1)
        ax.set_ylabel(f"{name}\n({unit})")
        if i == 0:
            ax.set_title(
                f"Dose to the patient per day (each 24 h from the fill at {fill_time:%H:%M %Z})",
                loc="left",
                fontsize=9,
                fontweight="bold",
            )

    # --- shared: shading, event lines, time axis ---------------------------------------------------------------
    data_axes = [tank, *dose_axes]
    for ax in data_axes:
        for s in stops:
            ax.axvspan(x(s.start), x(s.end), color=STOP_COLOUR, alpha=0.22, lw=0, zorder=1)
        for s in faults:
            ax.axvspan(x(s.start), x(s.end), facecolor="none", edgecolor=CATHETER_COLOUR, hatch="////", lw=0, zorder=1)
        for m in marks:
            ax.axvline(x(m.at), color=KIND_COLOUR[m.kind], lw=0.8, alpha=0.55, zorder=2)
        ax.grid(axis="y", color="#eceff1", lw=0.6)
        ax.set_axisbelow(True)
    for m in marks:
        top.axvline(x(m.at), color=KIND_COLOUR[m.kind], lw=0.6, alpha=0.25, zorder=0)
    locator = mdates.AutoDateLocator(tz=zone, minticks=5, maxticks=12)  # type: ignore[no-untyped-call]
    bottom = axes[-1]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))  # type: ignore[no-untyped-call]
    bottom.set_xlabel(f"local time ({zone.key})", fontsize=8)
    bottom.set_xlim(lo, hi)
    for ax in axes:
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    # Outside-upper figure legends overlap the suptitle, so: headline, then details as the first panel's title,
    # and the legend under the time axis.
    headline, details = _title(result)
    fig.suptitle(headline, fontsize=11, fontweight="bold")
    top.set_title(details, loc="left", fontsize=9)
    fig.legend(
        handles=_legend(program.pump.has_alarms, bool(stops), bool(faults), twin.alarms, remote),
        loc="outside lower center",
        ncols=6,
        fontsize=8,
        frameon=False,
    )
    return fig


def _bar(s: Span, colour: str, min_width: float, text: str, end: int | None, hatch: str | None = None) -> _Item:
    """A span as a bar at least `min_width` wide, labelled with what it was and how long it lasted."""
    a, b = x(s.start), x(s.end)
    how_long = duration(s.end - s.start) + (" to the end of the run" if s.end == end else "")
    return _Item(a, max(b, a + min_width), f"{s.label}, {how_long}", colour, bar=True, text_colour=text, hatch=hatch)


def _draw_lane(ax: Axes, items: list[_Item], first: int, lo: float, hi: float, empty: str) -> None:
    if not items:
        ax.text(lo + (hi - lo) * 0.005, -first, empty, fontsize=FONT, color="#9e9e9e", style="italic", va="center")
        return
    for it in items:
        y = -(first + it.row)
        if it.bar:
            face = "none" if it.hatch else it.colour
            ax.barh(y, it.end - it.start, left=it.start, height=0.62, color=face, edgecolor=it.colour, hatch=it.hatch)
            ax.barh(y, it.end - it.start, left=it.start, height=0.62, color="none", edgecolor=it.colour, lw=0.8)
        else:
            ax.vlines(it.start, y - 0.36, y + 0.36, color=it.colour, lw=2)
        if not it.labelled:
            continue
        inside = it.bar and it.text_ha == "left" and it.text_x < it.end
        colour = it.text_colour if inside and not it.hatch else it.colour
        ax.text(it.text_x, y, it.label, fontsize=FONT, color=colour, ha=it.text_ha, va="center", clip_on=True)


def _programmed(program: PumpProgram, name: str, unit: str) -> float | None:
    """The program's mean daily dose of `name` (None when its solution has none)."""
    for ing in program.solution:
        if ing.drug.name == name:
            return float(ing.dose_rate(program.mean_daily_volume()).to(unit))
    return None


def _title(result: SimulationResult) -> tuple[str, str]:
    """Pump and solution; then the period, the program and the patient's remote."""
    program = result.scenario.program
    zone = program.reservoir.zone
    start = from_us(result.scenario.start).astimezone(zone)
    end = from_us(result.scenario.end).astimezone(zone)
    days = (result.scenario.end - result.scenario.start) / DAY_US
    drugs = " + ".join(f"{i.drug.name} {i.concentration}" for i in program.solution)
    mean = program.mean_daily_volume()
    rate = f"{num(mean.to('mL/day'))} mL/day"
    if program.mode == "flex":
        rate = f"flex, {rate} on average"
    elif program.mode in ("stopped", "minimum-rate"):
        rate = program.mode
    else:
        rate = f"{program.mode} {rate}"
    dose = " + ".join(f"{i.dose_rate(mean)} {i.drug.name}" for i in program.solution)
    dose = f" = {dose}" if mean.base else ""
    details = f"{_when(start)} → {_when(end)} {zone.key} ({num(days, 1)} days)\nprogram: {rate}{dose}"
    pb = program.patient_bolus
    if pb is not None:
        details += (
            f";  patient remote {pb.volume} over {pb.duration}, lockout {pb.lockout}, up to {pb.max_per_day} a day"
        )
    # Wrapped so a week program or several drugs never run past the figure's edge.
    return f"{program.pump.display_name} ({program.pump.id}): {drugs}", "\n".join(
        textwrap.fill(line, 160, subsequent_indent="    ") for line in details.splitlines()
    )


def _when(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M}"


def _legend(has_alarms: bool, stops: bool, faults: bool, alarms: list[Alarm], remote: bool) -> list[Artist]:
    handles: list[Artist] = [Line2D([], [], color=RESERVOIR_COLOUR, lw=2, label="reservoir")]
    if has_alarms:
        handles.append(
            Line2D([], [], color=ALARM_COLOUR["non-critical"], ls="--", lw=1, label="low-reservoir alarm level")
        )
    handles.append(Line2D([], [], color="#212121", ls=(0, (4, 3)), lw=1.1, label="programmed daily dose"))
    if stops:
        handles.append(Patch(color=STOP_COLOUR, alpha=0.45, label="pump stopped"))
    if faults:
        handles.append(Patch(facecolor="none", edgecolor=CATHETER_COLOUR, hatch="////", label="catheter fault"))
    priorities = {a.priority for a in alarms}
    for priority in ("critical", "non-critical"):
        if priority in priorities:
            handles.append(Patch(color=ALARM_COLOUR[priority], label=f"{priority} alarm"))
    if remote:
        handles.append(Line2D([], [], color=GIVEN_COLOUR, marker="|", ls="none", label="remote: dose given"))
        handles.append(Line2D([], [], color=REFUSED_COLOUR, marker="|", ls="none", label="remote: refused"))
    return handles
