# arbdb: every target creates the virtualenv and installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
ARGS   ?=
# tardis-node (npm tardis-dev, pinned in tests/reference/) is the reference the normalizer's
# differential tests compare with; installed for `make test` wherever node and npm exist.
REFERENCE = tests/reference/node_modules/.installed
TEST_REFERENCE = $(if $(and $(shell command -v node),$(shell command -v npm)),$(REFERENCE))

.PHONY: install demo test bench backfill lint run-scheduler report status clean docs

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,dask]'
	touch $(STAMP)

demo: install  ## sample server on loopback -> 14 days of BTC+ETH -> SQLite -> windows -> verdicts -> report
	$(BIN)/arbdb demo $(ARGS)

test: install $(TEST_REFERENCE)  ## the whole suite, loopback servers only
	$(BIN)/python -m pytest -q $(ARGS)

$(REFERENCE): tests/reference/package.json tests/reference/package-lock.json
	cd tests/reference && npm ci --no-audit --no-fund --loglevel=error
	touch $@

bench: install  ## throughput, memory and LLM batching figures (see docs/benchmarks.md)
	$(BIN)/python -m bench.run $(ARGS)

backfill: install  ## make backfill ARGS="--from 2024-01-01 --to 2024-03-01"
	$(BIN)/arbdb backfill $(ARGS)

run-scheduler: install  ## long-running: funding_cycle at 00/08/16 UTC + delay, nightly cost_report
	$(BIN)/arbdb run-scheduler $(ARGS)

report: install
	$(BIN)/arbdb report $(ARGS)

status: install
	$(BIN)/arbdb status $(ARGS)

docs: install  ## docs/schema.md regenerated from the store, then MkDocs (Material) into site/, --strict
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	$(BIN)/python docs/gen_schema.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .cache data/demo *.egg-info tests/reference/node_modules
