"""The drug library: per drug and care area, soft and hard limits, each number with its source."""

from openidds.drugs.library import (
    CARE_AREAS,
    CareArea,
    CareAreaLimits,
    Caution,
    Drug,
    DrugLibrary,
    Formulation,
    GranulomaRisk,
    OralConversion,
    Stability,
    Titration,
    TitrationRule,
    WithdrawalRisk,
)

__all__ = [
    "CARE_AREAS",
    "CareArea",
    "CareAreaLimits",
    "Caution",
    "Drug",
    "DrugLibrary",
    "Formulation",
    "GranulomaRisk",
    "OralConversion",
    "Stability",
    "Titration",
    "TitrationRule",
    "WithdrawalRisk",
]
