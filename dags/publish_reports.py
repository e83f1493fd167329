"""
### Lập báo cáo gửi đi (.docx và .pdf)

After each publication of the marts (`transform_warehouse` emits the asset `marts`), and each
morning in the week before a reporting deadline of the school calendar (18 January, 7 June by
default: the reports are ready even when no publication came that day), writes the Sở's
reports of the published school year and term, each as `.docx` (from the Word template a staff
member may edit, `plugins/eduhub/reports/templates/bao_cao.docx`) and `.pdf`:

- **thống kê** (the Thông tư 25/2024 forms, as frozen at the latest data date: 30 September,
  31 May) of the province and of every commune, and of every school on the day the figures
  are frozen;
- **chất lượng dữ liệu** (the data-quality review: completeness, the đúng-đủ-sạch-sống
  scorecard with its chart, the units furthest below target) of the province and of every
  commune;
- **kế hoạch kiểm tra** (the year's 30% inspection sample) and **tổng hợp kiểm tra** (visits
  done, findings, follow-ups due) of the province;
- **biên bản kiểm tra** (the visit record, pre-filled) of each school of the year's sample.

The schools' worklists (personal data) are not written here: a provincial staff member writes
them with `eduhub report danh-sach-loi`, and the warehouse records who did.

- **A timed morning** outside that week, or before anything is published, writes nothing
  (the task is skipped, and says why).
- **Where**: `EDUHUB_REPORTS_DIR/<kind>/<school year>/`, named after kind, unit, school year,
  term and date, and listed in `manifest.json` there. A re-run of the day writes the same
  files again.
- By hand: `eduhub report <kind> --unit province|COMMUNE|SCHOOL --out DIR` (docs/reports.md).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from eduhub import dag_support
from eduhub.dag_support import DEFAULT_ARGS, DISPLAY_NAMES, START_DATE, USER_DEFINED_MACROS


@dag(
    dag_id="publish_reports",
    dag_display_name=DISPLAY_NAMES["publish_reports"],
    # each publication, and a morning check of the calendar's deadlines
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone=dag_support.TIMEZONE),
        assets=dag_support.MARTS),
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

        context = get_current_context()
        day, url = dag_support.run_day(context), dag_support.warehouse_url()
        # the morning check, not a publication: only in a deadline's week
        if context["dag_run"].run_type == "scheduled" and (why := reports.not_due(url, day)):
            raise AirflowSkipException(why)
        done = reports.publish_due(url, settings.REPORTS_DIR, day)
        return {"reports": len(done), "folder": str(settings.REPORTS_DIR),
                "files": [f"{d.docx.name} (+ .pdf)" for d in done]}

    write_reports()


publish_reports()
