# Two entry points a newcomer needs: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench trial clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.app

demo: $(VENV)/.app
	$(BIN)/thesiswatch demo

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot rules storage bench

test: lint
	$(BIN)/pytest -n 2 --durations=10

bench: $(VENV)/.dev
	$(BIN)/python bench/bench_ingest.py --quick
	$(BIN)/python bench/bench_rules.py --rounds 3
	$(BIN)/python bench/bench_telegram.py --quick
	$(BIN)/python bench/bench_latency.py --quick
	$(BIN)/python bench/bench_chart.py
	$(BIN)/python bench/bench_feeds.py --quick

# Issue 8's fault trial, short form (kills, a Telegram outage, PostgreSQL restarts; ~4 min).
trial: $(VENV)/.dev
	$(BIN)/python bench/trial_faults.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
