"""Fleet studies: a synthetic clinic population run through the pump twin under a refill policy."""

from openidds.fleet.policy import DEFAULT_POLICY, Planner, Policy, parse_policy
from openidds.fleet.study import (
    MAX_YEARS,
    Figures,
    FleetReport,
    Outcome,
    Patient,
    Scripted,
    Visit,
    run_fleet,
    simulate_patient,
)

__all__ = [
    "DEFAULT_POLICY",
    "MAX_YEARS",
    "Figures",
    "FleetReport",
    "Outcome",
    "Patient",
    "Planner",
    "Policy",
    "Scripted",
    "Visit",
    "parse_policy",
    "run_fleet",
    "simulate_patient",
]
