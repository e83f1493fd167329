"""
### Đồng bộ phần mềm quản trị nhà trường (school management systems)

Daily sync of the school management systems into `raw`, one mapped task per school.

- **School registry** first (connection `school_registry`): the Sở's list of education units
  (code, name, level, public or private, commune, managing unit, the channel each unit
  reports through, opened and closed dates) → `raw.school_registry__units`, validated at
  once (`expectations/school_registry__units.json`). It is the reference for school identity:
  each school's managing unit (so the commune row access), and which drop folders may stand
  for a school. If it cannot be read, or is rejected, its task fails (the operators are told)
  and the run goes on with the registry validated before as the reference.
- **Vendor A** (connection `sms_vendor_a`) and **vendor B** (`sms_vendor_b`): the school
  list, then per school learners, classes, staff, facilities, results, health and digital
  transcripts → `raw.sms_vendor_<a|b>__<entity>`.
- **File drops**: xlsx class exports of schools without an API, from the drop folder
  (`EDUHUB_DROP_DIR`) → `raw.file_exports__learners`; each file once (`ops.files`); a folder
  that is not a registered class-export school waits (`held`) and is named.
- **Incremental** by watermark per school and entity (`ops.watermarks`); a **full
  refresh** (param `full_refresh`, and every Sunday) re-reads everything and marks what the
  source no longer lists as deleted; more than 5% of a school's records at once is held (a
  short read?) and rejected until a run with the param `accept_deletions`.
- Bookkeeping: `ops.batches`, `ops.source_counts` (reported vs landed), `ops.schema_drift`,
  `ops.quarantine` (malformed records, never dropped).
- **Validates** the run's batch with Great Expectations (`expectations/`, results in
  `quality`, Data Docs in `.eduhub/data_docs`): a critical failure marks the partitions
  concerned `rejected` in `ops.batches` (they stay landed, the models skip them) and fails the
  run; otherwise emits the asset `raw.school_management` that `transform_warehouse` is
  scheduled on.

Re-running any task or the whole run is safe: landing adds only records that changed.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS

# the sources this DAG lands: their suites in expectations/ validate the run's batch
SOURCES = ("sms_vendor_a", "sms_vendor_b", "file_exports")


@dag(
    dag_id="sync_school_management",
    dag_display_name=DISPLAY_NAMES["sync_school_management"],
    schedule="0 1 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "ingestion", "school-management"],
    doc_md=__doc__,
    params=dag_support.LANDING_PARAMS,
)
def sync_school_management():
    @task
    def list_schools(source: str) -> list[dict]:
        from eduhub.pipelines import school_management

        client = dag_support.source_client(source)
        context = get_current_context()
        codes = school_management.land_schools(
            source, client, dag_support.warehouse_url(), context["run_id"],
            accept_deletions=dag_support.accepts_deletions(context))
        return [{"source": source, "school_code": code} for code in codes]

    @task(multiple_outputs=False, max_active_tis_per_dagrun=4)
    def sync_school(target: dict) -> dict:
        from eduhub.pipelines import school_management

        context = get_current_context()
        results = school_management.land_school(
            target["source"], dag_support.source_client(target["source"]),
            dag_support.warehouse_url(), context["run_id"], target["school_code"],
            full_refresh=dag_support.is_full_refresh(context),
            accept_deletions=dag_support.accepts_deletions(context))
        return school_management.summary(results)

    @task(multiple_outputs=False, task_display_name="Đồng bộ danh mục đơn vị của Sở")
    def sync_school_registry() -> dict:
        from eduhub import validation
        from eduhub.pipelines import school_registry

        context = get_current_context()
        result = school_registry.land_units(
            dag_support.source_client("school_registry"), dag_support.warehouse_url(),
            context["run_id"], accept_deletions=dag_support.accepts_deletions(context))
        # validated now, so that the drop folders are checked against it in this run; a
        # rejection fails this task (the operators are told) and the rest of the run goes on
        # with the registry validated before
        checked = validation.validate_sources(dag_support.warehouse_url(), context["run_id"],
                                              ("school_registry",),
                                              as_of=dag_support.run_day(context))
        validation.fail_task_on_critical(checked)
        return {"received": result.received, "landed": result.landed,
                "deleted": result.deleted, **validation.summary(checked)}

    # the drop folders are checked against the registry validated last, even if today's read
    # failed
    @task(multiple_outputs=False, trigger_rule="all_done")
    def land_file_drops() -> dict:
        from eduhub import settings
        from eduhub.pipelines import file_exports

        summary = file_exports.land_file_drops(settings.DROP_DIR, dag_support.warehouse_url(),
                                             get_current_context()["run_id"])
        return {"landed": len(summary.landed), "skipped": len(summary.skipped),
                "rejected": summary.rejected}

    migrate = dag_support.migrate_warehouse()
    schools_a = list_schools.override(task_id="list_sms_vendor_a_schools")("sms_vendor_a")
    schools_b = list_schools.override(task_id="list_sms_vendor_b_schools")("sms_vendor_b")
    registry = sync_school_registry()
    drops = land_file_drops()
    migrate >> [registry, schools_a, schools_b]
    registry >> drops
    vendor_a = sync_school.override(task_id="sync_sms_vendor_a_school").expand(target=schools_a)
    vendor_b = sync_school.override(task_id="sync_sms_vendor_b_school").expand(target=schools_b)
    [vendor_a, vendor_b, drops] >> dag_support.validate_batch(
        SOURCES, dag_support.RAW_SCHOOL_MANAGEMENT)


sync_school_management()
