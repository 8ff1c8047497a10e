"""Programmer calculations: pure functions, each returning its value and the assumptions it used."""

from openidds.calculations.bridge import (
    BridgeBolus,
    BridgePlan,
    BridgeRate,
    BridgeRule,
    bridge_bolus,
    bridge_plan,
    bridge_program,
    bridge_rate,
    bridge_rule,
)
from openidds.calculations.conversion import intrathecal_morphine_start
from openidds.calculations.dosing import doses_for_rate, rate_for_dose
from openidds.calculations.projection import Both, Projection, project, stability_limit
from openidds.calculations.reconcile import Reconciliation, ResidualEstimate, expected_residual, reconcile
from openidds.calculations.result import Calculated
from openidds.calculations.volumes import pathway_volume, priming_bolus, refill_volume

__all__ = [
    "Both",
    "BridgeBolus",
    "BridgePlan",
    "BridgeRate",
    "BridgeRule",
    "Calculated",
    "Projection",
    "Reconciliation",
    "ResidualEstimate",
    "bridge_bolus",
    "bridge_plan",
    "bridge_program",
    "bridge_rate",
    "bridge_rule",
    "doses_for_rate",
    "expected_residual",
    "intrathecal_morphine_start",
    "pathway_volume",
    "priming_bolus",
    "project",
    "rate_for_dose",
    "reconcile",
    "refill_volume",
    "stability_limit",
]
