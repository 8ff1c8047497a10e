"""Dose-error reduction: `check` turns a program into findings (hard, soft, info), each with its reason."""

from openidds.safety.check import check
from openidds.safety.findings import SEVERITY_RANK, Finding, worst_severity

__all__ = ["SEVERITY_RANK", "Finding", "check", "worst_severity"]
