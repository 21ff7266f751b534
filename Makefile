# STEDI lakehouse. `make demo` and `make test` are all a newcomer needs; both set up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# uv installs the locked packages of uv.lock; it comes from PyPI, pinned, into its own folder.
UV_VERSION := 0.13.9
UV := .cache/uv/bin/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
JARS := .cache/jars
DEMO_LAKE := lake
DEMO_CUSTOMERS ?= 1000
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: help setup lock snapshot demo demo-s3 test test-all lint docs sql erase ui bench bench-large bench-huge bench-ui profile clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(JARS)/.resolved $(DAGSTER_HOME)/dagster.yaml ## Virtualenv, Python packages, JVM jars

$(UV):
	$(PYTHON) -m venv .cache/uv
	.cache/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Exactly the versions of uv.lock (`--frozen`); `make lock` updates it after pyproject.toml.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON) --quiet
	touch $@

lock: $(UV) ## Re-resolve uv.lock after a change to pyproject.toml's dependencies
	$(UV) lock --python $(PYTHON)

# Maven resolves the jars of jvm/pom.xml once into $(JARS); Spark then loads them offline.
$(JARS)/.resolved: jvm/pom.xml
	rm -rf $(JARS)
	mvn --batch-mode --quiet --file jvm/pom.xml dependency:copy-dependencies \
		-DoutputDirectory=$(CURDIR)/$(JARS)
	touch $@

# The UI tests drive Debian's Chromium (Playwright's own browser download does not work here).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# Dagster's storage records runs and their metadata: its folder is the owner's alone.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p -m 700 $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: setup ## Deletes and rebuilds ./lake: 1,000 sample customers, every asset, a summary (about 1 min)
	rm -rf $(DEMO_LAKE)
	$(BIN)/stedi sample-data --customers $(DEMO_CUSTOMERS) --seed 42 --out $(DEMO_LAKE)
	STEDI_LAKE=$(DEMO_LAKE) $(BIN)/stedi materialize
	STEDI_LAKE=$(DEMO_LAKE) $(BIN)/stedi summary

demo-s3: setup ## The demo on a local S3-compatible server (moto), with the Glue catalog
	$(BIN)/stedi demo-s3 --customers $(DEMO_CUSTOMERS) --seed 42

test: setup lint ## Lint, the docs, every contract rule, the reference, the CLI, one end-to-end run: 6 to 12 min
	$(BIN)/pytest -m "not slow"

test-all: setup $(CHROMIUM) lint ## Every test, the system tier too (UI in Chromium, daemon, cluster, S3, Spark Connect): what CI runs
	$(BIN)/pytest

docs: setup ## Build the docs site strictly into ./site (a broken link fails)
	$(BIN)/mkdocs build --strict --site-dir site

lint: setup ## ruff check and format check, and dg check defs (the definitions load)
	$(BIN)/ruff check stedi_assets stedi_assets_tests benchmarks
	$(BIN)/ruff format --check stedi_assets stedi_assets_tests benchmarks
	$(BIN)/dg check defs

bench: setup ## The project (cold; warm on Spark Connect; after new files) vs bare PySpark vs DuckDB at 1x and 10x
	$(BIN)/python benchmarks/run.py --sizes 1 10 --repeats 1 --warm --increment

bench-ui: setup ## Under `make ui` on the demo lake: seconds from new files to machine_learning_curated, 5 rounds
	$(BIN)/python benchmarks/run_ui.py --rounds 5

profile: setup ## Where one full run's time goes: per asset, wall s, Spark jobs, s in jobs, checks, writes
	$(BIN)/python benchmarks/run_profile.py

bench-large: setup ## The same at 1x and 120x as two large files per source, and one 2.5 GiB file
	$(BIN)/python benchmarks/run.py --sizes 1 120 --repeats 1 --increment --large-files --giant-file-gb 2.5

bench-huge: setup ## 1x, 10x, 120x and a million customers (1000x, 17 GB of JSON): full build, exactness against DuckDB, fixed changes, plain PySpark (about 80 min)
	$(BIN)/python benchmarks/run_huge.py --sizes 1 10 120 1000

snapshot: setup ## Rewrite the asset graph's snapshot (what the UI shows) after an intended change
	$(BIN)/python -m stedi_assets_tests.asset_graph_snapshot

sql: setup ## Spark SQL over STEDI_LAKE, tables by asset name: make sql Q="select ..."
	@test -n "$(Q)" || { echo 'usage: make sql Q="select count(*) from customer_trusted"' >&2; exit 2; }
	$(BIN)/stedi sql "$(Q)"

erase: setup ## Erase a customer from every zone (needs STEDI_ERASURE_SALT): make erase EMAIL=ann@example.com [NOW=1]
	@test -n "$(EMAIL)" || { echo 'usage: make erase EMAIL=ann@example.com [NOW=1]' >&2; exit 2; }
	$(BIN)/stedi erase "$(EMAIL)" $(if $(NOW),--vacuum-now)

ui: setup ## Dagster UI (dg dev) on http://127.0.0.1:3000 over STEDI_LAKE, runs on a warm Spark Connect server
	$(BIN)/stedi ui --port 3000

clean: ## Remove the demo lake, Dagster's local state and caches (keeps .venv and jars)
	rm -rf $(DEMO_LAKE) $(DAGSTER_HOME) .pytest_cache .ruff_cache spark-warehouse site
