# Two commands for a new user: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-browser lint typecheck unit bench bench-twin bench-fleet bench-dashboard bench-planner clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed

# The clinic service on 127.0.0.1:8000 with a demo clinic (seeded once, into a fresh database); Ctrl+C stops it.
run: $(VENV)/.installed
	$(BIN)/idds serve --demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest -q

test: lint typecheck unit

# Only the browser tests (Playwright with Debian's /usr/bin/chromium; `make test` runs them too): fail, not skip,
# when the browser is missing. Screenshots in test-output/browser/. The accessibility audit uses the axe-core
# committed in tests/vendor/axe-core/ (no npm needed).
test-browser: $(VENV)/.installed-test
	IDDS_REQUIRE_BROWSER=1 $(BIN)/pytest -q tests/test_browser.py tests/test_accessibility.py

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/projection.py
	$(BIN)/python benchmarks/twin_throughput.py

# The twin's pump-year against its references (SimPy comes with the test extras).
bench-twin: $(VENV)/.installed-test
	$(BIN)/python benchmarks/twin_throughput.py

# A 10,000 pump-year fleet study on 2 workers against the 30 s target.
bench-fleet: $(VENV)/.installed
	$(BIN)/python benchmarks/fleet.py --patients 2000 --years 5 --workers 2

# The clinic dashboard for 5,000 patients with two years of history, SQLite and PostgreSQL (127.0.0.1:5432, or
# $$IDDS_BENCH_POSTGRES_URL), served by uvicorn in one process and loaded from another, against p99 ≤ 100 ms.
bench-dashboard: $(VENV)/.installed-test
	$(BIN)/python benchmarks/dashboard.py

# The refill planner on a synthetic clinic of 5,000 patients over 26 weeks, full capacity and a tenth removed:
# CP-SAT's time, visits against the earliest-deadline-first greedy, patients past their latest safe day.
bench-planner: $(VENV)/.installed-test
	$(BIN)/python benchmarks/planner.py --patients 5000 --weeks 26

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
