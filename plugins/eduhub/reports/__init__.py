"""The Sở's reports, as .docx (editable, from the Word template) and .pdf, from the marts.

    eduhub report thong-ke|chat-luong|ke-hoach-kiem-tra|tong-hop-kiem-tra|bien-ban-kiem-tra
                  --unit province|COMMUNE|SCHOOL
                  [--year 2026-2027] [--term hk1] --out DIR
    eduhub report danh-sach-loi --unit SCHOOL|all --out DIR

Files are named after unit, kind, school year, term and date (`document.Report.file_stem`)
and listed in `manifest.json` of the output folder, so next year's staff find last
January's report. The schools' worklists (`danh-sach-loi`, `worklist`) are listed there too,
marked as personal data, in a folder per school.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eduhub.reports import content, render_docx, render_pdf, worklist
from eduhub.reports.content import KINDS, ReportError

__all__ = ["KINDS", "Generated", "ReportError", "generate", "generate_worklists"]

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Generated:
    kind: str
    unit_code: str
    unit_name: str
    school_year: str
    term: str | None
    issued_on: str
    docx: Path
    pdf: Path

    def entry(self, out: Path) -> dict:
        return {"kind": self.kind, "unit_code": self.unit_code, "unit_name": self.unit_name,
                "school_year": self.school_year, "term": self.term,
                "issued_on": self.issued_on, "docx": self.docx.relative_to(out).as_posix(),
                "pdf": self.pdf.relative_to(out).as_posix()}


def generate(url: str, kind: str, unit: str, out: Path, school_year: str | None = None,
             term: str | None = None, issued_on: dt.date | None = None) -> Generated:
    """Write one report in both formats (again, the same, if it exists) and list it."""
    issued_on = issued_on or dt.date.today()
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="eduhub-report-") as scratch:
        report = content.build(url, kind, unit, school_year, term, issued_on, Path(scratch))
        folder = out / report.kind / report.school_year
        stem = report.file_stem()
        docx = render_docx.render(report, folder / f"{stem}.docx")
        pdf = render_pdf.render(report, folder / f"{stem}.pdf", Path(scratch) / "typst")
    generated = Generated(report.kind, report.unit_code, report.unit_name, report.school_year,
                          report.term, issued_on.isoformat(), docx, pdf)
    _list(out, generated.entry(out))
    return generated


def generate_worklists(url: str, unit: str, out: Path, issued_on: dt.date | None = None
                       ) -> list[worklist.GeneratedWorklist]:
    """The worklist of one school, or of every school with a failing record (`all`), each
    recorded by the warehouse against the login that asked (provincial role only)."""
    from eduhub import warehouse

    out = Path(out)
    if unit == "all":
        with warehouse.connect(url) as conn:
            schools = [r[0] for r in conn.execute(
                "select distinct school_code from audit.quality_failures"
                " where school_code is not null order by 1")]
    else:
        schools = [unit]
    done = []
    for school in schools:
        generated = worklist.generate(url, school, out, issued_on)
        _list(out, generated.entry(out))
        done.append(generated)
    return done


def _list(out: Path, entry: dict) -> None:
    path = out / MANIFEST
    entries = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    key = ("kind", "unit_code", "school_year", "term", "issued_on")
    entries = [e for e in entries if tuple(e[k] for k in key) != tuple(entry[k] for k in key)]
    entries.append(entry)
    entries.sort(key=lambda e: (e["issued_on"], e["kind"], e["unit_code"]))
    path.write_text(json.dumps(entries, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def manifest(out: Path) -> list[dict]:
    path = Path(out) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


# A timed run of `publish_reports` writes the reports when a reporting deadline of the school
# calendar is this many days ahead or fewer (the reports are ready before it, even on a day
# without a publication).
DEADLINE_LEAD_DAYS = 7


def deadline_ahead(day: dt.date, lead_days: int = DEADLINE_LEAD_DAYS):
    """The report of the school calendar (`school_calendar.Report`) due within the lead days
    from `day`, or None."""
    from eduhub import school_calendar

    return school_calendar.calendar().year_of(day).report_due_within(day, lead_days)


def not_due(url: str, day: dt.date) -> str | None:
    """Why a timed run of `publish_reports` on `day` writes nothing (no deadline within the lead
    days, or nothing published yet), or None when it writes the reports."""
    from eduhub import warehouse

    due = deadline_ahead(day)
    if due is None:
        return f"no reporting deadline within {DEADLINE_LEAD_DAYS} days of {day}"
    with warehouse.connect(url) as conn:
        try:
            content.latest_term(conn)
        except ReportError:
            return f"{due.report_name} due {due.deadline}: nothing published yet to report from"
    return None


def publish_due(url: str, out: Path, issued_on: dt.date) -> list[Generated]:
    """What the Sở sends after a publication (the DAG `publish_reports`): the statistics of the
    latest data date frozen (none before the first, 30 September) of the province and of every
    commune, and of every school on the day the figures were frozen (they do not change after);
    the data-quality review of the province and of every commune; the province's inspection
    plan and summary; and the visit record of each school of the year's sample, pre-filled with
    the day's figures. The communes are those the statistics publish."""
    from eduhub import warehouse

    with warehouse.connect(url) as conn:
        communes = [r[0] for r in conn.execute(
            "select distinct unit_code from marts.statistics_schools"
            " where aggregation_level = 'xa' order by 1")]
        school_year, _ = content.latest_term(conn)
        sampled = [r[0] for r in conn.execute(
            "select school_code from marts.inspection_sample where school_year = %s"
            " order by 1", (school_year,))]
        try:
            _, _, frozen_on = content.frozen_data_point(conn, school_year, None)
        except ReportError:
            frozen_on = None  # before the first data date: no statistics report yet
        schools = [r[0] for r in conn.execute(
            "select unit_code from marts.statistics_schools"
            " where aggregation_level = 'truong' order by 1")] if frozen_on == issued_on else []
    jobs = [("thong-ke", u) for u in ("province", *communes, *schools)] if frozen_on else []
    jobs += [("chat-luong", u) for u in ("province", *communes)]
    jobs += [("ke-hoach-kiem-tra", "province"), ("tong-hop-kiem-tra", "province")]
    jobs += [("bien-ban-kiem-tra", school) for school in sampled]
    done, refused = [], []
    for kind, unit in jobs:
        try:
            done.append(generate(url, kind, unit, out, issued_on=issued_on))
        except ReportError as exc:  # one unit's report does not hold back the others'
            refused.append(f"{kind} {unit}: {exc}")
    if refused:
        raise ReportError(f"{len(refused)} of {len(jobs)} reports not written "
                          f"({len(done)} written): " + "; ".join(refused))
    return done
