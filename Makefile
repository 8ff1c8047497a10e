# Two commands for a new user: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit bench bench-twin bench-fleet clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/idds demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/projection.py
	$(BIN)/python benchmarks/twin_throughput.py

# The twin's pump-year against its references (SimPy comes with the test extras).
bench-twin: $(VENV)/.installed-test
	$(BIN)/python benchmarks/twin_throughput.py

# A 10,000 pump-year fleet study on 2 workers against the 30 s target.
bench-fleet: $(VENV)/.installed
	$(BIN)/python benchmarks/fleet.py --patients 2000 --years 5 --workers 2

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
