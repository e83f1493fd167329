"""What every DAG shares: owner, retries, start date, and the assets linking landing to models."""

from __future__ import annotations

from datetime import timedelta

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


def is_full_refresh(context) -> bool:
    """Asked for by the run's params, or the weekly full read (by logical date, so a backfill
    of a past Sunday does what that Sunday did)."""
    logical = context.get("logical_date")
    weekly = logical is not None and logical.in_timezone(TIMEZONE).weekday() == FULL_REFRESH_WEEKDAY
    return bool(context["params"].get("full_refresh")) or weekly


def source_client(source: str):
    """A client of a source system, from its Airflow connection (only inside a task)."""
    from eduhub import hooks

    return {"vendor_a": hooks.SmsVendorAHook, "vendor_b": hooks.SmsVendorBHook,
            "population": hooks.PopulationHook, "pcgd": hooks.PcgdHook}[source]().get_client()


def warehouse_url() -> str:
    """The warehouse, from the Airflow connection (only ever called inside a task)."""
    return WarehouseHook(settings.WAREHOUSE_CONN_ID).url()
