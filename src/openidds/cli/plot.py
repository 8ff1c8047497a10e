"""A simulation as a picture a clinician reads at a glance: reservoir, daily doses, alarms and refills."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt

from openidds.errors import InputError
from openidds.programs.clock import from_us
from openidds.twin.simulate import SimulationResult

ALARM_COLOUR = {"critical": "#c62828", "non-critical": "#ef6c00"}


def plot(result: SimulationResult, path: Path) -> None:
    if path.suffix.lower() not in (".png", ".svg"):
        raise InputError("--plot", f"give a .png or .svg file, got '{path.name}'")
    samples = result.samples
    zone = result.scenario.program.reservoir.zone
    days = [from_us(s.at).astimezone(zone) for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=[3, 2])
    top.plot(days, [float(s.reservoir_ml) for s in samples], color="#1565c0", lw=2, label="reservoir")
    low = float(result.scenario.program.reservoir.low_alarm.to("mL"))
    top.axhline(low, color="#ef6c00", ls="--", lw=1, label=f"low-reservoir level {low:g} mL")
    twin = result.twin
    for entry in twin.log:
        if entry["event"] == "refill":
            when = from_us(entry["at"]).astimezone(zone)
            for ax in (top, bottom):
                ax.axvline(when, color="#2e7d32", lw=1, alpha=0.7)
            top.annotate(
                f"refill {entry['reconciliation']}",
                (when, top.get_ylim()[1] * 0.95),
                rotation=90,
                fontsize=7,
                color="#2e7d32",
                va="top",
                ha="right",
            )
    for alarm in twin.alarms:
        when = from_us(alarm.raised_at).astimezone(zone)
        top.axvline(when, color=ALARM_COLOUR[alarm.priority], lw=1.5, ls=":")
        top.annotate(
            alarm.name,
            (when, 0.5),
            rotation=90,
            fontsize=7,
            color=ALARM_COLOUR[alarm.priority],
            va="bottom",
            ha="right",
        )
    top.set_ylabel("reservoir (mL)")
    top.set_ylim(bottom=0)
    top.legend(loc="upper right", fontsize=8)
    top.set_title("Pump twin: reservoir, alarms (dotted) and refills (green)")
    units = result.dose_units()
    for name in sorted(units):
        daily = [
            float(b.patient.get(name, 0) - a.patient.get(name, 0)) * 86_400_000_000 / max(b.at - a.at, 1)
            for a, b in pairwise(samples)
        ]
        bottom.step(days[1:], daily, where="pre", label=f"{name} ({units[name]}/day to the patient)")
    bottom.set_ylabel("daily dose")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="upper right", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise InputError("--plot", f"cannot write '{path}' ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
