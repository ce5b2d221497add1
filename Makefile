# Two commands from a fresh clone: `make up` runs the whole stack, `make test` the suite.
# Each bootstraps .venv from requirements-dev.lock (and buf from package-lock.json) first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BUF := node_modules/.bin/buf
# What `make lint` checks the contract against for breaking changes (e.g. '.git#ref=HEAD~1').
BREAKING_AGAINST ?= .git\#branch=main

.PHONY: install up serve test gen lint format bench lock clean

install: $(INSTALLED) $(BUF)

$(INSTALLED): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11+ is required; run with PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(BUF): package.json
	npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

up: $(INSTALLED)
	$(BIN)/python -m bridge.stack

serve: $(INSTALLED)
	$(BIN)/throttling-sequencer serve

test: $(INSTALLED) $(BUF)
	$(BIN)/pytest $(PYTEST_ARGS)

gen: $(INSTALLED)
	$(BIN)/python tools/generate.py

lint: $(INSTALLED) $(BUF)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BUF) lint
	$(BUF) breaking --against '$(BREAKING_AGAINST)'

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `make bench BENCH_ARGS=--soak` adds the 10-minute soak; `BENCH_ARGS=--quick` is about a minute.
BENCH_ARGS ?=
bench: $(INSTALLED)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules .data .pytest_cache .mypy_cache .ruff_cache

# Re-resolve requirements-dev.lock after changing dependencies in pyproject.toml.
lock: $(INSTALLED)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --extra edge --python-version 3.11 --no-header -o requirements.lock
