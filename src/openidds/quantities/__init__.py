"""Exact quantities with units: mass, volume, time, length and their ratios.

Magnitudes are `Fraction`s, so nothing drifts: ten years of delivery is as exact as one minute.
"""

from openidds.quantities.units import (
    CONCENTRATION,
    DIMENSIONLESS,
    DOSE_RATE,
    LENGTH,
    MASS,
    RATE,
    TIME,
    VOLUME,
    VOLUME_PER_LENGTH,
    Kind,
    Quantity,
    Unit,
    format_ml,
    format_number,
    parse_quantity,
    unit,
)

__all__ = [
    "CONCENTRATION",
    "DIMENSIONLESS",
    "DOSE_RATE",
    "LENGTH",
    "MASS",
    "RATE",
    "TIME",
    "VOLUME",
    "VOLUME_PER_LENGTH",
    "Kind",
    "Quantity",
    "Unit",
    "format_ml",
    "format_number",
    "parse_quantity",
    "unit",
]
