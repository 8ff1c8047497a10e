import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests import openapi_check
from tests.clinic_db import Clinic, clinic_fixture

# Every API response any TestClient sees is checked against the app's OpenAPI schema (tests/openapi_check.py).
openapi_check.install()

# CI runs the same examples every time (a failure there is reproducible); locally Hypothesis explores freely.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(params=["sqlite", "postgresql"])
def clinic(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Clinic]:
    """The clinic service on SQLite, then on PostgreSQL: every test that uses it runs on both."""
    yield from clinic_fixture(request.param, tmp_path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in openapi_check.summary():
        terminalreporter.write_line(line)
