"""
### Đồng bộ hệ thống phổ cập giáo dục, xóa mù chữ (PCGD-XMC)

Daily sync of the PCGD-XMC household census into `raw.pcgd__households` (residents
nested), one mapped task per commune, incremental by watermark per commune (full refresh
with the param `full_refresh` and every Sunday; a full read that would delete more than 5%
of a commune's households at once is held until a run with the param `accept_deletions`).
The batch is validated with Great Expectations (`expectations/pcgd__households.json`; a
critical failure rejects the communes concerned and fails the run), then emits `raw.pcgd`,
on which `transform_warehouse` is scheduled. Connection: `pcgd`.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="sync_pcgd",
    dag_display_name=DISPLAY_NAMES["sync_pcgd"],
    schedule="30 0 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "ingestion", "pcgd-xmc"],
    doc_md=__doc__,
    params=dag_support.LANDING_PARAMS,
)
def sync_pcgd():
    @task
    def list_communes() -> list[str]:
        from eduhub.pipelines import pcgd

        return pcgd.commune_codes(dag_support.source_client("pcgd"))

    @task(multiple_outputs=False, max_active_tis_per_dagrun=4)
    def sync_commune(commune_code: str) -> dict:
        from eduhub.pipelines import pcgd

        context = get_current_context()
        result = pcgd.land_commune(
            dag_support.source_client("pcgd"), dag_support.warehouse_url(), context["run_id"],
            commune_code, full_refresh=dag_support.is_full_refresh(context),
            accept_deletions=dag_support.accepts_deletions(context))
        return {"received": result.received, "landed": result.landed,
                "quarantined": result.quarantined, "deleted": result.deleted}

    communes = list_communes()
    dag_support.migrate_warehouse() >> communes
    landed = sync_commune.expand(commune_code=communes)
    landed >> dag_support.validate_batch(("pcgd",), dag_support.RAW_PCGD)


sync_pcgd()
