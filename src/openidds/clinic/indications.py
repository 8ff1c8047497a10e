"""Schema of the indications catalog (TOML): the conditions intrathecal therapy treats, each with its source.

Each indication maps to the drug library's care areas, so a candidate's planned drugs can be checked against the
limits that will apply. Validated on load; a clinic may load its own file instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, model_validator

from openidds.drugs import CareArea
from openidds.errors import InputError
from openidds.evidence import Basis, Cited, DataModel, check_kind
from openidds.evidence.datafile import VersionedFile
from openidds.quantities import TIME

Therapy = Literal["pain", "spasticity"]

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Indication(DataModel):
    id: str
    display_name: str
    therapy: Therapy
    care_areas: list[CareArea] = Field(min_length=1)
    source: str
    basis: Basis
    unconfirmed: bool = False
    note: str = ""
    # e.g. traumatic brain injury: long-term intrathecal baclofen waits at least 1 year after the injury
    wait_after_onset: Cited | None = None

    @property
    def marker(self) -> str:
        return " [U]" if self.unconfirmed else ""

    @model_validator(mode="after")
    def _consistent(self) -> Indication:
        if not _ID.match(self.id):
            raise ValueError(f"id '{self.id}': use lower-case words joined by '-'")
        for area in self.care_areas:
            if not area.startswith(self.therapy):
                raise ValueError(f"care area {area} does not belong to therapy '{self.therapy}'")
        if len(set(self.care_areas)) != len(self.care_areas):
            raise ValueError("a care area is listed twice")
        if self.basis == "policy" and not self.unconfirmed:
            raise ValueError("a policy entry is always unconfirmed: set unconfirmed = true")
        check_kind(self.wait_after_onset, TIME, "wait_after_onset")
        return self


class IndicationCatalog(VersionedFile):
    indications: list[Indication] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> IndicationCatalog:
        ids = [i.id for i in self.indications]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"indication listed twice: {', '.join(dupes)}")
        return self

    def extra_source_keys(self) -> Iterable[tuple[str, str]]:
        for i in self.indications:
            yield f"indication {i.id}", i.source

    def indication(self, id: str, field: str = "indication") -> Indication:
        if not isinstance(id, str):
            raise InputError(field, f"expected an indication id, got {id!r}")
        key = id.strip().lower()
        for i in self.indications:
            if i.id == key:
                return i
        known = ", ".join(i.id for i in self.indications)
        raise InputError(field, f"unknown indication {id!r} (the catalog '{self.name}' has: {known})")
