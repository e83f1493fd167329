"""
### Ghép nối danh tính (identity matching) → bảng người

Runs after each population verification sync (asset `raw.population`): the school person
records that have no usable personal ID, or whose verification did not answer "match", and
are new or changed since the last run, are matched probabilistically (Splink on DuckDB) to the
PCGD-XMC residents and to the other schools' records. Links at or above the acceptance
threshold are accepted, those in the band below go to `pii.match_review_queue`, the rest stay
unmatched with the reason; then `pii.person_records` and `pii.persons` are rebuilt (one row
per real person). Details: `docs/identity.md`.

- **Params**: `full_refresh` (match every record again; also every Sunday), `retrain`
  (train the model again; the stored one in `pii.match_models` is used otherwise).
- **Secret**: the pseudonym key, `EDUHUB_PSEUDONYM_KEY`, the file `EDUHUB_PSEUDONYM_KEY_FILE`
  names, or the Airflow variable `eduhub_pseudonym_secret`. Connection: `eduhub_warehouse`.
- Emits `pii.persons`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="match_identities",
    dag_display_name=DISPLAY_NAMES["match_identities"],
    schedule=[dag_support.RAW_POPULATION],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "identity"],
    doc_md=__doc__,
    params={
        "full_refresh": Param(False, type="boolean",
                              description="Ghép nối lại mọi bản ghi (không chỉ bản ghi mới, đổi)"),
        "retrain": Param(False, type="boolean", description="Huấn luyện lại mô hình ghép nối"),
    },
)
def match_identities():
    @task(multiple_outputs=False, outlets=[dag_support.PERSONS])
    def match() -> dict:
        from eduhub.pipelines import identity

        context = get_current_context()
        result = identity.match(dag_support.warehouse_url(), context["run_id"],
                             full=dag_support.is_full_refresh(context),
                             retrain=bool(context["params"].get("retrain")))
        dag_support.emit_day(context, dag_support.PERSONS)
        return result

    dag_support.migrate_warehouse() >> match()


match_identities()
