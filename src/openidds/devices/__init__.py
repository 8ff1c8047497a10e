"""The device catalog: generic pump and catheter models, every figure with its source."""

from openidds.devices.catalog import (
    Battery,
    BatteryLifePoint,
    CatheterModel,
    DeviceCatalog,
    Family,
    Mode,
    PumpModel,
)

__all__ = ["Battery", "BatteryLifePoint", "CatheterModel", "DeviceCatalog", "Family", "Mode", "PumpModel"]
