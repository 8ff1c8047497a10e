"""Schema of the clinic's settings (TOML): who the clinic is and how a patient reaches it.

One model, loaded and validated like the other data files (data/clinic.toml, or a clinic's own file named by
$IDDS_CLINIC_SETTINGS); a later issue makes the same model editable by the administrator. The shipped file is
demo data: a fictitious clinic with fictitious numbers (555-0100 to 555-0199 are reserved for fiction), marked
`demo = true` so every page that shows it says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from openidds.evidence import DataModel
from openidds.evidence.datafile import VersionedFile

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


class ClinicSettings(VersionedFile):
    """The clinic: its name, time zone and the numbers a patient calls (in hours, and out of hours / on call)."""

    demo: bool = False  # fictitious values: the pages say so
    clinic_name: str = Field(min_length=1)
    timezone: str
    in_hours: Phone
    on_call: Phone
    source: str  # a key of [sources]: where the numbers come from (the clinic's own directory)

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
