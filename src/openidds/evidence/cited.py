"""A number is never bare in our data: it carries its source, its basis and whether it is confirmed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from openidds.quantities import Kind, Quantity, parse_quantity

# label: regulatory labeling; consensus: PACC or similar panel; literature: a study or institutional protocol;
# derived: computed from cited facts; policy: an OpenIDDS default where no source gives a number (review locally).
Basis = Literal["label", "consensus", "literature", "derived", "policy"]


def _to_quantity(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    return parse_quantity(value)


QuantityField = Annotated[Quantity, BeforeValidator(_to_quantity), PlainSerializer(str, return_type=str)]


class DataModel(BaseModel):
    """Strict base for data files: unknown keys are errors (a typo must never be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Source(DataModel):
    title: str
    url: str


class Cited(DataModel):
    value: QuantityField
    source: str
    basis: Basis
    unconfirmed: bool = False
    note: str = ""

    @property
    def marker(self) -> str:
        return " [U]" if self.unconfirmed else ""

    def describe(self, symbol: str | None = None) -> str:
        """E.g. '15 mg/day (consensus, pacc-2012 [U])'."""
        shown = self.value.format(symbol) if symbol else str(self.value)
        return f"{shown} ({self.basis}, {self.source}{self.marker})"


def check_kind(cited: Cited | None, kind: Kind, where: str) -> None:
    if cited is not None and not cited.value.is_kind(kind):
        raise ValueError(f"{where}: expected {kind.describe()}, got '{cited.value}'")


def walk_cited(node: object, path: str = "") -> Iterator[tuple[str, Cited]]:
    """Every Cited value inside a data model, with its dotted path (for source checks and audits)."""
    if isinstance(node, Cited):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from walk_cited(getattr(node, name), f"{path}.{name}" if path else name)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from walk_cited(value, f"{path}.{key}")
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from walk_cited(value, f"{path}[{i}]")
