from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openidds.evidence import Cited, Severity

SEVERITY_RANK: dict[Severity, int] = {"info": 0, "soft": 1, "hard": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the care team must know about a program.

    hard: it cannot be programmed. soft: it needs a recorded override reason. info: read it.
    `code` is stable (e.g. `daily-dose.hard-max`): its family is the part before the dot.
    """

    severity: Severity
    code: str
    message: str
    limit: Cited | None = None
    source_url: str = ""

    @property
    def family(self) -> str:
        return self.code.split(".", 1)[0]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "message": self.message}
        if self.limit is not None:
            out["limit"] = {
                **self.limit.value.as_json(),
                "source": self.limit.source,
                "source_url": self.source_url,
                "basis": self.limit.basis,
                "unconfirmed": self.limit.unconfirmed,
            }
        return out


def worst_severity(findings: Iterable[Finding]) -> Severity | None:
    ranked = sorted(findings, key=lambda f: SEVERITY_RANK[f.severity], reverse=True)
    return ranked[0].severity if ranked else None
