"""
### Đồng bộ phần mềm quản trị nhà trường (school management systems)

Daily sync of the school management vendors into `raw`, one mapped task per school.

- **Sources**: vendor A (connection `sms_vendor_a`).
- **Lands** `raw.sms_vendor_a__schools`, `raw.sms_vendor_a__learners` (batch id = run id);
  malformed records go to `ops.quarantine`.
- **Validates** the batch with the Great Expectations suite
  `expectations/sms_vendor_a__learners.json`; results in `quality.validation_results`.
- **Emits** the raw assets that `transform_warehouse` is scheduled on.

**Incremental** by watermark per school (`ops.watermarks`); a **full refresh** (param
`full_refresh`, and every Sunday) re-reads everything and marks what the source no
longer lists as deleted. Re-running any task or the whole run is safe: landing adds only
records that changed. Counts, drift and quarantine: `ops.source_counts`,
`ops.schema_drift`, `ops.quarantine`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="sync_school_management",
    schedule="0 1 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["eduhub", "ingestion", "school-management"],
    doc_md=__doc__,
    params={"full_refresh": Param(False, type="boolean",
                                  description="Đọc lại toàn bộ dữ liệu (phát hiện bản ghi bị xóa)")},
)
def sync_school_management():
    @task(outlets=[dag_support.RAW_SMS_VENDOR_A_SCHOOLS])
    def land_vendor_a_schools() -> list[str]:
        from eduhub.hooks import SmsVendorAHook
        from eduhub.pipelines import school_management

        run_id = get_current_context()["run_id"]
        return school_management.land_vendor_a_schools(
            SmsVendorAHook().get_client(), dag_support.warehouse_url(), run_id)

    @task(multiple_outputs=False, max_active_tis_per_dagrun=4)
    def land_vendor_a_learners(school_code: str) -> dict:
        from eduhub.hooks import SmsVendorAHook
        from eduhub.pipelines import school_management

        context = get_current_context()
        result = school_management.land_vendor_a_learners(
            SmsVendorAHook().get_client(), dag_support.warehouse_url(), context["run_id"],
            school_code, full_refresh=dag_support.is_full_refresh(context))
        return {"received": result.received, "landed": result.landed,
                "quarantined": result.quarantined, "deleted": result.deleted,
                "drift": len(result.drift)}

    @task(multiple_outputs=False, outlets=[dag_support.RAW_SMS_VENDOR_A_LEARNERS])
    def validate_vendor_a_learners() -> dict:
        from eduhub import validation

        run_id = get_current_context()["run_id"]
        result = validation.validate_batch("sms_vendor_a__learners", dag_support.warehouse_url(),
                                           run_id)
        validation.raise_on_critical(result)
        return {"expectations": len(result.outcomes), "warnings": len(result.warnings)}

    landed = land_vendor_a_learners.expand(school_code=land_vendor_a_schools())
    landed >> validate_vendor_a_learners()


sync_school_management()
