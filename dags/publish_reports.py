"""
### Lập báo cáo gửi đi (.docx và .pdf)

After each publication of the marts (`transform_warehouse` emits the asset `marts`), writes
the Sở's reports of the published school year and term, each as `.docx` (from the Word
template a staff member may edit, `plugins/eduhub/reports/templates/bao_cao.docx`) and `.pdf`:

- **thống kê** (statistics forms) of the province and of every commune;
- **chất lượng dữ liệu** (the data-quality review: completeness, the đúng-đủ-sạch-sống
  scorecard with its chart, the units furthest below target) of the province and of every
  commune;
- **kế hoạch kiểm tra** (the year's 30% inspection sample) and **tổng hợp kiểm tra** (visits
  done, findings, follow-ups due) of the province;
- **biên bản kiểm tra** (the visit record, pre-filled) of each school of the year's sample.

The schools' worklists (personal data) are not written here: a provincial staff member writes
them with `eduhub report danh-sach-loi`, and the warehouse records who did.

- **Where**: `EDUHUB_REPORTS_DIR/<kind>/<school year>/`, named after kind, unit, school year,
  term and date, and listed in `manifest.json` there. A re-run of the day writes the same
  files again.
- By hand: `eduhub report <kind> --unit province|COMMUNE|SCHOOL --out DIR` (docs/reports.md).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="publish_reports",
    dag_display_name=DISPLAY_NAMES["publish_reports"],
    schedule=[dag_support.MARTS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    user_defined_macros=USER_DEFINED_MACROS,
    tags=["eduhub", "reports"],
    doc_md=__doc__,
)
def publish_reports():
    @task(multiple_outputs=False)
    def write_reports() -> dict:
        from eduhub import reports, settings

        day = dag_support.run_day(get_current_context())
        done = reports.publish_due(dag_support.warehouse_url(), settings.REPORTS_DIR, day)
        return {"reports": len(done), "folder": str(settings.REPORTS_DIR),
                "files": [f"{d.docx.name} (+ .pdf)" for d in done]}

    write_reports()


publish_reports()
