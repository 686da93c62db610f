# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-plain lint bench clean

# The tests that sync into a mirror, run again with every fast path off (etl/fast_paths.py).
# Left out there: tests marked plain_irrelevant and those that turn the fast paths on again
# (tests/conftest.py); tests/test_fast_paths.py, which sets ODMIRROR_PLAIN itself; and of
# tests/test_practices.py (many practices at once: the same save path per practice) all but
# the stop after the page in flight, where prefetch and its plain twin differ.
MIRROR_TESTS := tests/test_sync.py tests/test_load.py tests/test_resources.py \
	tests/test_practices.py::test_ctrl_c_stops_every_practice_after_its_page_in_flight \
	tests/test_cassettes.py tests/test_hostile.py tests/test_rejects.py \
	tests/test_pii.py tests/test_faults.py tests/test_db_loss.py tests/test_views.py \
	tests/test_hostile_server.py tests/test_hostile_records.py tests/test_changed_rows.py \
	tests/test_drift_checks.py tests/test_lock_loss.py

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/odmirror demo

# Tests run in TEST_WORKERS processes (pytest-xdist; each test has its own database, file or
# schema, and each process its own template mirrors). Many tests wait on a server or a deadline,
# so two processes halve the wall time even on two cores. TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS)

# Dagster's import changes how SQLAlchemy writes MySQL's DATETIME and FLOAT process-wide
# (@compiles hooks in dagster/_core/storage/sql.py): its tests run in a process of their own.
test: $(BIN)/.installed
	$(PYTEST) --ignore=tests/test_dagster.py
	$(BIN)/pytest tests/test_dagster.py

test-plain: $(BIN)/.installed
	ODMIRROR_PLAIN=all $(PYTEST) $(MIRROR_TESTS)

lint: $(BIN)/.installed
	$(BIN)/ruff check etl tests migrations bench
	$(BIN)/ruff format --check etl tests migrations bench
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_sync.py $(BENCH_ARGS)

# The other benchmarks, by name: bench-whole, bench-requests, bench-reconcile, bench-bulk, bench-gaps,
# bench-practices (bench/bench_<name>.py; each prints a table and writes JSON).
bench-%: $(BIN)/.installed
	$(BIN)/python bench/bench_$*.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) odmirror-demo.db odmirror-demo.db-wal odmirror-demo.db-shm odmirror-demo.db.lock
