"""Schema of the clinic's settings (TOML): who the clinic is, how a patient reaches it, and how it schedules.

One model, loaded and validated like the other data files (data/clinic.toml, or a clinic's own file named by
$IDDS_CLINIC_SETTINGS); the administrator edits the same model in the app (service.settings keeps each save). The
shipped file is demo data: a fictitious clinic with fictitious numbers (555-0100 to 555-0199 are reserved for
fiction), marked `demo = true` so every page that shows it says so.

Scheduling: the days and hours the clinic is open, its country's public holidays (the `holidays` package) and its
own closures, each nurse's visits per day, working days and skills, how long each kind of visit takes, the booking
margin per drug (days before the latest safe day) and the share of a fill the clinic accepts to waste by refilling
early. Notifications: the reminder days before a visit, the languages, the clinic lead and on-call e-mail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time
from typing import Literal, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from openidds.evidence import DataModel
from openidds.evidence.cited import Cited, check_kind
from openidds.evidence.datafile import VersionedFile
from openidds.quantities.units import DIMENSIONLESS, TIME

# A number as people write it: digits with spaces, dots, dashes or brackets, an optional leading +.
_PHONE = re.compile(r"^\+?[0-9(][0-9 ().\-]*[0-9]$")
PHONE_DIGITS = (5, 15)  # fewer is no phone number; more than E.164 allows is a typo


class Phone(DataModel):
    """A number to call, with when it answers ("Monday to Friday, 08:00 to 17:00")."""

    number: str
    hours: str = Field(min_length=1)

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        text = value.strip()
        digits = sum(c.isdigit() for c in text)
        if not _PHONE.match(text) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
            raise ValueError(f"'{value}' is not a phone number (digits, spaces, dashes, brackets, a leading +)")
        return text

    @property
    def tel(self) -> str:
        """The number for a tel: link ('+15555550100')."""
        return ("+" if self.number.startswith("+") else "") + "".join(c for c in self.number if c.isdigit())


_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
EMAIL_MAX = 200


def check_email(value: str) -> str:
    """An e-mail address as people write it (one address, no display name): ValueError in words otherwise. No
    encoded word ('=?utf-8?q?…'): a mail library decodes it into the header, line breaks included."""
    text = value.strip()
    if len(text) > EMAIL_MAX or not _EMAIL.match(text) or "=?" in text:
        raise ValueError(f"'{value}' is not an e-mail address (name@example.org)")
    return text


class Contact(DataModel):
    """Someone the clinic's notices reach: a name, an e-mail address and, for an SMS, a phone number."""

    name: str = Field(min_length=1, max_length=120)
    email: str | None = None
    phone: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else check_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else Phone(number=value, hours="-").number


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
Skill = Literal["compounded", "ziconotide", "home-visit"]
SKILLS: tuple[Skill, ...] = get_args(Skill)
VisitKind = Literal["refill", "follow-up", "replacement", "mri-pre", "mri-post"]
VISIT_KINDS: tuple[VisitKind, ...] = get_args(VisitKind)
VISITS_PER_DAY_MAX = 60


class Nurse(DataModel):
    """A nurse who sees patients: their login (a nurse or physician account), how many visits a day, which days
    and what they are trained for."""

    username: str = Field(min_length=1, max_length=80)
    visits_per_day: int = Field(ge=1, le=VISITS_PER_DAY_MAX)
    days: tuple[Weekday, ...] = WEEKDAYS[:5]
    skills: tuple[Skill, ...] = ()


class Closure(DataModel):
    """A day the clinic is closed besides the public holidays (training, building works), with why."""

    day: date
    why: str = Field(min_length=1, max_length=200)


class Margins(DataModel):
    """Days booked before the latest safe day: `default`, and larger per drug (by the library's drug name)."""

    default: Cited
    drugs: dict[str, Cited] = Field(default_factory=dict)


