"""The monthly report's plots: matplotlib (Agg, no display) drawn as SVG and kept as `data:` URIs.

An <img> of a data: URI is allowed by the pages' Content-Security-Policy (img-src 'self' data:) where inline SVG
with matplotlib's <style> would not be, and WeasyPrint draws it with nothing fetched. Fonts are drawn as paths, so
the SVG needs no font. The numbers behind each plot are in a table beside it; colours are Okabe-Ito (as the web's
charts) and each series has its own hatch as well, so the plot reads in grey on a black-and-white printer.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from openidds.printing.records import WorkRow
from openidds.web.charts import PALETTE


def _figure(width: float, height: float) -> Figure:
    """A figure of its own (no pyplot: no global state, safe in the server's worker threads)."""
    matplotlib.rcParams["svg.hashsalt"] = "openidds"  # the same plot, the same bytes
    return Figure(figsize=(width, height), dpi=100)


def _svg_uri(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue().encode()).decode()


def refills_plot(weeks: Sequence[tuple[str, int, int]]) -> str:
    """Refills completed per week: within the band, and with a discrepancy, stacked."""
    fig = _figure(7.0, 2.6)
    ax = fig.subplots()
    labels = [w for w, _, _ in weeks]
    within = [a for _, a, _ in weeks]
    off = [b for _, _, b in weeks]
    ax.bar(labels, within, color=PALETTE[0], label="within the band", edgecolor="black", linewidth=0.5)
    ax.bar(
        labels,
        off,
        bottom=within,
        color=PALETTE[1],
        hatch="//",
        label="with a discrepancy",
        edgecolor="black",
        linewidth=0.5,
    )
    ax.set_ylabel("refills")
    ax.set_xlabel("week starting")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return _svg_uri(fig)


def workload_plot(rows: Sequence[WorkRow]) -> str:
    """Each clinician's month: refill steps prepared, checked, filled, and visits attended, stacked across."""
    fig = _figure(7.0, max(1.6, 0.42 * len(rows) + 1.0))
    ax = fig.subplots()
    names = [f"{r.name} ({r.role})" for r in rows][::-1]
    left = [0] * len(rows)
    parts = (
        ("prepared", [r.prepared for r in rows][::-1], ""),
        ("checked", [r.checked for r in rows][::-1], ".."),
        ("filled", [r.filled for r in rows][::-1], "//"),
        ("visits attended", [r.visits_attended for r in rows][::-1], "xx"),
    )
    for i, (label, values, hatch) in enumerate(parts):
        ax.barh(
            names,
            values,
            left=left,
            color=PALETTE[i % len(PALETTE)],
            hatch=hatch,
            label=label,
            edgecolor="black",
            linewidth=0.5,
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("refill steps and visits")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, fontsize=8, ncols=4, loc="lower left", bbox_to_anchor=(0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return _svg_uri(fig)
