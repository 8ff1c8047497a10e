"""The shipped drug library and device catalog, and loading a clinic's own files instead (edge: file I/O)."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

from openidds.devices import DeviceCatalog
from openidds.drugs import DrugLibrary
from openidds.errors import InputError

LIBRARY_ENV = "IDDS_DRUG_LIBRARY"
CATALOG_ENV = "IDDS_DEVICE_CATALOG"


def _read(path: str | Path, field: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(field, f"cannot read '{path}' ({exc.strerror or exc})") from None


@lru_cache(maxsize=8)
def _library(path: str | None) -> DrugLibrary:
    if path is None:
        data = resources.files("openidds.data").joinpath("drugs.toml").read_bytes()
        return DrugLibrary.from_toml(data, "shipped drug library")
    return DrugLibrary.from_toml(_read(path, "--library"), f"drug library {path}")


@lru_cache(maxsize=8)
def _catalog(path: str | None) -> DeviceCatalog:
    if path is None:
        data = resources.files("openidds.data").joinpath("devices.toml").read_bytes()
        return DeviceCatalog.from_toml(data, "shipped device catalog")
    return DeviceCatalog.from_toml(_read(path, "--catalog"), f"device catalog {path}")


def load_library(path: str | Path | None = None) -> DrugLibrary:
    """The active drug library: `path`, else $IDDS_DRUG_LIBRARY, else the shipped file."""
    chosen = path or os.environ.get(LIBRARY_ENV) or None
    return _library(str(chosen) if chosen else None)


def load_catalog(path: str | Path | None = None) -> DeviceCatalog:
    """The active device catalog: `path`, else $IDDS_DEVICE_CATALOG, else the shipped file."""
    chosen = path or os.environ.get(CATALOG_ENV) or None
    return _catalog(str(chosen) if chosen else None)
