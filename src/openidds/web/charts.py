"""Small server-side SVG charts: time on x, one quantity on y, with labelled marks. Pure Python, no request-time
plotting library, no script: the chart is in the page, so it works offline and prints.

Accessible: the SVG is role="img" named by its <title> and described by its <desc> (what a sighted reader takes
from it, in words), the legend is text, and the numbers behind it are in a table under a disclosure. Series differ
by dash pattern as well as by colour (Okabe-Ito, safe for the common colour-vision deficiencies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from markupsafe import Markup

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 4", "2 3", "10 3 2 3", "1 4", "12 6")
MARK_STYLE: dict[str, tuple[str, str]] = {  # kind → (colour, dash)
    "now": ("#444444", "3 3"),
    "alarm": ("#E69F00", "8 4"),
    "empty": ("#882255", ""),
    "stability": ("#CC79A7", "4 2"),
    "due": ("#0072B2", "2 2"),
    "level": ("#E69F00", "8 4"),
    "mark": ("#666666", "4 4"),
}
W, H = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 62, 40  # room for the y labels, the marks' badges and the x labels


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[datetime, float]]
    step: bool = False  # holds its value until the next point (a dose that runs until changed)
    markers: bool = False  # a dot at each point (scores taken at visits)
    dashed: bool | None = None  # None: by position


@dataclass(frozen=True)
class Mark:
    label: str
    kind: str = "mark"
    at: datetime | None = None  # a vertical line at this instant
    level: float | None = None  # or a horizontal line at this value


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    desc: str
    y_label: str
    series: Sequence[Series]
    zone: ZoneInfo
    marks: Sequence[Mark] = ()
    start: datetime | None = None
    end: datetime | None = None
    y_min: float = 0.0
    y_max: float | None = None
    table: Sequence[tuple[str, str]] = field(default_factory=tuple)  # the numbers, in words, for the table


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target if span > 0 else 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _num(value: float) -> str:
    return f"{value:.10g}"


def _time_ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, str]]:
    """Ticks on the local calendar: hours, days, weeks or months, at most about eight."""
    span_days = (end - start).total_seconds() / 86400
    local = start.astimezone(zone)
    ticks: list[tuple[datetime, str]] = []
    if span_days <= 2:
        at = local.replace(minute=0, second=0, microsecond=0)
        step = timedelta(hours=6 if span_days > 0.75 else 2)
        while at <= end:
            if at >= start:
                ticks.append((at, f"{at:%H:%M}"))
            at = (at + step).astimezone(zone)
        return ticks
    if span_days <= 70:
        days = next(d for d in (1, 2, 7, 14) if span_days / d <= 8)
        at = local.replace(hour=0, minute=0, second=0, microsecond=0)
        while at <= end:
            if at >= start:
                ticks.append((at, f"{at.day} {at:%b}"))
            nxt = at.replace(tzinfo=None) + timedelta(days=days)
            at = nxt.replace(tzinfo=zone)
        return ticks
    months = next(m for m in (1, 2, 3, 6, 12, 24, 60) if span_days / (30.4 * m) <= 8)
    year, month = local.year, (local.month if months < 12 else 1)  # yearly ticks on 1 January
    while True:
        at = datetime(year, month, 1, tzinfo=zone)
        if at > end:
            return ticks
        if at >= start:
            ticks.append((at, f"{at:%b %Y}" if months < 12 else f"{at:%Y}"))
        month += months
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def _ordered(marks: Sequence[Mark]) -> list[Mark]:
    """Horizontal marks first, then vertical ones in time order: their numbers read left to right."""
    vertical = [(m.at, i, m) for i, m in enumerate(marks) if m.at is not None]
    return [m for m in marks if m.at is None] + [m for _, _, m in sorted(vertical, key=lambda v: (v[0], v[1]))]


def render(chart: Chart) -> Markup:
    points = [p for s in chart.series for p in s.points]
    instants = [t for t, _ in points] + [m.at for m in chart.marks if m.at is not None]
    if not instants:
        return Markup(
            f'<p class="chart-empty" id="{escape(chart.id)}">{escape(chart.title)}: nothing recorded yet.</p>'
        )
    low, high = min(instants), max(instants)
    if high - low < timedelta(days=1):  # one visit: a fortnight around it, not a day of hours
        low, high = low - timedelta(days=7), high + timedelta(days=7)
    pad = (high - low) / 25  # points at the edge stay inside the frame
    start = chart.start or low - pad
    end = chart.end or high + pad
    if end <= start:
        end = start + timedelta(days=1)
    values = [v for _, v in points] + [m.level for m in chart.marks if m.level is not None]
    top = chart.y_max if chart.y_max is not None else max([*values, chart.y_min + 1])
    step = _nice_step(top - chart.y_min)
    top = chart.y_min + step * math.ceil((top - chart.y_min) / step - 1e-9)
    bottom = chart.y_min
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    total = (end - start).total_seconds()

    def x(t: datetime) -> float:
        return LEFT + plot_w * min(max((t - start).total_seconds() / total, 0.0), 1.0)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (min(max(v, bottom), top) - bottom) / (top - bottom))

    cid = escape(chart.id)
    out = [
        f'<svg class="chart-svg" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'focusable="false">',
        f'<title id="{cid}-title">{escape(chart.title)}</title>',
        f'<desc id="{cid}-desc">{escape(chart.desc)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#999999"/>',
    ]
    # y grid and labels
    v = bottom
    while v <= top + 1e-9:
        yy = y(v)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e4e4e4"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="12" fill="#333333">{_num(v)}</text>'
        )
        v += step
    out.append(
        f'<text x="14" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 14 {TOP + plot_h / 2:.1f})" '
        f'text-anchor="middle" font-size="12" fill="#333333">{escape(chart.y_label)}</text>'
    )
    # x ticks
    for t, label in _time_ticks(start, end, chart.zone):
        xx = x(t)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#efefef"/>')
        out.append(
            f'<text x="{xx:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" font-size="12" '
            f'fill="#333333">{escape(label)}</text>'
        )
    # series
    for i, s in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[i % len(DASHES)] if s.dashed is None else ("6 4" if s.dashed else "")
        pts = sorted(s.points)
        if not pts:
            continue
        coords: list[tuple[float, float]] = []
        for k, (t, val) in enumerate(pts):
            if s.step and k > 0:
                coords.append((x(t), y(pts[k - 1][1])))
            coords.append((x(t), y(val)))
        if s.step:
            coords.append((x(end), y(pts[-1][1])))
        path = " ".join(f"{'M' if k == 0 else 'L'}{cx:.1f},{cy:.1f}" for k, (cx, cy) in enumerate(coords))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>')
        if s.markers:
            for t, val in pts:
                out.append(f'<circle cx="{x(t):.1f}" cy="{y(val):.1f}" r="4" fill="{colour}"/>')
    # marks: a vertical mark carries a numbered badge at its top (the legend says what each number is), staggered
    # in rows when marks fall close together; a horizontal mark is labelled at its right end
    rows: list[float] = []
    badges: list[str] = []  # drawn last, over every line
    number = 0
    for m in _ordered(chart.marks):
        colour, dash = MARK_STYLE.get(m.kind, MARK_STYLE["mark"])
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        if m.at is not None:
            number += 1
            if not start <= m.at <= end:
                continue
            xx = x(m.at)
            row = next((r for r, last in enumerate(rows) if xx - last > 20), len(rows))
            if row == len(rows):
                rows.append(xx)
            rows[row] = xx
            cy = TOP - 10 - 18 * (row % 3)
            out.append(
                f'<line class="mark mark-{escape(m.kind)}" x1="{xx:.1f}" x2="{xx:.1f}" y1="{cy:.1f}" '
                f'y2="{TOP + plot_h}" stroke="{colour}" stroke-width="2"{dash_attr}/>'
            )
            badges.append(
                f'<g class="badge"><title>{escape(m.label)}</title><circle cx="{xx:.1f}" cy="{cy:.1f}" r="8" '
                f'fill="#ffffff" stroke="{colour}" stroke-width="2"/><text x="{xx:.1f}" y="{cy + 4:.1f}" '
                f'text-anchor="middle" font-size="11" font-weight="700" fill="#1a1a1a">{number}</text></g>'
            )
        elif m.level is not None:
            yy = y(m.level)
            out.append(
                f'<line class="mark mark-{escape(m.kind)}" x1="{LEFT}" x2="{W - RIGHT}" y1="{yy:.1f}" '
                f'y2="{yy:.1f}" stroke="{colour}" stroke-width="2"{dash_attr}/>'
            )
            out.append(
                f'<text x="{W - RIGHT - 4}" y="{yy - 6:.1f}" text-anchor="end" font-size="11" '
                f'fill="#1a1a1a">{escape(m.label)}</text>'
            )
    out += badges
    out.append("</svg>")
    legend = []
    for i, s in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[i % len(DASHES)] if s.dashed is None else ("6 4" if s.dashed else "")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        legend.append(
            f'<li><svg width="28" height="10" aria-hidden="true" focusable="false"><line x1="0" x2="28" y1="5" '
            f'y2="5" stroke="{colour}" stroke-width="3"{dash_attr}/></svg> {escape(s.name)}</li>'
        )
    number = 0
    for m in _ordered(chart.marks):
        colour, dash = MARK_STYLE.get(m.kind, MARK_STYLE["mark"])
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        tag = ""
        if m.at is not None:
            number += 1
            tag = f"<b>{number}</b> "
        legend.append(
            f'<li><svg width="28" height="10" aria-hidden="true" focusable="false"><line x1="0" x2="28" y1="5" '
            f'y2="5" stroke="{colour}" stroke-width="2"{dash_attr}/></svg> {tag}{escape(m.label)}</li>'
        )
    table = "".join(f"<tr><th scope=row>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in chart.table)
    return Markup(
        f'<figure class="chart" id="{cid}">{"".join(out)}'
        f'<figcaption><ul class="legend">{"".join(legend)}</ul></figcaption>'
        + (
            f'<details class="chart-data"><summary>The numbers behind “{escape(chart.title)}”</summary>'
            f'<table id="{cid}-table"><tbody>{table}</tbody></table></details>'
            if table
            else ""
        )
        + "</figure>"
    )
