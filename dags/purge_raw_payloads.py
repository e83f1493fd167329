"""
### Xóa dữ liệu thô quá thời hạn lưu trữ (raw payloads)

Monthly, purges the personal data past the retention period (docs/privacy.md): the current
school year and the previous ones, `school_years` in all (param; default
`EDUHUB_RAW_RETENTION_SCHOOL_YEARS` or 3). From `raw`: superseded versions, records deleted at
the source, rejected partitions, payloads of older school years and population answers older
than the period; the current version of a record still served stays. Old quarantined raw text,
status history closed before the period and the records shown to identity reviewers of old
decisions go too. What was purged is recorded in `ops.retention_purges`. School years are the
school calendar's (`eduhub.school_calendar`: a year starts on its opening day, 5 September by
default); the cutoff, the opening day of the oldest school year kept, follows the run's day
(`dag_support.run_day`), so a re-run purges
nothing more. Rules: `eduhub.pipelines.retention`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="purge_raw_payloads",
    dag_display_name=DISPLAY_NAMES["purge_raw_payloads"],
    schedule="0 4 1 * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "privacy", "retention"],
    doc_md=__doc__,
    params={"school_years": Param(None, type=["null", "integer"], minimum=1,
                                  description="Số năm học được lưu (kể cả năm học hiện tại)")},
)
def purge_raw_payloads():
    @task(multiple_outputs=False)
    def purge() -> dict:
        from eduhub.pipelines import retention

        context = get_current_context()
        done = retention.purge(dag_support.warehouse_url(), context["run_id"],
                               dag_support.run_day(context),
                               context["params"].get("school_years"))
        return {p.table: p.rows for p in done if p.rows}

    dag_support.migrate_warehouse() >> purge()


purge_raw_payloads()
