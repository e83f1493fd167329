"""
### Biến đổi kho dữ liệu (dbt: staging → marts), công bố khi đạt kiểm định

Runs the dbt project through astronomer-cosmos, one `dbt build` of the whole project in the
task `dbt_build` (its log lists every model and test, and its XCom `nodes` holds each one's
status and time; dbt's unit tests, whose inputs are fixed rows, are left to the test suite),
twice a day: after the school landing (PCGD-XMC lands half an hour earlier and is read then
too), and after the identity matching publishes its persons; behind a **publish gate**:

1. `prepare_build`: the operators' decisions on rejected batches applied (taken on the
   dashboard's operations page: accepted partitions count from this build on), the raw
   tables the models read created if missing, and empty staging schemas `marts_next` and
   `audit_next`, with the privileges of `marts` and `audit`;
2. `dbt_build`: staging and intermediate models build in place (they skip batches rejected by
   validation); marts and audit build into the staging schemas;
3. `validate_marts`: the marts suite (`expectations/marts.json`: rates and scores in [0, 1],
   at least 30% of every inspection stratum, no raw personal ID in any text column) on the
   staging schemas; a critical failure fails the run, naming the expectation;
4. `publish`: the staging schemas replace `marts` and `audit` in one transaction, grants and
   policies kept (a run that fails anywhere before leaves yesterday's marts in place); the
   roles brought in line (`eduhub warehouse grant`: commune roles and the schools each
   manages, the analyst's column grants; README "Privacy and access"); the assets that start
   the population verification and the reports.

Few tasks, because each costs a process start, a DAG parse and a scheduler round trip: under
the scheduler the run is measured against one plain `dbt build` (`benchmarks/bench_transform.py`).

- **Profile**: from the Airflow connection `eduhub_warehouse`.
- Loading this DAG runs no dbt command and touches no database.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from eduhub import dag_support, transform
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="transform_warehouse",
    dag_display_name=DISPLAY_NAMES["transform_warehouse"],
    # the day's school landing, then the persons the matching published: twice a day
    schedule=dag_support.TRANSFORM_SCHEDULE,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "transformation", "dbt"],
    doc_md=__doc__,
)
def transform_warehouse():
    @task(task_display_name="Áp dụng quyết định về lô bị từ chối, chuẩn bị bảng thô và lược "
                            "đồ công bố", multiple_outputs=False)
    def prepare_build() -> list[dict]:
        from eduhub import publish as gate
        from eduhub import validation

        url = dag_support.warehouse_url()
        transform.ensure_raw_tables(url)
        decided = validation.apply_batch_decisions(url)
        gate.prepare(url)
        return decided

    @task(task_display_name="Kiểm định các mart trước khi công bố", multiple_outputs=False)
    def validate_marts() -> dict:
        from eduhub import validation

        context = get_current_context()
        result = validation.validate_publication(dag_support.warehouse_url(), context["run_id"],
                                                 as_of=dag_support.run_day(context))
        validation.fail_task_on_critical(result)
        return validation.summary([result])

    @task(task_display_name="Công bố các mart và cấp quyền",
          outlets=[dag_support.MARTS, dag_support.SCHOOL_PERSONS], multiple_outputs=False)
    def publish() -> dict:
        """Swap (a no-op when a retry finds it done), grants (idempotent), then the assets that
        start the population verification and the reports."""
        from eduhub import access
        from eduhub import publish as gate

        context = get_current_context()
        done = gate.swap(dag_support.warehouse_url(), context["run_id"])
        granted = access.grant(dag_support.warehouse_url())
        dag_support.emit_day(context, dag_support.MARTS, dag_support.SCHOOL_PERSONS)
        return {"published": done.published, "schemas": list(done.schemas),
                "relations": done.tables, "commune_roles": granted.commune_roles,
                "refused": granted.refused_tables}

    (dag_support.migrate_warehouse() >> prepare_build() >> transform.build_task()
     >> validate_marts() >> publish())


transform_warehouse()
