# Two commands from a fresh clone: `make up` runs the whole stack, `make test` the suite.
# Each first installs (as root, with apt-get) or asks for the system packages it needs
# (tools/ensure-system-deps), then bootstraps .venv from requirements-dev.lock (and npm tools).
SHELL := /bin/bash
PYTHON ?= python3
export PYTHON
# Debian puts haproxy and pgbouncer in /usr/sbin, which is not on a normal user's PATH.
export PATH := $(PATH):/usr/sbin:/sbin
DEPS := tools/ensure-system-deps
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BUF := node_modules/.bin/buf
# What `make lint` checks the contract against for breaking changes (e.g. '.git#ref=HEAD~1').
BREAKING_AGAINST ?= .git\#branch=main

.PHONY: install up serve test oracle gen lint format bench lock clean

install:
	@$(DEPS) install
	@$(MAKE) --no-print-directory $(INSTALLED) $(BUF)

$(INSTALLED): pyproject.toml requirements-dev.lock
	@$(DEPS) up
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(BUF): package.json
	@$(DEPS) install
	npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

up: $(INSTALLED)
	$(BIN)/python -m bridge.stack

serve: $(INSTALLED)
	$(BIN)/throttling-sequencer serve

# System packages first: a missing one stops the run before any bootstrap or test.
test:
	@$(DEPS) test
	@$(MAKE) --no-print-directory $(INSTALLED) $(BUF)
	$(BIN)/pytest $(PYTEST_ARGS)
	ORACLE_EXAMPLES=5 $(BIN)/pytest -m oracle tests/unit/planners $(PYTEST_ARGS)

# The exact planner against the reference MILP on random problems, new draws each run: the full
# sweep (`make test` runs 5 new problems per test of it).
oracle: $(INSTALLED)
	$(BIN)/pytest -m oracle tests/unit/planners $(PYTEST_ARGS)

# gen/ from proto/ (Python, TypeScript, descriptor, OpenAPI, Envoy's Kubernetes ConfigMap) and the
# pages Envoy serves (/ui bundled by esbuild, /docs with Redoc's bundle): all committed, so `make up`
# needs no Node. protoc-gen-swagger comes from Debian's golang-grpc-gateway; without it this stops
# with the command to install it.
gen: $(INSTALLED) $(BUF)
	@$(DEPS) install
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
