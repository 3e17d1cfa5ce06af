# Two commands: `make dev` serves Mentorly with a local Clerk emulator; `make test` runs the suite.
# Both create .venv and install the project (from pyproject.toml) on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test install bench migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m mentorly.dev

# pytest-xdist workers: one per core, plus one, as tests spend much of their time waiting on a
# browser, a server or PostgreSQL. Tests marked xdist_group share a worker (and what it starts).
# PYTEST_ARGS="-n 0" runs in this process alone.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

migrate: $(STAMP)
	$(BIN)/flask --app mentorly db upgrade

bench: $(STAMP)
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/avatars.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-artifacts
