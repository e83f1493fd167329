"""
### Biến đổi kho dữ liệu (dbt: staging → marts)

Runs the dbt project through astronomer-cosmos, one Airflow task per model (and its
tests), whenever the landing DAGs publish new raw data.

- **Profile**: from the Airflow connection `eduhub_warehouse`.
- **Rendering**: from `dbt_project/target/manifest.json` (made by `eduhub dbt parse`),
  so loading this DAG runs no dbt command and touches no database.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup

from eduhub import dag_support, transform
from eduhub.dag_support import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="transform_warehouse",
    # any landing DAG's new data triggers a run
    schedule=(dag_support.RAW_SCHOOL_MANAGEMENT | dag_support.RAW_UNIVERSAL_EDUCATION
              | dag_support.RAW_POPULATION),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["eduhub", "transformation", "dbt"],
    doc_md=__doc__,
)
def transform_warehouse():
    @task(outlets=[dag_support.MARTS, dag_support.SCHOOL_PERSONS])
    def publish() -> None:
        """Marks the models as refreshed: the population verification follows on from here."""

    @task
    def prepare_raw_tables() -> None:
        transform.ensure_raw_tables(dag_support.warehouse_url())

    (prepare_raw_tables() >> DbtTaskGroup(group_id="dbt", **transform.cosmos_arguments())
     >> publish())


transform_warehouse()
