"""Dose-error reduction: `check` turns a program into findings (hard, soft, info), each with its reason;
`bridge_findings` says when the pump cannot run the bridge bolus of a drug or concentration change."""

from openidds.safety.check import bridge_findings, check
from openidds.safety.findings import SEVERITY_RANK, Finding, worst_severity

__all__ = ["SEVERITY_RANK", "Finding", "bridge_findings", "check", "worst_severity"]
