# Two commands on a fresh machine: `make reproduce` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export PYTHONUNBUFFERED := 1

# Real data: make reproduce DATASET=casme2 DATA_ROOT=/path/to/CASME2
DATASET ?=
DATA_ROOT ?=

.PHONY: reproduce test lint lab bench clean-results

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

reproduce: $(STAMP)
	$(PY) -m mer_utils.reproduce $(if $(DATASET),--dataset $(DATASET)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

test: $(STAMP)
	$(PY) -m ruff check mer_utils tests benchmarks notebooks
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check mer_utils tests benchmarks notebooks
	$(PY) -m ruff format --check mer_utils tests benchmarks notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=.

bench: $(STAMP)
	$(PY) benchmarks/bench_dynamic_image.py
