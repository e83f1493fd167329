"""
### Chốt danh sách kiểm tra 30% của năm học

Each day checks the school calendar (`eduhub.school_calendar`): once the run's day reaches the
freeze date of its school year (`inspection_freeze_date`, 15 September by default; the school
year rolls over on its opening day, 5 September by default), freezes that year's draft
inspection sample (`marts.inspection_sample_draft`, built by `transform_warehouse`) into
`ops.inspection_samples`. A frozen sample never changes on later runs, and earlier years'
samples and visits stay; the mart `marts.inspection_sample` shows them with each school's visit
status (`ops.inspection_visits`). A freeze that finds no draft of the year fails the task
(the transformation has not run for a day of that year yet) rather than freezing nothing.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="freeze_inspection_sample",
    dag_display_name=DISPLAY_NAMES["freeze_inspection_sample"],
    # daily: the freeze date is the calendar's, per school year
    schedule="0 3 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "inspection", "annual"],
    doc_md=__doc__,
)
def freeze_inspection_sample():
    @task(multiple_outputs=False)
    def freeze() -> dict:
        from eduhub.pipelines import inspection

        day = dag_support.run_day(get_current_context())
        done = inspection.freeze_due(dag_support.warehouse_url(), day)
        return {"school_year": done.school_year, "freeze_date": done.freeze_date.isoformat(),
                "due": done.due, "frozen": done.frozen}

    dag_support.migrate_warehouse() >> freeze()


freeze_inspection_sample()
