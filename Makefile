# Two commands do everything on a machine that has Python 3.11:
#   make demo   creates .venv, installs, runs the main job end to end on the sandbox
#   make test   creates .venv, installs, runs linters and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@echo "==> Creating the virtual environment $(VENV) and installing requirements-dev.txt"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

install: $(STAMP)

demo: install
	@echo "==> Running the main job on the sandbox (eduhub demo)"
	$(BIN)/eduhub demo

lint: install
	@echo "==> ruff (Python, with Airflow's AIR rules)"
	$(BIN)/ruff check .
	@echo "==> sqlfluff (dbt models)"
	$(BIN)/sqlfluff lint dbt_project/models

test: lint
	@echo "==> pytest (real PostgreSQL, Airflow, dbt, Great Expectations, HTTP simulators)"
	$(BIN)/pytest

clean:
	-$(BIN)/eduhub warehouse stop
	rm -rf .eduhub dbt_project/target dbt_project/logs
