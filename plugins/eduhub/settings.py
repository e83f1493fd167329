"""Where things live. One place for every path and environment variable the platform reads."""

from __future__ import annotations

import os
from pathlib import Path

# plugins/eduhub/settings.py -> project root
PROJECT_ROOT = Path(os.environ.get("EDUHUB_PROJECT_ROOT", Path(__file__).resolve().parents[2]))

# Git-ignored local state: embedded warehouse, Airflow home, sandbox data, Data Docs.
STATE_DIR = Path(os.environ.get("EDUHUB_STATE_DIR", PROJECT_ROOT / ".eduhub"))

DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
DBT_PROJECT_DIR = Path(os.environ.get("EDUHUB_DBT_PROJECT_DIR", PROJECT_ROOT / "dbt_project"))
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

AIRFLOW_HOME = Path(os.environ.get("EDUHUB_AIRFLOW_HOME", STATE_DIR / "airflow"))
SANDBOX_DIR = Path(os.environ.get("EDUHUB_SANDBOX_DIR", STATE_DIR / "sandbox"))
DATA_DOCS_DIR = Path(os.environ.get("EDUHUB_DATA_DOCS_DIR", STATE_DIR / "data_docs"))
# Reports the platform writes for the Sở (documents, exports).
REPORTS_DIR = Path(os.environ.get("EDUHUB_REPORTS_DIR", STATE_DIR / "reports"))

# Airflow connection ids: the only names DAG code uses to reach the outside.
WAREHOUSE_CONN_ID = "eduhub_warehouse"
SMS_VENDOR_A_CONN_ID = "sms_vendor_a"
SMS_VENDOR_B_CONN_ID = "sms_vendor_b"
POPULATION_CONN_ID = "population"
PCGD_CONN_ID = "pcgd"
SCHOOL_REGISTRY_CONN_ID = "school_registry"
# SMTP server of the alerts to the Sở's operators (eduhub.alerts); optional.
SMTP_CONN_ID = "eduhub_smtp"

# Airflow pool that keeps the population service's rate limit (one request stream at a time).
POPULATION_POOL = "population"

# Where schools without an API drop their xlsx class exports.
DROP_DIR = Path(os.environ.get("EDUHUB_DROP_DIR", STATE_DIR / "drops"))

WAREHOUSE_URL_ENV = "EDUHUB_WAREHOUSE_URL"
