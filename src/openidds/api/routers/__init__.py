"""The REST API under /api/v1, one router per concept. Thin: validate, call one use case, shape the answer."""

from fastapi import APIRouter

from openidds.api.routers import (
    appointments,
    audit,
    auth,
    calendars,
    clinic,
    notifications,
    pathway,
    patients,
    planning,
    printing,
    programs,
    records,
    refills,
)

router = APIRouter()
for _module in (
    auth,
    patients,
    pathway,
    programs,
    refills,
    clinic,
    appointments,
    planning,
    printing,
    notifications,
    calendars,
    audit,
    records,
):  # records last: its path is generic
    router.include_router(_module.router)
