# Two commands do everything on a machine that has Python 3.11:
#   make demo   creates .venv, installs, runs the main job end to end on the sandbox
#   make test   creates .venv, installs, runs linters and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Three workers on two cores: much of a test's time is spent waiting on Airflow and the
# servers. A module runs whole on one worker (its fixtures are built once); the longest start
# first (tests/conftest.py). `make test PYTEST_PARALLEL=` runs everything in one process.
PYTEST_PARALLEL ?= -n 3 --dist loadfile --no-loadscope-reorder

.PHONY: install system-deps npm-deps report-deps demo up test lint clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml sandbox/pyproject.toml
	@echo "==> Creating the virtual environment $(VENV) and installing requirements-dev.txt"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

# The scripts, styles and fonts of the GX Data Docs, from the npm registry (exact versions in
# the lock file), so the docs work offline (eduhub.validation.offline_docs).
ASSETS := plugins/eduhub/validation/assets
$(ASSETS)/node_modules/.installed: $(ASSETS)/package.json $(ASSETS)/package-lock.json
	@command -v npm >/dev/null || $(MAKE) --no-print-directory npm-deps
	@echo "==> npm ci: the Data Docs' assets in $(ASSETS)/node_modules"
	npm ci --prefix $(ASSETS) --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMP) $(ASSETS)/node_modules/.installed

# Debian packages, installed when missing (CI and the developers' machines run as root). The
# reports need fonts with Vietnamese coverage (Liberation Serif is Times New Roman's metric
# twin: the PDFs embed it). The tests also need Redis (the Celery broker), Chromium (the UI
# tests, driven by Playwright; never a browser download) and poppler-utils (they read the PDFs
# back).
REPORT_PACKAGES := fonts-liberation2 fonts-dejavu-core
SYSTEM_PACKAGES := $(REPORT_PACKAGES) redis-server chromium poppler-utils
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> apt-get install$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

system-deps:
	$(call apt_install,$(SYSTEM_PACKAGES))

npm-deps:
	$(call apt_install,npm)

report-deps:
	$(call apt_install,$(REPORT_PACKAGES))

demo: install report-deps
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
	$(BIN)/pytest $(PYTEST_PARALLEL)

clean:
	-$(BIN)/eduhub warehouse stop
	rm -rf .eduhub dbt_project/target dbt_project/logs
