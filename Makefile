# Two commands do all set-up: `make run` (the console with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The first Python 3.12+ found: $PYTHON, python3.13, python3.12, python3, then pyenv's versions.
FIND_PYTHON = for p in "$$PYTHON" python3.13 python3.12 python3 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	  [ -n "$$p" ] && command -v "$$p" >/dev/null 2>&1 && "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$$p"; break; }; \
	done

.PHONY: help install run smoke test test-fast lint format bench bench-scale migrate messages check clean

help:
	@echo "make run    start the console with demo data (web, Celery worker and beat, Apple simulator)"
	@echo "make smoke  the production smoke test (PostgreSQL and Redis needed; also run by .ci/run)"
	@echo "make test   install what is missing and run the whole test suite"
	@echo "make bench  run the benchmarks (figures in docs/benchmarks.md)"
	@echo "make bench-scale  issue 13's sizes on PostgreSQL (DATABASE_URL=postgres://...), about 20 minutes"
	@echo "make lint   ruff check and format, mypy, the import layers (lint-imports)"

$(PY):
	@py=$$($(FIND_PYTHON)); \
	if [ -z "$$py" ]; then echo "Python 3.12 or newer is needed (set PYTHON=/path/to/python3.12)" >&2; exit 1; fi; \
	echo "Creating $(VENV) with $$py"; "$$py" -m venv $(VENV)

# Quiet: pip's own notices (a machine's pip configuration may name index locations that do not exist; each
# skipped one prints a warning) are filtered out; errors and any other warning still show, and a failed install
# still fails.
PIP := PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip install --quiet --no-warn-script-location
PIP_NOISE := ^WARNING: (Location '.*' is ignored|Skipping page|The index url .* seems invalid)|^Looking in (indexes|links):
$(STAMP): $(PY) pyproject.toml requirements/constraints.txt
	@echo "Installing the pinned dependencies into $(VENV) (a few minutes the first time)"
	@set -o pipefail; { $(PIP) --upgrade pip && $(PIP) -c requirements/constraints.txt ".[dev]"; } 2>&1 \
	  | { grep -v -E "$(PIP_NOISE)" || true; }
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py run_console

smoke: install
	.ci/smoke.sh

# Two pytest workers by default (JOBS=1 for one process); extra pytest options in PYTEST_ARGS.
JOBS ?= 2
test: install
	$(PY) manage.py compilemessages --ignore=.venv -v 0
	$(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) manage.py compilemessages --ignore=.venv -v 0
	$(PY) -m pytest benchmarks -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,max,rounds $(PYTEST_ARGS)

# Issue 13's sizes in one run, PostgreSQL only: the first full sync of 1,000,000 assignments (5,000 assets,
# 100,000 users) against its COPY floor, the incremental sync and the reconciliation after it; the Required
# allocation to 100,000 devices with 60,000 licenses, decided and settled by Apple's notifications; the list
# pages and API endpoints over 1,000,000 licenses and 100,000 devices (committed, as a console's are); the API
# under load (gunicorn with production settings and 2 workers, 8 clients for 20 s).
bench-scale: install
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "make bench-scale needs DATABASE_URL=postgres://..." >&2; exit 2;; esac
	$(PY) manage.py compilemessages --ignore=.venv -v 0
	BENCH_SCALE_ASSETS=5000 BENCH_SCALE_ASSIGNMENTS=1000000 BENCH_SCALE_USERS=100000 \
	BENCH_ALLOC_DEVICES=100000 BENCH_ALLOC_LICENSES=60000 \
	BENCH_LISTS_LICENSES=1000000 BENCH_LISTS_DEVICES=100000 BENCH_LISTS_COMMITTED=1 \
	BENCH_LOAD_LICENSES=1000000 BENCH_LOAD_DEVICES=100000 \
	$(PY) -m pytest benchmarks/test_bench_sync_scale.py benchmarks/test_bench_allocation_scale.py \
	  benchmarks/test_bench_lists_scale.py benchmarks/test_bench_api_load.py \
	  -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,max,rounds -s $(PYTEST_ARGS)

migrate: install
	$(PY) manage.py migrate

messages: install
	$(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var --ignore=tests
	$(PY) manage.py compilemessages --ignore=.venv

check: install
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

clean:
	rm -rf $(VENV) var/broker var/*.sqlite3
