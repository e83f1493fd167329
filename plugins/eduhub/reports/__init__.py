"""The Sở's reports, as .docx (editable, from the Word template) and .pdf, from the marts.

    eduhub report thong-ke|chat-luong|ke-hoach-kiem-tra|tong-hop-kiem-tra
                  --unit province|COMMUNE|SCHOOL
                  [--year 2026-2027] [--term hk1] --out DIR

Files are named after unit, kind, school year, term and date (`document.Report.file_stem`)
and listed in `manifest.json` of the output folder, so next year's staff find last
January's report.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eduhub.reports import content, render_docx, render_pdf
from eduhub.reports.content import KINDS, ReportError

__all__ = ["KINDS", "Generated", "ReportError", "generate"]

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
    _list(out, generated)
    return generated


def _list(out: Path, generated: Generated) -> None:
    path = out / MANIFEST
    entries = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    entry = generated.entry(out)
    key = ("kind", "unit_code", "school_year", "term", "issued_on")
    entries = [e for e in entries if tuple(e[k] for k in key) != tuple(entry[k] for k in key)]
    entries.append(entry)
    entries.sort(key=lambda e: (e["issued_on"], e["kind"], e["unit_code"]))
    path.write_text(json.dumps(entries, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def manifest(out: Path) -> list[dict]:
    path = Path(out) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def publish_due(url: str, out: Path, issued_on: dt.date) -> list[Generated]:
    """What the Sở sends after a publication: statistics and the data-quality review of the
    province and of every commune, and the province's inspection plan and summary (the DAG
    `publish_reports`): the communes are those the statistics publish."""
    from eduhub import warehouse

    with warehouse.connect(url) as conn:
        communes = [r[0] for r in conn.execute(
            "select distinct unit_code from marts.statistics_schools"
            " where aggregation_level = 'xa' order by 1")]
    jobs = [("thong-ke", u) for u in ("province", *communes)]
    jobs += [("chat-luong", u) for u in ("province", *communes)]
    jobs += [("ke-hoach-kiem-tra", "province"), ("tong-hop-kiem-tra", "province")]
    return [generate(url, kind, unit, out, issued_on=issued_on) for kind, unit in jobs]
