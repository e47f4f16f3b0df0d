# Two commands do all set-up on a fresh machine:
#   make run    - install, then run the default sweep (sweeps/digits_cnn.yaml) end to end
#   make test   - install (incl. test servers), then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SWEEP ?= sweeps/digits_cnn.yaml

.PHONY: run test test-fast lint install system-deps clean

$(STAMP): pyproject.toml .ci/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e ".[test,gp,jax]"
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash .ci/system-deps.sh

run: $(STAMP)
	$(BIN)/hpo run $(SWEEP)

# The gate: lint, format and types of the package (src/), before any test runs.
lint: $(STAMP)
	$(BIN)/ruff check src
	$(BIN)/ruff format --check src
	$(BIN)/mypy

# The whole suite after the gate. Two xdist workers, a file's tests in one of them one at a time:
# the suite waits on Ray starts and subprocesses much of its time, so two workers overlap it; more
# workers only slow the CPU-bound tests (four: 16.5 min against 15-16). The files marked with an
# xdist_group (`ray start` clusters, modules that start one Ray or run one sweep for all their
# tests) must stay in one worker under any other distribution too. The 25 slowest tests close the
# log: where the suite's minutes go, run after run.
test: lint system-deps
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

# No Ray, no training, no framework import in the test process (tests/conftest.py enforces it),
# no sweep-running subprocess, no wall-clock assertion.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
