# ceuskit — set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast bench lint typecheck clean system docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $(STAMP)

install: $(STAMP) system

# Debian packages the tests need (PostgreSQL server, chromium); skipped where they are already there.
system:
	bash scripts/install-system.sh

demo: $(STAMP)
	$(BIN)/ceuskit demo

# The tests, after the same checks as `make lint` (and the pre-commit hooks).
test: install
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser and not postgres and not pacs"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The documentation site, from scratch (its pages show results computed during the build), warnings as errors.
DOCS_GENERATED := docs/_generated docs/api/generated docs/auto_examples docs/sg_execution_times.rst
docs: $(STAMP)
	rm -rf build/docs $(DOCS_GENERATED)
	$(BIN)/python -m sphinx -W --keep-going -n -q -b html docs build/docs/html
	@echo "the site: build/docs/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(DOCS_GENERATED)