class Scheduling(DataModel):
    country: str = Field(min_length=2, max_length=2)  # ISO 3166 alpha-2, for the `holidays` package
    subdivision: str | None = None  # a state or province, when its holidays differ
    open_days: tuple[Weekday, ...] = WEEKDAYS[:5]
    opens: time
    closes: time
    closures: tuple[Closure, ...] = ()
    visit_minutes: dict[VisitKind, int]  # how long each kind of visit takes
    nurses: tuple[Nurse, ...]
    margins: Margins
    max_waste: Cited  # the share of a fill the clinic accepts to throw away by refilling early
    source: str  # a key of [sources]: where the margins and the waste share come from

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        import holidays

        code = value.upper()
        if code not in holidays.list_supported_countries():
            raise ValueError(f"'{value}' is not a country the holidays package knows (ISO 3166 alpha-2, e.g. 'US')")
        return code

    @field_validator("visit_minutes")
    @classmethod
    def _minutes(cls, value: dict[VisitKind, int]) -> dict[VisitKind, int]:
        for kind, minutes in value.items():
            if not 5 <= minutes <= 600:
                raise ValueError(f"visit_minutes.{kind}: expected 5 to 600 minutes, got {minutes}")
        missing = [k for k in VISIT_KINDS if k not in value]
        if missing:
            raise ValueError(f"visit_minutes: give every kind of visit (missing: {', '.join(missing)})")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.closes <= self.opens:
            raise ValueError(f"closes ({self.closes:%H:%M}) must be after opens ({self.opens:%H:%M})")
        if not self.open_days:
            raise ValueError("open_days: the clinic must open on at least one day")
        names = [n.username for n in self.nurses]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"nurses: {', '.join(twice)} listed twice")
        check_kind(self.margins.default, TIME, "margins.default")
        for drug, cited in self.margins.drugs.items():
            check_kind(cited, TIME, f"margins.drugs.{drug}")
        for where, cited in (("margins.default", self.margins.default), *self.margins.drugs.items()):
            days = cited.value.to("day")
            # at least a day: a latest safe day on the alarm's own day leaves no margin at all
            if not 1 <= days <= 30 or days.denominator != 1:
                raise ValueError(f"margins {where}: expected whole days from 1 to 30, got {cited.value}")
        check_kind(self.max_waste, DIMENSIONLESS, "max_waste")
        share = self.max_waste.value.base
        if not 0 <= share <= 1:
            raise ValueError(f"max_waste: expected a share from 0 to 1 (e.g. '25 %'), got {self.max_waste.value}")
        return self

    def margin_problems(self, drugs: Iterable[tuple[str, bool]]) -> list[str]:
        """What is wrong with the margins against the drug library (name, withdrawal risk): a margin for a drug the
        library does not know (a typo would silently drop it), or a withdrawal-risk drug without a margin larger
        than the default."""
        known = dict(drugs)
        default = self.margins.default.value.to("day")
        problems = [
            f"margins.drugs.{name}: not a drug of the library ({', '.join(sorted(known))})"
            for name in self.margins.drugs
            if name not in known
        ]
        for name, risky in sorted(known.items()):
            cited = self.margins.drugs.get(name)
            if risky and (cited is None or cited.value.to("day") <= default):
                problems.append(
                    f"margins.drugs.{name}: {name} carries a withdrawal risk: give it a margin larger than the "
                    f"default ({self.margins.default.value})"
                )
        return problems

    def margin_days(self, drugs: Iterable[str]) -> tuple[int, str]:
        """The largest margin among the drugs in the pump, in days, with where it comes from."""
        best = (int(self.margins.default.value.to("day")), "default")
        for drug in drugs:
            cited = self.margins.drugs.get(drug)
            if cited is not None and int(cited.value.to("day")) > best[0]:
                best = (int(cited.value.to("day")), drug)
        return best


class Notifications(DataModel):
    reminder_days: tuple[int, ...] = (7, 1)  # days before a booked visit
    languages: tuple[str, ...] = ("en",)  # templates the clinic sends in; the first is the default
    sender: str  # the From address of the clinic's e-mail
    lead: Contact  # the clinic lead: capacity shortfalls
    on_call: Contact  # the on-call clinician: a missed baclofen refill is escalated here

    @field_validator("reminder_days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= d <= 60 for d in value) or len(set(value)) != len(value):
            raise ValueError(f"reminder_days: distinct whole days from 0 to 60, got {list(value)}")
        return tuple(sorted(value, reverse=True))

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_email(value)


class ClinicSettings(VersionedFile):
    """The clinic: its name, time zone and the numbers a patient calls (in hours, and out of hours / on call),
    and, when set, how it schedules visits and whom its notices reach."""

    demo: bool = False  # fictitious values: the pages say so
    clinic_name: str = Field(min_length=1)
    timezone: str
    in_hours: Phone
    on_call: Phone
    source: str  # a key of [sources]: where the numbers come from (the clinic's own directory)
    scheduling: Scheduling | None = None  # None: the clinic books by hand (no planner, no refill window margins)
    notifications: Notifications | None = None  # None: nothing is sent

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (an IANA name such as 'America/Chicago')") from None
        return value

    def extra_source_keys(self) -> Iterable[tuple[str, str]]:
        yield "source", self.source
        if self.scheduling is not None:
            yield "scheduling.source", self.scheduling.source
