"""A versioned data file (drug library, device catalog): name, version, sources, and the hash of its bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Self

from pydantic import ValidationError, model_validator

from openidds.errors import InputError
from openidds.evidence.cited import DataModel, Source, walk_cited
from openidds.tomlinput import DATA_MAX_BYTES, read_toml
from openidds.validation import format_validation_error


class VersionedFile(DataModel):
    name: str
    version: str
    description: str = ""
    sources: dict[str, Source]
    sha256: str = ""  # of the file's bytes; set by the loader, never written in the file

    def extra_source_keys(self) -> Iterable[tuple[str, str]]:
        """(where, source key) of citations outside Cited values; subclasses add theirs."""
        return ()

    @model_validator(mode="after")
    def _sources_exist(self) -> Self:
        for path, cited in walk_cited(self):
            if cited.source not in self.sources:
                raise ValueError(f"{path}: source '{cited.source}' is not in [sources]")
        for where, key in self.extra_source_keys():
            if key not in self.sources:
                raise ValueError(f"{where}: source '{key}' is not in [sources]")
        return self

    @property
    def identity(self) -> dict[str, str]:
        """What every report and --json output states about the active file."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    @classmethod
    def from_toml(cls, data: bytes, origin: str = "data file") -> Self:
        raw = read_toml(data, origin, DATA_MAX_BYTES)  # size and nesting bounded before parsing
        raw.pop("sha256", None)
        try:
            loaded = cls.model_validate(raw)
        except ValidationError as exc:
            raise InputError(origin, format_validation_error(exc)) from None
        return loaded.model_copy(update={"sha256": hashlib.sha256(data).hexdigest()})
