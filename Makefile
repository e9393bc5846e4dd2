# Two commands on a fresh machine: `make reproduce` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONUNBUFFERED := 1

# Real data: make reproduce DATASET=casme2 DATA_ROOT=/path/to/CASME2
# More options: ARGS="--set models=[learnet] --set epochs=20" (any Config field), or --smoke.
DATASET ?=
DATA_ROOT ?=
ARGS ?=

.PHONY: reproduce test lint lab bench clean-results notebooks

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,offline]'
	touch $@

reproduce: $(STAMP)
	$(PY) -m mer_utils.reproduce $(if $(DATASET),--dataset $(DATASET)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(ARGS)

test: $(STAMP)
	$(PY) -m ruff check mer_utils tests benchmarks notebooks
	HF_HUB_OFFLINE=1 $(PY) -m pytest  # tests never reach a hub; make reproduce may

lint: $(STAMP)
	$(PY) -m ruff check mer_utils tests benchmarks notebooks
	$(PY) -m ruff format --check mer_utils tests benchmarks notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=.

bench: $(STAMP)
	$(PY) benchmarks/bench_dynamic_image.py

# The .py files (jupytext percent) are the reviewed source: rebuild the paired .ipynb from them
notebooks: $(STAMP)
	cd notebooks && for f in 0*.py; do ../$(VENV)/bin/jupytext --to ipynb --update --set-kernel python3 -q $$f; done
