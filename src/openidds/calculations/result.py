from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Calculated(Generic[T]):
    """A computed value and the assumptions behind it, in words a clinician can check."""

    value: T
    assumptions: tuple[str, ...] = ()
