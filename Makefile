# allotment: `make serve` runs the API on 127.0.0.1:8778 (another port:
# SERVE_ARGS="--port N"), `make test` runs every test and prints the line
# coverage, `make lint` runs ruff and mypy.
# All create the virtualenv in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test unit functional conformance lint cover bench storm clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[mysqlclient]' \
		|| echo "mysqlclient not built (it needs libmariadb-dev and pkg-config): MySQL runs on PyMySQL"
	touch $(STAMP)

# The console at http://127.0.0.1:8778/allotment/ui/ (noauth2 on loopback:
# no token needed from a local browser).
serve: $(STAMP)
	OS_ALLOTMENT__UI_ENABLED=True $(BIN)/allotment serve $(SERVE_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest --cov=allotment --cov-report=
	@echo "line coverage: $$($(BIN)/coverage report --format=total)%"

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

functional: $(STAMP)
	$(BIN)/python -m pytest tests/functional tests/backends

conformance: $(STAMP)
	$(BIN)/python -m pytest tests/conformance

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Coverage per file, missing lines included, and an HTML report in htmlcov/.
cover: $(STAMP)
	$(BIN)/python -m pytest -n 2 --cov=allotment \
		--cov-report=term-missing:skip-covered --cov-report=html

# The cloud-scale comparison of bench/RESULTS.md (needs ../shared/bench and,
# for the reference, ../shared/reference-serve). BENCH_ONLY=ours skips the
# reference; BENCH_DB=postgresql or mysql runs on the shared database
# servers; reports land in bench/out/. `make storm`: the boot storm at
# BENCH_STORM_N (10,000) flat compute nodes.
BENCH_N ?= 1000
BENCH_SHAPES ?= flat nested
BENCH_ONLY ?=
BENCH_DB ?= sqlite
BENCH_STORM_N ?= 10000
bench: $(STAMP)
	for shape in $(BENCH_SHAPES); do \
		bench/cloud.sh -n $(BENCH_N) --shape $$shape --db $(BENCH_DB) \
			$(if $(BENCH_ONLY),--only $(BENCH_ONLY)) || exit 1; \
	done

storm: $(STAMP)
	bench/storm.sh -n $(BENCH_STORM_N) $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

clean:
	rm -rf $(VENV) data .pytest_cache .coverage htmlcov .mypy_cache \
		.ruff_cache
