# Two commands on a fresh machine with only python3: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test check lint js-test services clean secret-scan-history soak

$(BIN)/python:
	@scripts/ensure-venv $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

## serve: install, migrate and serve http://$(HOST):$(PORT) on the embedded default
serve: $(VENV)/.installed
	$(BIN)/rooms serve --host $(HOST) --port $(PORT)

## services: install PostgreSQL, Redis, Chromium, Node.js and espeak-ng (Debian, root) for the services tier and page tests
services:
	@scripts/install-services --chromium

## lint: ruff and mypy, as CI runs them
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests migrations benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/secret-scan

## secret-scan-history: every blob in the git history, against .secrets.baseline
secret-scan-history: $(VENV)/.dev-installed
	$(BIN)/python scripts/secret-scan --history

## js-test: the kiosk's pure ES modules under node --test (Debian nodejs)
js-test: services
	@command -v node >/dev/null || { echo "rooms: node is missing (apt-get install nodejs)"; exit 1; }
	node --test tests/js/*.test.mjs

## test: lint, the kiosk's JS modules, then the whole suite in both tiers (embedded, then services)
test: $(VENV)/.dev-installed services lint js-test
	$(BIN)/pytest

## soak: one `rooms serve` under 1,000 websockets, 20 uploads/s, 50 pool/next/s (not in CI)
## (SOAK_ARGS="--kiosks 50 --trace 6 --malloc-trim": see benchmarks/soak.py)
SOAK_MINUTES ?= 10
SOAK_ARGS ?=
soak: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/soak.py --minutes $(SOAK_MINUTES) --json soak-report.json $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
