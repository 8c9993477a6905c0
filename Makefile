# Wharf — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LISTEN ?= 127.0.0.1:5000
DATA ?= ./data
URL ?= http://127.0.0.1:5000

.PHONY: install run test lint typecheck unit conformance bench bench-ha system-deps clean ui ui-test

# The web UI (ui/, Node.js + npm): its packages when the lockfile changed, its build when a
# source changed or ui/dist is missing. `wharf serve` serves ui/dist at /.
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json
ui: ui/dist/index.html
ui/node_modules/.installed: ui/package.json ui/package-lock.json
	@command -v npm >/dev/null || { echo "the web UI needs Node.js 20+ and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	cd ui && npm ci --no-audit --no-fund
	touch $@
ui/dist/index.html: ui/node_modules/.installed $(UI_SOURCES)
	cd ui && npm run build
	touch $@

# the UI's component and unit tests (vitest); the browser tests run in pytest
# (tests/test_ui_browser.py)
ui-test: ui
	cd ui && npm test

# The virtualenv and the project (editable); re-run when pyproject.toml changes.
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# A link tree so mypy sees the `wharf.*` namespace exactly as the interpreter does.
	rm -rf $(VENV)/typecheck && mkdir -p $(VENV)/typecheck/wharf
	for p in registry storage auth gc db coord replication jobs webhook proxy; do ln -s "$(CURDIR)/$$p" $(VENV)/typecheck/wharf/$$p; done
	touch $@

run: install ui
	$(BIN)/wharf serve --listen $(LISTEN) --data $(DATA)

# System packages the tests need (real clients, services); idempotent and quick when present.
system-deps:
	bash tests/system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy -p wharf.registry -p wharf.storage -p wharf.auth -p wharf.gc -p wharf.db -p wharf.coord -p wharf.replication -p wharf.jobs -p wharf.webhook -p wharf.proxy
	$(BIN)/mypy conformance bench testbed

# pytest on two xdist workers: one work unit per test file, the long mostly waiting ones
# (browser, e2e clients, HA topologies) first, files that share a machine resource together
# (tests/conftest.py, "running on two workers")
test: install system-deps lint typecheck ui-test
	$(BIN)/pytest -q -ra -n 2 --dist loadgroup tests

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
