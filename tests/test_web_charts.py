"""The web app's pure parts: the SVG charts, the program form's round trip to a program file, and the formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from openidds.data import load_catalog, load_library
from openidds.programfile import parse_program, read_toml
from openidds.web import charts
from openidds.web import format as fmt
from openidds.web.programform import dumps, from_document

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))
T0 = datetime(2026, 11, 21, 15, tzinfo=UTC)
CHICAGO = fmt.zone("America/Chicago")


def _chart(**kwargs: object) -> charts.Chart:
    base: dict[str, object] = {
        "id": "c",
        "title": "Reservoir",
        "desc": "It falls from 40 to 2 mL.",
        "y_label": "mL",
        "series": [charts.Series("schedule", [(T0, 40.0), (T0 + timedelta(days=70), 2.0)])],
        "zone": CHICAGO,
    }
    base.update(kwargs)
    return charts.Chart(**base)  # type: ignore[arg-type]


def test_a_chart_is_an_accessible_inline_svg() -> None:
    html = str(charts.render(_chart(table=[("Now", "40 mL")])))
    assert '<svg class="chart-svg" viewBox="0 0 720 300" role="img" aria-labelledby="c-title c-desc"' in html
    assert (
        '<title id="c-title">Reservoir</title>' in html and '<desc id="c-desc">It falls from 40 to 2 mL.</desc>' in html
    )
    assert "<li>" in html and "schedule" in html  # the legend is text
    assert '<table id="c-table">' in html and "<th scope=row>Now</th>" in html
    assert "style=" not in html and "<script" not in html and "http" not in html


def test_vertical_marks_are_numbered_left_to_right_and_drawn_over_the_lines() -> None:
    marks = [
        charts.Mark("empty", "empty", at=T0 + timedelta(days=60)),
        charts.Mark("alarm level", "level", level=2.0),
        charts.Mark("now", "now", at=T0 + timedelta(days=10)),
    ]
    html = str(charts.render(_chart(marks=marks)))
    badges = re.findall(r"<title>([^<]+)</title><circle[^>]*/><text[^>]*>(\d)</text>", html)
    assert badges == [("now", "1"), ("empty", "2")]
    assert html.index('class="badge"') > html.rindex("<path")  # badges last: never hidden by a line
    assert 'class="mark mark-level"' in html and "<b>1</b> now" in html and "<b>2</b> empty" in html


def test_a_step_series_holds_each_value_until_the_next() -> None:
    series = charts.Series("dose", [(T0, 5.0), (T0 + timedelta(days=10), 6.0)], step=True)
    html = str(charts.render(_chart(series=[series], end=T0 + timedelta(days=20))))
    path = re.search(r'<path d="([^"]+)"', html)
    assert path is not None
    points = path.group(1).split()
    assert len(points) == 4  # start, corner, new value, held to the end
    assert points[1].split(",")[1] == points[0].split(",")[1]  # the corner keeps the old value


def test_an_empty_chart_says_so() -> None:
    html = str(charts.render(_chart(series=[charts.Series("pain", [])])))
    assert html == '<p class="chart-empty" id="c">Reservoir: nothing recorded yet.</p>'


@pytest.mark.parametrize(
    ("days", "first"),
    [(1, "09:00"), (10, "23 Nov"), (60, "5 Dec"), (365, "Jan 2027"), (3000, "2028")],
)
def test_time_ticks_follow_the_local_calendar(days: int, first: str) -> None:
    ticks = charts._time_ticks(T0, T0 + timedelta(days=days), CHICAGO)
    assert 2 <= len(ticks) <= 9
    assert ticks[0][1] == first


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_program_form_writes_back_the_same_program(example: Path) -> None:
    text = example.read_text()
    form = from_document(text).with_blank_rows()  # the page adds empty rows: they are dropped again
    written = form.document()
    library, catalog = load_library(), load_catalog()
    assert parse_program(written, library, catalog) == parse_program(text, library, catalog)


def test_the_program_form_applies_the_edits() -> None:
    text = (Path(__file__).resolve().parent.parent / "examples" / "morphine-clonidine-flex.toml").read_text()
    form = from_document(text)
    form.mode, form.rate, form.bolus = "continuous", "0.6 mL/day", False
    form.drugs[1].concentration = "200 mcg/mL"
    doc = read_toml(form.document())
    assert doc["program"] == {"mode": "continuous", "rate": "0.6 mL/day"}
    assert "patient_bolus" not in doc
    assert doc["drugs"][1] == {"name": "clonidine", "concentration": "200 mcg/mL"}
    assert doc["context"] == read_toml(text)["context"]  # what the form does not show is kept


def test_toml_strings_are_escaped() -> None:
    doc = {"context": {"note": 'a "quoted" \\ back\nslash'}, "drugs": [{"name": "x"}]}
    assert read_toml(dumps(doc)) == doc


def test_numbers_and_instants_for_reading() -> None:
    # 3 significant figures, half up; whole units in full.
    assert [fmt.number(v) for v in ("11.3811474", "24.25", "1250", Fraction(1, 3), "0")] == [
        "11.4",
        "24.3",
        "1250",
        "0.333",
        "0",
    ]
    assert fmt.when(T0, "America/Chicago") == "21 Nov 2026 09:00 CST"
    assert fmt.when("2027-07-01T15:00:00+00:00", "America/Chicago") == "1 Jul 2027 10:00 CDT"
    assert str(fmt.ml("4.49577")) == '<span class="ml" title="exact: 4.49577 mL">4.5 mL</span>'
    assert str(fmt.ml(Fraction(2187, 100), unit=False)) == '<span class="ml" title="exact: 21.87 mL">21.9</span>'
    assert fmt.day(T0, "America/Chicago") == "Sat 21 Nov 2026"
    assert fmt.relative(T0 + timedelta(days=2, hours=3), T0) == "in 2 days 3 h"
    assert fmt.relative(T0 - timedelta(minutes=45), T0) == "45 min ago"
