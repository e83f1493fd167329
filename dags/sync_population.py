"""
### Xác thực số định danh cá nhân với CSDLQG về dân cư

Verifies the personal IDs of new and changed persons of the school records (learners and
staff) against the population database's verification service, in batches of 100,
sharded into mapped tasks that share the pool `population` (the service's
rate limit; 429 answers are honoured through Retry-After). Answers land in
`raw.population__verifications`, keyed by a fingerprint of (ID, name, birth date, sex), so
unchanged persons are never asked about twice.

The answers are validated with Great Expectations (`expectations/population__verifications.json`;
a critical failure rejects the shards concerned and fails the run). Scheduled on the persons
that `transform_warehouse` publishes; when nobody is pending, the run is skipped and emits
nothing. Connection: `population`.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from eduhub import dag_support, settings
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="sync_population",
    dag_display_name=DISPLAY_NAMES["sync_population"],
    schedule=[dag_support.SCHOOL_PERSONS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "ingestion", "population"],
    doc_md=__doc__,
)
def sync_population():
    @task
    def plan_shards() -> list[dict]:
        from eduhub.pipelines import population as pv

        shards = pv.shard_count(len(pv.pending_persons(dag_support.warehouse_url())))
        return [{"shard": i, "shards": shards} for i in range(shards)]

    @task(multiple_outputs=False, pool=settings.POPULATION_POOL)
    def verify_shard(plan: dict) -> dict:
        from eduhub.pipelines import population as pv

        return pv.verify_shard(dag_support.source_client("population"),
                               dag_support.warehouse_url(), get_current_context()["run_id"],
                               plan["shard"], plan["shards"])

    shards = plan_shards()
    dag_support.migrate_warehouse() >> shards
    answers = verify_shard.expand(plan=shards)
    answers >> dag_support.validate_batch(("population",), dag_support.RAW_POPULATION)


sync_population()
