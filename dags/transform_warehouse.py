"""
### Biến đổi kho dữ liệu (dbt: staging → marts), công bố khi đạt kiểm định

Runs the dbt project through astronomer-cosmos, one `dbt build` task per layer (seeds,
staging, intermediate with the snapshots, marts with audit; each task's log lists the models
and tests it ran), twice a day: after the school landing (PCGD-XMC lands half an hour
earlier and is read then too), and after the identity matching publishes its persons; behind
a **publish gate**:

1. `prepare_publication`: empty staging schemas `marts_next` and `audit_next`, with the
   privileges of `marts` and `audit`;
2. `dbt`: staging and intermediate models build in place (they skip batches rejected by
   validation); marts and audit build into the staging schemas;
3. `validate_marts`: the marts suite (`expectations/marts.json`: rates and scores in [0, 1],
   at least 30% of every inspection stratum, no raw personal ID in any text column) on the
   staging schemas; a critical failure fails the run, naming the expectation;
4. `swap_marts`: the staging schemas replace `marts` and `audit` in one transaction, grants
   and policies kept. A run that fails anywhere before leaves yesterday's marts in place;
5. `grant_access`: the roles brought in line (`eduhub warehouse grant`: commune roles and the
   schools each manages, the analyst's column grants; README "Privacy and access").

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
    @task(outlets=[dag_support.MARTS, dag_support.SCHOOL_PERSONS])
    def publish() -> None:
        """Marks the models as refreshed: the population verification follows on from here."""
        dag_support.emit_day(get_current_context(), dag_support.MARTS, dag_support.SCHOOL_PERSONS)

    @task
    def prepare_raw_tables() -> None:
        transform.ensure_raw_tables(dag_support.warehouse_url())

    @task
    def prepare_publication() -> None:
        from eduhub import publish as gate

        gate.prepare(dag_support.warehouse_url())

    @task(multiple_outputs=False)
    def validate_marts() -> dict:
        from eduhub import validation

        context = get_current_context()
        result = validation.validate_publication(dag_support.warehouse_url(), context["run_id"],
                                                 as_of=dag_support.run_day(context))
        validation.fail_task_on_critical(result)
        return validation.summary([result])

    @task(multiple_outputs=False)
    def swap_marts() -> dict:
        from eduhub import publish as gate

        done = gate.swap(dag_support.warehouse_url(), get_current_context()["run_id"])
        return {"published": done.published, "schemas": list(done.schemas),
                "relations": done.tables}

    @task(multiple_outputs=False)
    def grant_access() -> dict:
        from eduhub import access

        summary = access.grant(dag_support.warehouse_url())
        return {"commune_roles": summary.commune_roles, "refused": summary.refused_tables}

    dbt = transform.layer_tasks()
    (dag_support.migrate_warehouse() >> prepare_raw_tables() >> prepare_publication()
     >> dbt[0])
    dbt[-1] >> validate_marts() >> swap_marts() >> grant_access() >> publish()


transform_warehouse()
