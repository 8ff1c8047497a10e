"""The shipped drug library, device catalog, indications catalog and clinic settings, and loading a clinic's own
files instead (edge: file I/O)."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

from openidds.clinic.indications import IndicationCatalog
from openidds.clinic.settings import ClinicSettings
from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.errors import InputError
from openidds.evidence.datafile import VersionedFile

LIBRARY_ENV = "IDDS_DRUG_LIBRARY"
CATALOG_ENV = "IDDS_DEVICE_CATALOG"
INDICATIONS_ENV = "IDDS_INDICATIONS"
CLINIC_ENV = "IDDS_CLINIC_SETTINGS"


@lru_cache(maxsize=16)
def _load(kind: type[VersionedFile], shipped: str, option: str, what: str, path: str | None) -> VersionedFile:
    if path is None:
        return kind.from_toml(resources.files("openidds.data").joinpath(shipped).read_bytes(), f"shipped {what}")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(option, f"cannot read '{path}' ({exc.strerror or exc})") from None
    return kind.from_toml(data, f"{what} {path}")


def _chosen(path: str | Path | None, env: str) -> str | None:
    chosen = path or os.environ.get(env) or None
    return str(chosen) if chosen else None


def load_library(path: str | Path | None = None) -> DrugLibrary:
    """The active drug library: `path`, else $IDDS_DRUG_LIBRARY, else the shipped file."""
    found = _load(DrugLibrary, "drugs.toml", "--library", "drug library", _chosen(path, LIBRARY_ENV))
    assert isinstance(found, DrugLibrary)
    return found


def load_catalog(path: str | Path | None = None) -> DeviceCatalog:
    """The active device catalog: `path`, else $IDDS_DEVICE_CATALOG, else the shipped file."""
    found = _load(DeviceCatalog, "devices.toml", "--catalog", "device catalog", _chosen(path, CATALOG_ENV))
    assert isinstance(found, DeviceCatalog)
    return found


def load_indications(path: str | Path | None = None) -> IndicationCatalog:
    """The active indications catalog: `path`, else $IDDS_INDICATIONS, else the shipped file."""
    found = _load(
        IndicationCatalog, "indications.toml", "--indications", "indications catalog", _chosen(path, INDICATIONS_ENV)
    )
    assert isinstance(found, IndicationCatalog)
    return found


def load_clinic_settings(path: str | Path | None = None) -> ClinicSettings:
    """The clinic's settings (name, time zone, phone numbers): `path`, else $IDDS_CLINIC_SETTINGS, else the shipped
    demo file (fictitious numbers, `demo = true`)."""
    found = _load(ClinicSettings, "clinic.toml", CLINIC_ENV, "clinic settings", _chosen(path, CLINIC_ENV))
    assert isinstance(found, ClinicSettings)
    return found
