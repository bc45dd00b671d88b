# CloudSignal: `make run` serves the dashboard and broker; `make test` runs the whole suite.
# Both set up .venv from the lock files first, and skip what is already done.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Any Python 3.12+ will do: python3.13/python3.12/python3 on PATH, then pyenv's versions.
FIND_PYTHON := for c in $$PYTHON python3.14 python3.13 python3.12 python3 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$c; exit 0; fi; \
	done; echo "No Python 3.12 or newer found (tried python3.13, python3.12, python3 and pyenv). Install one, or set PYTHON=/path/to/python3.12." >&2; exit 1

.PHONY: run test check lint format clean bench cluster

$(VENV)/bin/python:
	@py=$$($(FIND_PYTHON)) && echo "Creating $(VENV) with $$py" && $$py -m venv $(VENV)
	@$(VENV)/bin/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: requirements.lock | $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	@touch $@

$(VENV)/.dev-deps: requirements-dev.lock | $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	@touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(PY) manage.py migrate --noinput
	exec $(PY) manage.py serve

# A two-node RabbitMQ cluster on loopback (Debian's rabbitmq-server, installed if missing) with the
# dashboard governing it (CLOUDSIGNAL_BROKER=rabbitmq). Ctrl-C stops it all.
cluster: $(VENV)/.run-deps
	$(PY) manage.py migrate --noinput
	exec $(PY) manage.py cluster

# axe-core for the browser tests' accessibility scan, exactly as package-lock.json says. A stamp file:
# npm gives installed files a fixed old mtime, so the package itself cannot tell make it is current.
# Without npm the scan is skipped with a notice (as without chromium), except in CI, where it fails.
node_modules/.installed: package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the accessibility scan will be skipped (apt-get install npm)." >&2; fi

# One pytest worker per core (at most 4): most tests wait on sockets, brokers and browsers, so two
# workers on two cores take about 30% less time than one. Tests marked with an xdist_group run in
# one worker (one RabbitMQ cluster, not one per worker). PYTEST_WORKERS=0 runs in this process.
# pytest exits 5 when it collected nothing: a broken suite, not a pass, so say so.
PYTEST_WORKERS ?= auto
test: $(VENV)/.dev-deps node_modules/.installed
	@$(PY) -m pytest -n $(PYTEST_WORKERS) --maxprocesses=4 --dist loadgroup $(PYTEST_ARGS) || { status=$$?; \
	  [ $$status -ne 5 ] || echo "pytest collected no tests: the suite did not run." >&2; exit $$status; }

# Lint, format, types and the import contracts. mypy is here and not in `make test`: from cold it
# takes half a minute. (The suite runs ruff and lint-imports too.)
check: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy . && $(VENV)/bin/lint-imports

# Our broker against stock amqtt 0.12.1 and Mosquitto (bench/broker_bench.py): one markdown table of
# medians, every figure as JSON. About 12 minutes on 2 idle cores; BENCH_ARGS=--quick for about 5.
# A recorded run, with the machine it ran on: bench/RESULTS.md.
bench: $(VENV)/.dev-deps
	$(PY) bench/broker_bench.py $(BENCH_ARGS)

format: $(VENV)/.dev-deps
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

# Regenerate the lock files after changing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --python-version 3.12 --generate-hashes --no-header -o requirements.lock
	uv pip compile pyproject.toml --extra dev --python-version 3.12 --generate-hashes --no-header -o requirements-dev.lock

clean:
	rm -rf $(VENV) node_modules
