# Two commands for a fresh clone: `make demo` (whole workflow on the embedded demo dataset) and
# `make test` (the test suite). Both create .venv and install the pinned dependencies once.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stpath-installed
CORES ?= all

# Every pip call honours the lock file; nothing is fetched from a model hub at run time.
export PIP_CONSTRAINT := $(CURDIR)/requirements.lock
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export HF_HUB_OFFLINE := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test test-fast lint bench unlock clean check-envs

$(STAMP): requirements.in requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.in
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/snakemake --workflow-profile workflow/profiles/demo --cores $(CORES)
	@if [ ! -f results/report.html ] || [ -n "$$(find results/demo -newer results/report.html -print -quit)" ]; then \
		$(BIN)/snakemake --report results/report.html; \
	else echo "results/report.html is up to date"; fi

test: install
	$(BIN)/python -m pytest tests

# The tests that run no Snakemake job and spawn no training process (pytest marker `workflow`).
test-fast: install
	$(BIN)/python -m pytest -m "not workflow" tests

# Each step's conda env installed for real through pip in a fresh virtualenv (its pip section, the
# lock as constraints), then every module its scripts import imported. Not part of `make test`.
check-envs: install
	$(BIN)/python -m tools.envinstall

# After a killed run (kill -9, power cut): removes Snakemake's stale lock, refusing while a run is
# still alive in this directory. Pass the run's options: make unlock ARGS="--configfile config/her2st.yaml"
unlock: install
	$(BIN)/python -m tools.unlock $(ARGS)

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python -m tools.bench.patch_extraction
	$(BIN)/python -m tools.bench.deconvolution
	$(BIN)/python -m tools.bench.cuca
	$(BIN)/python -m tools.bench.wholeslide

clean:
	rm -rf results/demo results/report.html resources/demo logs benchmarks .snakemake
