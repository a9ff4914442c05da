# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
INTEROP := tests/interop
BROWSER := tests/browser

.PHONY: run test test-unit lint fmt typecheck bench install install-test interop-deps browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

install-test: $(TEST_STAMP)

interop-deps:
	@if [ -f $(INTEROP)/package-lock.json ]; then \
		npm ci --prefix $(INTEROP) --no-audit --no-fund --loglevel=error; fi

# The Tiptap page of tests/browser: pinned packages, bundled with esbuild into dist/.
browser-deps:
	@if [ -f $(BROWSER)/package-lock.json ]; then \
		npm ci --prefix $(BROWSER) --no-audit --no-fund --loglevel=error && \
		npm run --prefix $(BROWSER) --silent build; fi

run: $(STAMP)
	$(BIN)/ua serve

test: $(TEST_STAMP) interop-deps browser-deps
	$(BIN)/pytest

test-unit: $(TEST_STAMP)
	$(BIN)/pytest tests/unit

lint: $(TEST_STAMP)
	$(BIN)/ruff check server collab ai storage tests bench
	$(BIN)/ruff format --check server collab ai storage tests bench

fmt: $(TEST_STAMP)
	$(BIN)/ruff format server collab ai storage tests bench
	$(BIN)/ruff check --fix server collab ai storage tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

bench: $(TEST_STAMP) interop-deps
	$(BIN)/python -m bench.smoke

clean:
	rm -rf $(VENV) $(INTEROP)/node_modules $(BROWSER)/node_modules $(BROWSER)/dist
