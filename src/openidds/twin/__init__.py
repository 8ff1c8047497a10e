"""The pump digital twin: an exact, deterministic, event-driven simulation of one implanted pump."""

from openidds.twin.events import (
    AccuracyChange,
    CatheterFault,
    CatheterRepair,
    ClinicianBolus,
    Event,
    Interrogation,
    MotorStall,
    MriExposure,
    ProgramChange,
    Refill,
    RemoteRequest,
)
from openidds.twin.pump import PumpTwin
from openidds.twin.records import Alarm, Decision

__all__ = [
    "AccuracyChange",
    "Alarm",
    "CatheterFault",
    "CatheterRepair",
    "ClinicianBolus",
    "Decision",
    "Event",
    "Interrogation",
    "MotorStall",
    "MriExposure",
    "ProgramChange",
    "PumpTwin",
    "Refill",
    "RemoteRequest",
]
