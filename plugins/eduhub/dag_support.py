"""What every DAG shares: owner, retries, start date, and the assets linking landing to models."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, timedelta

import pendulum
from airflow.sdk import Asset, Param

from eduhub import alerts, settings
from eduhub.hooks import WarehouseHook

TIMEZONE = pendulum.timezone("Asia/Ho_Chi_Minh")
START_DATE = pendulum.datetime(2026, 9, 1, tz=TIMEZONE)

# The title each DAG shows in the Airflow UI (its operators read Vietnamese).
DISPLAY_NAMES = {
    "freeze_inspection_sample": "Chốt danh sách kiểm tra 30% của năm học",
    "match_identities": "Ghép nối danh tính người học",
    "publish_reports": "Lập báo cáo gửi đi (.docx, .pdf)",
    "purge_raw_payloads": "Xóa dữ liệu thô quá thời hạn lưu trữ",
    "sync_population": "Xác thực số định danh cá nhân với CSDLQG về dân cư",
    "sync_school_management": "Đồng bộ phần mềm quản trị nhà trường",
    "sync_pcgd": "Đồng bộ hệ thống phổ cập giáo dục, xóa mù chữ (PCGD-XMC)",
    "transform_warehouse": "Biến đổi và công bố kho dữ liệu",
}

# No task runs past this (a hung source or query would otherwise hold the DAG, and with one
# active run per DAG, every later day): the longest task, the dbt build at province scale,
# takes about 7 minutes. A deployment may give more with EDUHUB_TASK_TIMEOUT_MINUTES.
TASK_TIMEOUT = timedelta(minutes=float(os.environ.get("EDUHUB_TASK_TIMEOUT_MINUTES", "60")))

DEFAULT_ARGS = {
    "owner": "so-gddt-data-engineering",
    "retries": 2,
    "execution_timeout": TASK_TIMEOUT,
    # shorter in the live tests, whose failing source must not take minutes to fail
    "retry_delay": timedelta(seconds=float(os.environ.get("EDUHUB_RETRY_DELAY_SECONDS", "30"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": alerts.notify_operators,  # a mail to the operators
}

# The day's chain: each landing DAG emits its asset; the transformation runs on the school
# landing (PCGD-XMC lands before it, at 00:30) and on the persons the matching publishes: twice
# a day, never beside the matching, which reads what it builds. The population verification
# runs on the persons the transformation publishes, the matching on its answers. Every event
# carries the day of the data (`DAY_EXTRA`), so a run an asset triggers stands for that day.
RAW_SCHOOL_MANAGEMENT = Asset(name="raw.school_management",
                              uri="eduhub://warehouse/raw/school_management")
RAW_PCGD = Asset(name="raw.pcgd", uri="eduhub://warehouse/raw/pcgd")
RAW_POPULATION = Asset(name="raw.population", uri="eduhub://warehouse/raw/population")
SCHOOL_PERSONS = Asset(name="intermediate.int_school_persons",
                       uri="eduhub://warehouse/intermediate/int_school_persons")
MARTS = Asset(name="marts", uri="eduhub://warehouse/marts")
PERSONS = Asset(name="pii.persons", uri="eduhub://warehouse/pii/persons")
DAY_EXTRA = "run_day"
TRANSFORM_SCHEDULE = RAW_SCHOOL_MANAGEMENT | PERSONS


FULL_REFRESH_WEEKDAY = 6  # Sunday: a weekly full read catches deletions


def run_day(context_or_dag_run) -> date:
    """The day a run stands for, in Vietnam. A scheduled or backfilled run: its logical date.
    A run triggered by assets (no logical date in Airflow 3): the latest day its triggering
    events carry (a backfilled landing transforms as of its own day), else when it was due
    (`run_after`), as for a manual run. Takes a task's context or a DagRun; templates call it
    as `{{ run_day(dag_run) }}`."""
    dag_run = (context_or_dag_run.get("dag_run") if isinstance(context_or_dag_run, Mapping)
               else context_or_dag_run)
    logical = (context_or_dag_run.get("logical_date") if isinstance(context_or_dag_run, Mapping)
               else None) or getattr(dag_run, "logical_date", None)
    if logical:
        return pendulum.instance(logical).in_timezone(TIMEZONE).date()
    days = [date.fromisoformat(event.extra[DAY_EXTRA])
            for event in _triggering_events(dag_run) if DAY_EXTRA in (event.extra or {})]
    if days:
        return max(days)
    return pendulum.instance(dag_run.run_after).in_timezone(TIMEZONE).date()


def _triggering_events(dag_run) -> list:
    events = getattr(dag_run, "consumed_asset_events", None) or []
    return list(events)


def emit_day(context, *assets: Asset) -> None:
    """Mark the events a task emits with the day of its run (see DAY_EXTRA)."""
    day = run_day(context).isoformat()
    for asset in assets:
        context["outlet_events"][asset].extra = {DAY_EXTRA: day}


def run_day_iso(dag_run) -> str:
    return run_day(dag_run).isoformat()


# Jinja macros of every DAG: `{{ run_day(dag_run) }}` instead of `{{ ds }}`, which is undefined
# in the runs that have no logical date.
USER_DEFINED_MACROS = {"run_day": run_day_iso}


# The params of the landing DAGs (the labels are the operators').
LANDING_PARAMS = {
    "full_refresh": Param(False, type="boolean",
                          description="Đọc lại toàn bộ dữ liệu (phát hiện bản ghi bị xóa)"),
    "accept_deletions": Param(False, type="boolean",
                              description="Chấp nhận xóa số lượng lớn bản ghi mà lần đọc toàn bộ "
                                          "không còn thấy (chỉ bật sau khi đã kiểm tra với "
                                          "nguồn)"),
}


def accepts_deletions(context) -> bool:
    """The operator checked a large withdrawal with the source and lets it through."""
    return bool(context["params"].get("accept_deletions"))


def is_full_refresh(context) -> bool:
    """Asked for by the run's params, or the weekly full read (by the run's day, so a backfill
    of a past Sunday does what that Sunday did)."""
    weekly = run_day(context).weekday() == FULL_REFRESH_WEEKDAY
    return bool(context["params"].get("full_refresh")) or weekly


def source_client(source: str):
    """A client of a source system, from its Airflow connection (only inside a task)."""
    from eduhub import hooks

    # a source's id is its connection's (README, "Airflow connections")
    by_source = {hook.default_conn_name: hook for hook in (
        hooks.SmsVendorAHook, hooks.SmsVendorBHook, hooks.PopulationHook, hooks.PcgdHook,
        hooks.SchoolRegistryHook)}
    return by_source[source]().get_client()


def warehouse_url() -> str:
    """The warehouse, from the Airflow connection (only ever called inside a task)."""
    return WarehouseHook(settings.WAREHOUSE_CONN_ID).url()


def migrate_warehouse():
    """Every DAG's first task: the warehouse's own tables brought to this release's layout
    (`eduhub.migrations`; one query when they are already there), so a deployment of a new
    release needs no manual step before its first run."""
    from airflow.sdk import task

    @task(task_id="migrate_warehouse", task_display_name="Cập nhật cấu trúc kho dữ liệu",
          multiple_outputs=False)
    def migrate() -> dict:
        from eduhub import migrations

        before, after = migrations.upgrade(warehouse_url())
        return {"before": before, "after": after}

    return migrate()


def validate_batch(sources: tuple[str, ...], asset: Asset):
    """The landing DAGs' last task: every suite of the sources on the run's batch, then on any
    earlier batch of theirs whose validation never ran (fail closed: the models read only what
    passed); a critical failure rejects the partitions concerned (kept out of the models) and
    fails the task, naming it; otherwise the asset is emitted, with the run's day, for what
    follows."""
    from airflow.sdk import get_current_context, task

    @task(task_id="validate_batch", outlets=[asset], multiple_outputs=False,
          task_display_name="Kiểm tra dữ liệu và công bố")
    def validate() -> dict:
        from eduhub import validation

        context = get_current_context()
        results = validation.validate_sources(warehouse_url(), context["run_id"], sources,
                                              as_of=run_day(context))
        validation.fail_task_on_critical(results)
        emit_day(context, asset)
        return validation.summary(results)

    return validate()
