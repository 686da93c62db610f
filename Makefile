# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/odmirror demo

test: $(BIN)/.installed
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check etl tests migrations bench
	$(BIN)/ruff format --check etl tests migrations bench
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_sync.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) odmirror-demo.db odmirror-demo.db-wal odmirror-demo.db-shm odmirror-demo.db.lock
