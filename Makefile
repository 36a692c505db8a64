# miljo: the two commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MILJO_HOME ?= $(CURDIR)/.demo-home

.PHONY: setup demo test test-pg lint typecheck unit bench bench-quick clean docs

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "miljo needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

demo: setup
	$(BIN)/miljo demo --replace

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q tests/unit

# Two pytest-xdist workers (each test has its own tmp_path, MILJO_HOME and PostgreSQL schema),
# a module (or class) per worker so module-scoped stores are built once;
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadscope

test: lint typecheck
	$(BIN)/pytest -q $(XDIST)

# Only the PostgreSQL tests, against a private throw-away cluster (scripts/pg-cluster; needs
# the PostgreSQL server package). `make test` runs them too when MILJO_TEST_POSTGRES_URL is set.
test-pg: setup
	@cluster_env=$$(scripts/pg-cluster start) && eval "$$cluster_env" && \
	trap 'scripts/pg-cluster stop "$$MILJO_PG_CLUSTER"' EXIT && \
	MILJO_REQUIRE_POSTGRES=1 $(BIN)/pytest -q $(XDIST) -m postgres

docs: setup
	$(BIN)/python -m cli.docgen > docs/cli.md

# The benchmark measures on PostgreSQL too: the server of MILJO_BENCH_POSTGRES_URL or
# MILJO_TEST_POSTGRES_URL, else a private cluster (scripts/pg-cluster) started for the run and
# stopped after it; without the server package its PostgreSQL rows say n/a.
bench: setup
	@if [ -z "$$MILJO_BENCH_POSTGRES_URL$$MILJO_TEST_POSTGRES_URL" ] && \
	    cluster_env=$$(scripts/pg-cluster start); then \
	  eval "$$cluster_env"; \
	  trap 'scripts/pg-cluster stop "$$MILJO_PG_CLUSTER"' EXIT; trap 'exit 130' INT TERM; \
	fi; \
	$(BIN)/python -m bench.run

bench-quick: setup
	@if [ -z "$$MILJO_BENCH_POSTGRES_URL$$MILJO_TEST_POSTGRES_URL" ] && \
	    cluster_env=$$(scripts/pg-cluster start); then \
	  eval "$$cluster_env"; \
	  trap 'scripts/pg-cluster stop "$$MILJO_PG_CLUSTER"' EXIT; trap 'exit 130' INT TERM; \
	fi; \
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .demo-home .mypy_cache .pytest_cache .ruff_cache .hypothesis
