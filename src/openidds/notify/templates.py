"""The notification texts: one data file per language (data/notifications/<language>.toml), rendered with the
event's values.

Pure apart from reading the package's own data files once (cached, like the drug library): no clock, no network.
Instants are written on the clinic's wall clock with its zone's abbreviation (`openidds.display`): the time of day
is `display.clock` ('10:00 CST'); the day is `display.day` in English and the file's own weekday and month names
in any other language ('mar 3 nov 2026').
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from string import Template
from typing import Final

from openidds import display

EVENTS: Final = ("reminder", "missed-visit", "missed-refill-escalation", "urgent-flag", "capacity-shortfall")
PARTS: Final = ("subject", "body", "sms")
SMS_MAX: Final = 320  # two SMS segments: a longer template is refused when the file is read


class TemplateError(ValueError):
    """A language file that is missing, or lacks an event or a part, or uses an unknown placeholder."""


@dataclass(frozen=True, slots=True)
class Texts:
    """One event's texts in one language: the e-mail's subject and body, and the SMS."""

    language: str
    subject: str
    body: str
    sms: str


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    name: str
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    words: Mapping[str, str]  # today, tomorrow, in_days
    kinds: Mapping[str, str]  # a visit's kind in plain words
    events: Mapping[str, Mapping[str, str]]

    def day(self, at: datetime | date, tz: str) -> str:
        """The day in words: an instant's day on the clinic's clock, or a calendar day as it is."""
        if isinstance(at, datetime):
            if self.code == "en":
                return display.day(at, tz)
            at = at.astimezone(display.zone(tz)).date()
        return f"{self.weekdays[at.weekday()]} {at.day} {self.months[at.month - 1]} {at.year}"

    def when(self, days: int) -> str:
        """'today', 'tomorrow', 'in 7 days' (days from today to the visit, on the clinic's calendar)."""
        if days <= 0:
            return self.words["today"]
        if days == 1:
            return self.words["tomorrow"]
        return Template(self.words["in_days"]).substitute(n=days)

    def kind(self, kind: str) -> str:
        return self.kinds.get(kind, kind)


def available() -> tuple[str, ...]:
    """The languages shipped (the file names)."""
    folder = resources.files("openidds.data").joinpath("notifications")
    return tuple(sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")))


@cache
def language(code: str) -> Language:
    """The templates of one language, checked: every event has its subject, body and SMS."""
    file = resources.files("openidds.data").joinpath("notifications", f"{code}.toml")
    if not file.is_file():
        raise TemplateError(f"no notification templates for language '{code}' (shipped: {', '.join(available())})")
    doc = tomllib.loads(file.read_text(encoding="utf-8"))
    names = doc.get("names", {})
    events: dict[str, dict[str, str]] = {}
    for event in EVENTS:
        table = doc.get(event)
        if not isinstance(table, dict):
            raise TemplateError(f"{code}.toml: no [{event}] table")
        for part in PARTS:
            if not isinstance(table.get(part), str) or not table[part].strip():
                raise TemplateError(f"{code}.toml: [{event}] has no {part}")
        if len(table["sms"]) > SMS_MAX:
            raise TemplateError(f"{code}.toml: [{event}] sms is longer than {SMS_MAX} characters")
        events[event] = {k: v for k, v in table.items() if isinstance(v, str)}
    weekdays, months = tuple(names.get("weekdays", ())), tuple(names.get("months", ()))
    if len(weekdays) != 7 or len(months) != 12:
        raise TemplateError(f"{code}.toml: [names] needs 7 weekdays and 12 months")
    words = {k: str(names[k]) for k in ("today", "tomorrow", "in_days") if k in names}
    if len(words) != 3:
        raise TemplateError(f"{code}.toml: [names] needs today, tomorrow and in_days")
    return Language(
        code=code,
        name=str(doc.get("name", code)),
        weekdays=weekdays,
        months=months,
        words=words,
        kinds={str(k): str(v) for k, v in doc.get("kinds", {}).items()},
        events=events,
    )


def choose(wanted: str | None, languages: tuple[str, ...]) -> Language:
    """The language a message is written in: `wanted` when the clinic sends in it and a file exists, else the
    clinic's default (its first language), else English."""
    shipped = available()
    for code in (*((wanted,) if wanted is not None and wanted in languages else ()), *languages[:1], "en"):
        if code in shipped:
            return language(code)
    raise TemplateError("no English notification templates shipped")


def render(lang: Language, event: str, values: Mapping[str, object]) -> Texts:
    """The event's subject, body and SMS with `values` put in. A placeholder with no value is a KeyError (a bug
    the tests catch), never a message sent with '$name' in it."""
    table = lang.events[event]
    text = {k: str(v) for k, v in values.items()}
    subject, body, sms = (Template(table[part]).substitute(text) for part in PARTS)
    return Texts(lang.code, " ".join(subject.split()), body.strip() + "\n", " ".join(sms.split()))


def part(lang: Language, event: str, name: str, values: Mapping[str, object]) -> str:
    """One extra piece of an event's table (the capacity shortfall's `line`, `booked`, …), filled in."""
    return Template(lang.events[event][name]).substitute({k: str(v) for k, v in values.items()})
