"""Build program files for tests from a base dictionary and overrides (dotted keys)."""

from __future__ import annotations

import copy
from typing import Any

import tomli_w

from openidds.data import load_catalog, load_library
from openidds.programfile import parse_program
from openidds.programs.program import PumpProgram

BASE: dict[str, Any] = {
    "pump": {"model": "programmable-40", "catheter": {"model": "intrathecal-one-piece", "length": "60 cm"}},
    "reservoir": {
        "filled_at": "2026-11-21T09:00",
        "timezone": "America/Chicago",
        "volume": "40 mL",
        "low_alarm": "2 mL",
    },
    "drugs": [{"name": "morphine", "concentration": "10 mg/mL"}],
    "program": {"mode": "continuous", "rate": "0.5 mL/day"},
    "context": {"care_area": "pain-noncancer", "opioid_naive": False},
}

BACLOFEN: dict[str, Any] = {
    "pump": {"model": "programmable-20"},
    "reservoir": {
        "filled_at": "2026-11-21T09:00",
        "timezone": "America/Chicago",
        "volume": "20 mL",
        "low_alarm": "4 mL",
    },
    "drugs": [{"name": "baclofen", "concentration": "500 mcg/mL"}],
    "program": {"mode": "continuous", "dose": "200 mcg/day"},
    "context": {"care_area": "spasticity-spinal"},
}

ZICONOTIDE: dict[str, Any] = {
    "pump": {"model": "programmable-20"},
    "reservoir": {
        "filled_at": "2026-11-21T09:00",
        "timezone": "America/Chicago",
        "volume": "20 mL",
        "low_alarm": "2 mL",
    },
    "drugs": [{"name": "ziconotide", "concentration": "25 mcg/mL"}],
    "program": {"mode": "continuous", "dose": "1.2 mcg/day"},
    "context": {"care_area": "pain-noncancer", "psychosis_history": False},
}


def document(base: dict[str, Any] = BASE, **overrides: Any) -> dict[str, Any]:
    """A copy of `base` with overrides like `program__rate="1 mL/day"` (None deletes the key)."""
    doc = copy.deepcopy(base)
    for key, value in overrides.items():
        *path, last = key.split("__")
        node = doc
        for part in path:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


def text(base: dict[str, Any] = BASE, **overrides: Any) -> str:
    return tomli_w.dumps(document(base, **overrides))


def program(base: dict[str, Any] = BASE, **overrides: Any) -> PumpProgram:
    return parse_program(text(base, **overrides), load_library(), load_catalog())
