import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.clinic_db import Clinic, clinic_fixture

# CI runs the same examples every time (a failure there is reproducible); locally Hypothesis explores freely.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(params=["sqlite", "postgresql"])
def clinic(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Clinic]:
    """The clinic service on SQLite, then on PostgreSQL: every test that uses it runs on both."""
    yield from clinic_fixture(request.param, tmp_path)
