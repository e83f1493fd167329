"""
### Chốt danh sách kiểm tra 30% của năm học

Once a year (15 September) freezes the draft inspection sample of the school year
(`marts.inspection_sample_draft`, built by `transform_warehouse`) into
`ops.inspection_samples`. A frozen sample never changes on later runs; the mart
`marts.inspection_sample` then shows the frozen list with each school's visit status
(`ops.inspection_visits`).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="freeze_inspection_sample",
    dag_display_name=DISPLAY_NAMES["freeze_inspection_sample"],
    schedule="0 3 15 9 *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "inspection", "annual"],
    doc_md=__doc__,
)
def freeze_inspection_sample():
    @task
    def freeze() -> int:
        from eduhub.pipelines import inspection

        logical = get_current_context()["logical_date"].in_timezone(dag_support.TIMEZONE)
        # a school year starts in September
        first = logical.year if logical.month >= 8 else logical.year - 1
        return inspection.freeze_sample(dag_support.warehouse_url(), f"{first}-{first + 1}")

    freeze()


freeze_inspection_sample()
