# The two commands: `make demo` (the main job) and `make test` (the whole suite).
# Each bootstraps what it needs: .venv/ from requirements.lock, and for tests the Debian
# and npm packages and servers (scripts/bootstrap-system.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv system demo test lint typecheck unit bench lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

system:
	bash scripts/bootstrap-system.sh

demo: venv
	$(BIN)/vanguard demo

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy src tests $(wildcard bench/*.py)

unit: venv
	$(BIN)/pytest tests/unit -q

test: venv system lint typecheck
	$(BIN)/pytest -q

lock:
	$(BIN)/python -m pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
