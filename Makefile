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

LAB_ARGS ?=

.PHONY: reproduce test test-slurm lint lab bench clean-results notebooks hooks kernel lock install-locked opencv-swap

$(STAMP): pyproject.toml requirements-faces.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(MAKE) --no-print-directory opencv-swap
	$(PY) -m pip install -q -e '.[dev,offline,faces]'
	$(PY) -m pip install -q --no-deps -r requirements-faces.txt  # their metadata pins old torch
	$(MAKE) --no-print-directory hooks kernel
	touch $@

# The exact environment of the README's numbers (requirements.lock, beside pyproject's ranges):
# `make lock` pins what .venv holds; `make install-locked` builds .venv from the pins alone.
lock: $(STAMP)
	$(PY) .ci/lock.py > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock
	@echo "requirements.lock: $$(grep -c '==' requirements.lock) pinned distributions"

install-locked:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(MAKE) --no-print-directory opencv-swap
	$(PY) -m pip install -q --no-deps -r requirements.lock  # the whole closure, pinned
	$(PY) -m pip install -q --no-deps -e .
	$(MAKE) --no-print-directory hooks kernel
	touch $(STAMP)

# opencv-contrib-python-headless (TV-L1 flow) replaces the plain OpenCV wheels: each installs
# cv2/, so removing one of two breaks the other. A venv made before the switch drops every
# OpenCV wheel here; the install that follows brings contrib alone.
opencv-swap:
	@if $(PY) -m pip show -q opencv-python-headless opencv-python 2>/dev/null; then \
	  echo "replacing opencv-python(-headless) by opencv-contrib-python-headless"; \
	  $(PY) -m pip uninstall -q -y opencv-python-headless opencv-python opencv-contrib-python-headless; \
	fi

# Notebooks never land in git with outputs: nbstripout cleans every staged .ipynb (outputs,
# counts, language_info, widget state); the .py beside each stays the reviewed source.
hooks:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  $(VENV)/bin/nbstripout --install && \
	  git config filter.nbstripout.clean '"$(abspath $(PY))" -m nbstripout --keep-id' && \
	  git config filter.nbstripout.extrakeys "metadata.language_info metadata.widgets" && \
	  echo "nbstripout: git filter installed (outputs never land in git)"; \
	else echo "not a git checkout: no nbstripout filter installed"; fi

# The named kernel the notebooks' metadata ask for, visible to any Jupyter front end
kernel:
	@$(PY) -m ipykernel install --user --name mer_utils --display-name "Python (mer_utils)" >/dev/null
	@echo "kernel 'Python (mer_utils)' -> $(abspath $(PY))"

reproduce: $(STAMP)
	$(PY) -m mer_utils.reproduce $(if $(DATASET),--dataset $(DATASET)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(ARGS)

test: $(STAMP)
	$(PY) -m ruff check mer_utils tests benchmarks notebooks
	$(PY) -m ruff format --check mer_utils tests benchmarks notebooks
	HF_HUB_OFFLINE=1 $(PY) -m pytest  # tests never reach a hub; make reproduce may

# The sweep on a real SLURM cluster (tests/slurm; `make test` skips them): start one as root with
# .ci/slurm_up.sh (single node, accounting, Debian packages), or run them on your own cluster.
test-slurm: $(STAMP)
	MER_TEST_SLURM=1 HF_HUB_OFFLINE=1 $(PY) -m pytest tests/slurm

lint: $(STAMP)
	$(PY) -m ruff check mer_utils tests benchmarks notebooks
	$(PY) -m ruff format --check mer_utils tests benchmarks notebooks

# as root (containers) Lab needs --allow-root; extra flags: make lab LAB_ARGS="--port 9000"
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench_dynamic_image.py

# The .py files (jupytext percent) are the reviewed source: rebuild the paired .ipynb from them
notebooks: $(STAMP)
	$(VENV)/bin/python -m mer_utils.parameters --write
	cd notebooks && for f in 0*.py; do ../$(VENV)/bin/jupytext --to ipynb --update -q $$f; done
