"""What every DAG shares: owner, retries, start date, and the assets linking landing to models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import pendulum
from airflow.sdk import Asset

from eduhub import settings
from eduhub.hooks import WarehouseHook

TIMEZONE = pendulum.timezone("Asia/Ho_Chi_Minh")
START_DATE = pendulum.datetime(2026, 9, 1, tz=TIMEZONE)

DEFAULT_ARGS = {
    "owner": "so-gddt-data-engineering",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

# One asset per landing DAG: the transformation DAG is scheduled on any of them, and the
# population verification on the persons the transformation publishes.
RAW_SCHOOL_MANAGEMENT = Asset(name="raw.school_management",
                              uri="eduhub://warehouse/raw/school_management")
RAW_UNIVERSAL_EDUCATION = Asset(name="raw.pcgd", uri="eduhub://warehouse/raw/pcgd")
RAW_POPULATION = Asset(name="raw.population", uri="eduhub://warehouse/raw/population")
SCHOOL_PERSONS = Asset(name="intermediate.int_school_persons",
                       uri="eduhub://warehouse/intermediate/int_school_persons")
MARTS = Asset(name="marts", uri="eduhub://warehouse/marts")


FULL_REFRESH_WEEKDAY = 6  # Sunday: a weekly full read catches deletions


def run_day(context_or_dag_run) -> date:
    """The day a run stands for, in Vietnam: its logical date, or when it was due (`run_after`)
    for the runs that have no logical date (asset-triggered and manual runs in Airflow 3).
    Takes a task's context or a DagRun; templates call it as `{{ run_day(dag_run) }}`."""
    dag_run = (context_or_dag_run.get("dag_run") if isinstance(context_or_dag_run, Mapping)
               else context_or_dag_run)
    logical = (context_or_dag_run.get("logical_date") if isinstance(context_or_dag_run, Mapping)
               else None) or getattr(dag_run, "logical_date", None)
    moment = logical or dag_run.run_after
    return pendulum.instance(moment).in_timezone(TIMEZONE).date()


def run_day_iso(dag_run) -> str:
    return run_day(dag_run).isoformat()


# Jinja macros of every DAG: `{{ run_day(dag_run) }}` instead of `{{ ds }}`, which is undefined
# in the runs that have no logical date.
USER_DEFINED_MACROS = {"run_day": run_day_iso}


def is_full_refresh(context) -> bool:
    """Asked for by the run's params, or the weekly full read (by the run's day, so a backfill
    of a past Sunday does what that Sunday did)."""
    weekly = run_day(context).weekday() == FULL_REFRESH_WEEKDAY
    return bool(context["params"].get("full_refresh")) or weekly


def source_client(source: str):
    """A client of a source system, from its Airflow connection (only inside a task)."""
    from eduhub import hooks

    return {"vendor_a": hooks.SmsVendorAHook, "vendor_b": hooks.SmsVendorBHook,
            "population": hooks.PopulationHook, "pcgd": hooks.PcgdHook}[source]().get_client()


def warehouse_url() -> str:
    """The warehouse, from the Airflow connection (only ever called inside a task)."""
    return WarehouseHook(settings.WAREHOUSE_CONN_ID).url()
