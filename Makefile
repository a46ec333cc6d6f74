# The two commands a new machine needs: `make run` (the whole back-office with the sandbox supplier)
# and `make test` (the whole suite). Both set up everything themselves with only Python 3.11.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: run test bench chaos install setup lint format clean-var

# bin/run-procfile runs every Procfile line and stops them all within 10 s on Ctrl-C, or on
# SIGINT or SIGTERM sent to make (--watch-parent: make keeps a SIGINT sent to it alone from its
# recipe). `make -o setup run PROCFILE=...` runs another Procfile without the set-up (the tests do).
PROCFILE ?= Procfile

run: setup
	@echo "Starting web (http://127.0.0.1:8000), the workers, beat and the sandbox supplier. Ctrl-C stops them all."
	PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/python bin/run-procfile --watch-parent $(PROCFILE)

test: install
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# Speed figures (catalog sync, batch parsing, reconciliation ...), printed, not asserted by the suite.
bench: install
	$(BIN)/pytest tests/benchmarks -o python_files="bench_*.py" -p no:xdist -s -q $(PYTEST_ARGS)

# The whole product under faults, both modes, 1,000 orders each (README, "Chaos run"); several
# minutes. Its own temporary folder, database and ports: `make run` may be running meanwhile.
CHAOS_ARGS ?=
chaos: install
	$(BIN)/python bin/chaos $(CHAOS_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: install
	$(BIN)/python bin/ensure-env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py create_demo_users
	$(BIN)/python manage.py setup_demo_supplier

# ruff (style, complexity), the import contracts of the layers (pyproject.toml [tool.importlinter])
# and mypy with django-stubs over the product apps (pyproject.toml [tool.mypy]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-var:
	rm -rf var/db.sqlite3* var/broker var/celerybeat-schedule* var/sandbox.sqlite3* var/static
