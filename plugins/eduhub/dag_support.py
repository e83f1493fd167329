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

# One asset per landed source entity: the transformation DAG is scheduled on them.
RAW_SMS_VENDOR_A_SCHOOLS = Asset(name="raw.sms_vendor_a__schools",
                                 uri="eduhub://warehouse/raw/sms_vendor_a__schools")
RAW_SMS_VENDOR_A_LEARNERS = Asset(name="raw.sms_vendor_a__learners",
                                  uri="eduhub://warehouse/raw/sms_vendor_a__learners")
MARTS = Asset(name="marts", uri="eduhub://warehouse/marts")


FULL_REFRESH_WEEKDAY = 6  # Sunday: a weekly full read catches deletions


def is_full_refresh(context) -> bool:
    """Asked for by the run's params, or the weekly full read (by logical date, so a backfill
    of a past Sunday does what that Sunday did)."""
    logical = context.get("logical_date")
    weekly = logical is not None and logical.in_timezone(TIMEZONE).weekday() == FULL_REFRESH_WEEKDAY
    return bool(context["params"].get("full_refresh")) or weekly


def warehouse_url() -> str:
    """The warehouse, from the Airflow connection (only ever called inside a task)."""
    return WarehouseHook(settings.WAREHOUSE_CONN_ID).url()
