# Two commands do everything on a machine that has Python 3.11:
#   make demo   creates .venv, installs, runs the main job end to end on the sandbox
#   make test   creates .venv, installs, runs linters and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps demo up test lint clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml sandbox/pyproject.toml
	@echo "==> Creating the virtual environment $(VENV) and installing requirements-dev.txt"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

install: $(STAMP)

# Debian packages the tests use: Redis (the Celery broker), Chromium (the UI tests, driven by
# Playwright; never a browser download) and fonts with Vietnamese coverage. Installed when
# missing (CI and the developers' machines run as root).
SYSTEM_PACKAGES := redis-server chromium fonts-liberation2 fonts-dejavu-core
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> apt-get install$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: install
	@echo "==> Running the main job on the sandbox, under the real Airflow scheduler (eduhub demo)"
	$(BIN)/eduhub demo

up: install
	$(BIN)/eduhub up

lint: install
	@echo "==> ruff (Python, with Airflow's AIR rules)"
	$(BIN)/ruff check .
	@echo "==> sqlfluff (dbt models)"
	$(BIN)/sqlfluff lint dbt_project/models

test: lint system-deps
	@echo "==> pytest (real PostgreSQL, Airflow, dbt, Great Expectations, HTTP simulators)"
	$(BIN)/pytest

clean:
	-$(BIN)/eduhub warehouse stop
	rm -rf .eduhub dbt_project/target dbt_project/logs
