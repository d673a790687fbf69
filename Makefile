# One entry point for developers and CI alike. `make run` and `make test`
# set up everything they need on a fresh machine (Python >= 3.11 required).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Install kubegate and check the bundled example manifests with the built-in library.
## Exit status 1 from kubegate means "violations found", which is the point of the demo.
run: $(STAMP)
	$(BIN)/kubegate check examples/manifests --parameters examples/parameters.yaml --policies examples/policies \
		|| [ $$? -eq 1 ]

## Everything CI runs: lint, types, import layers, the whole test suite.
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/kubegate

unit: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
