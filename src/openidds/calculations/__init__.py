"""Programmer calculations: pure functions, each returning its value and the assumptions it used."""

from openidds.calculations.conversion import intrathecal_morphine_start
from openidds.calculations.dosing import doses_for_rate, rate_for_dose
from openidds.calculations.projection import Both, Projection, project, stability_limit
from openidds.calculations.reconcile import Reconciliation, ResidualEstimate, expected_residual, reconcile
from openidds.calculations.result import Calculated
from openidds.calculations.volumes import BridgeBolus, bridge_bolus, priming_bolus, refill_volume

__all__ = [
    "Both",
    "BridgeBolus",
    "Calculated",
    "Projection",
    "Reconciliation",
    "ResidualEstimate",
    "bridge_bolus",
    "doses_for_rate",
    "expected_residual",
    "intrathecal_morphine_start",
    "priming_bolus",
    "project",
    "rate_for_dose",
    "reconcile",
    "refill_volume",
    "stability_limit",
]
