"""Numbers with their sources, and guardrails (recommended vs absolute bounds) built from them."""

from openidds.evidence.cited import Basis, Cited, DataModel, QuantityField, Source, check_kind, walk_cited
from openidds.evidence.guardrail import Bound, Guardrail, Severity

__all__ = [
    "Basis",
    "Bound",
    "Cited",
    "DataModel",
    "Guardrail",
    "QuantityField",
    "Severity",
    "Source",
    "check_kind",
    "walk_cited",
]
