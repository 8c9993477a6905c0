# Wharf — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LISTEN ?= 127.0.0.1:5000
DATA ?= ./data
URL ?= http://127.0.0.1:5000

.PHONY: install run test lint typecheck unit conformance bench bench-ha system-deps clean

# The virtualenv and the project (editable); re-run when pyproject.toml changes.
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# A link tree so mypy sees the `wharf.*` namespace exactly as the interpreter does.
	rm -rf $(VENV)/typecheck && mkdir -p $(VENV)/typecheck/wharf
	for p in registry storage auth gc db coord replication jobs webhook; do ln -s "$(CURDIR)/$$p" $(VENV)/typecheck/wharf/$$p; done
	touch $@

run: install
	$(BIN)/wharf serve --listen $(LISTEN) --data $(DATA)

# System packages the tests need (real clients, services); idempotent and quick when present.
system-deps:
	bash tests/system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy -p wharf.registry -p wharf.storage -p wharf.auth -p wharf.gc -p wharf.db -p wharf.coord -p wharf.replication -p wharf.jobs -p wharf.webhook
	$(BIN)/mypy conformance bench testbed

test: install system-deps lint typecheck
	$(BIN)/pytest -q -ra tests

unit: install
	$(BIN)/pytest -q -ra tests -m 'not e2e and not services and not slow'

conformance: install
	$(BIN)/python -m conformance --url $(URL)

bench: install system-deps
	$(BIN)/python -m bench

# Replicas behind HAProxy on PostgreSQL + Redis, 1 then 3 of them (bench/README.md, "HA")
bench-ha: install system-deps
	$(BIN)/python -m bench.ha

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
