# Two commands on a fresh machine with only Python >= 3.11:
#   make run    create .venv, install, run the pipeline on ml-latest-small
#   make test   create .venv if needed, install, run the test suite
#   make prefect / make prefect-stop   the Prefect server, pool, deployments and worker
# Everything the project writes (virtualenv, data cache, warehouse, outputs, PREFECT_HOME)
# stays in ignored folders inside the project.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: on a machine that has the CPU wheel locally pip takes it; elsewhere PyPI's.
TORCH_SPEC ?= torch==2.13.0
DATASET ?= ml-latest-small
SOURCE ?= $(REELGRAPH_SOURCE)
ARGS ?=
# The suite runs on this many pytest-xdist processes (its tests wait on servers and
# subprocesses much of the time, so two cores take two): TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: install run test lint bench clean prefect prefect-stop

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: install
	$(BIN)/reelgraph run --dataset $(DATASET) $(if $(SOURCE),--source $(SOURCE)) $(ARGS)

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(ARGS)

# Prefect server + work pool + deployments + worker for the scheduled runs (UI on :4200).
prefect: install
	$(BIN)/reelgraph server up

prefect-stop: install
	$(BIN)/reelgraph server down

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) .prefect .state outputs data
