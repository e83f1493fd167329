"""A `Report` as .docx: the Sở's Word template (docxtpl) filled with the report's sections.

The template (`templates/bao_cao.docx`) holds the official frame: issuing body and national
motto, number and date lines, title, page numbers in the footer, the recipients and the
signature block, in Times New Roman 13; `templates/bien_ban.docx` the same frame for a record
two sides sign. A Sở staff member may edit them in Word (layout, the signer's title, the
recipients) as long as the `{{ … }}` fields stay; `build_template()` (`minutes=True`) writes
the originals again. The sections come in as a sub-document at `{{p body }}`.
"""

from __future__ import annotations

from pathlib import Path

from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from eduhub.reports.document import MOTTO, NATIONAL_NAME, Report, Table

TEMPLATE = Path(__file__).parent / "templates" / "bao_cao.docx"
# a record signed by two sides (biên bản kiểm tra): the other side signs where a report lists
# its recipients
MINUTES_TEMPLATE = Path(__file__).parent / "templates" / "bien_ban.docx"
FONT = "Times New Roman"
TEXT_WIDTH_CM = 16.5  # A4 less the margins of 3 and 1.5 cm


def _font(style_or_run, size: float | None = None) -> None:
    font = style_or_run.font
    font.name = FONT
    if size:
        font.size = Pt(size)
    # East Asian and complex-script slots too, or Word falls back for some characters
    rpr = style_or_run.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(slot), FONT)


def _line(paragraph, text: str, *, bold=False, italic=False, size=None, break_after=False):
    run = paragraph.add_run(text)
    run.bold, run.italic = bold, italic
    if size:
        run.font.size = Pt(size)
    if break_after:
        run.add_break()
    return run


def _no_borders(table) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    table._tbl.tblPr.append(borders)


def _page_number(paragraph) -> None:
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def build_template(path: Path = TEMPLATE, minutes: bool = False) -> Path:
    """The Sở's report template (or, `minutes`, its two-signature record), from nothing
    (python-docx's blank document)."""
    from docx import Document

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin = section.bottom_margin = Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(1.5)
    _font(doc.styles["Normal"], 13)
    doc.styles["Normal"].paragraph_format.space_after = Pt(3)

    head = doc.add_table(rows=1, cols=2)
    _no_borders(head)
    left, right = head.rows[0].cells
    left.width, right.width = Cm(6.5), Cm(10)
    p = left.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _line(p, "{{ issuer_parent }}", size=12, break_after=True)
    _line(p, "{{ issuer }}", bold=True, size=12)
    p = left.add_paragraph("{{ number_line }}")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p = right.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _line(p, "{{ national_name }}", bold=True, size=12, break_after=True)
    _line(p, "{{ motto }}", bold=True)
    p = right.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _line(p, "{{ place_date }}", italic=True)

    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_before = Pt(12)
    _line(p, "{{ title }}", bold=True, size=14, break_after=True)
    _line(p, "{{ subtitle }}", bold=True)
    doc.add_paragraph("{{p body }}")

    sign = doc.add_table(rows=1, cols=2)
    _no_borders(sign)
    left, right = sign.rows[0].cells
    p = left.paragraphs[0]
    if minutes:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _line(p, "{{ witness_title }}", bold=True, break_after=True)
        _line(p, "(Ký, ghi rõ họ tên)", italic=True, size=12)
    else:
        _line(p, "Nơi nhận:", bold=True, italic=True, size=12)
        left.add_paragraph("{%p for recipient in recipients %}")
        p = left.add_paragraph()
        _line(p, "- {{ recipient }}", size=11)
        left.add_paragraph("{%p endfor %}")
    p = right.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _line(p, "{{ signer_title }}", bold=True, break_after=True)
    _line(p, "(Ký, ghi rõ họ tên, đóng dấu)", italic=True, size=12)

    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _page_number(footer)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    return path


def _repeat_header(row) -> None:
    properties = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    properties.append(header)


def _cell(cell, text: str, *, bold=False, right=False, size=10) -> None:
    p = cell.paragraphs[0]
    p.paragraph_format.first_line_indent = Cm(0)
    p.paragraph_format.space_after = Pt(0)
    if right:
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    run = p.add_run(text)
    run.bold = bold
    run.font.size = Pt(size)


def _add_table(doc, table: Table) -> None:
    caption = doc.add_paragraph()
    caption.paragraph_format.keep_with_next = True
    _line(caption, table.caption, bold=True)
    grid = doc.add_table(rows=1 + len(table.rows), cols=len(table.headers))
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    _repeat_header(grid.rows[0])
    widths = table.column_widths()
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = Cm(TEXT_WIDTH_CM * width / sum(widths))
    for cell, header in zip(grid.rows[0].cells, table.headers, strict=True):
        _cell(cell, header, bold=True)
    for row, values in zip(grid.rows[1:], table.rows, strict=True):
        for i, (cell, value) in enumerate(zip(row.cells, values, strict=True)):
            _cell(cell, value, right=i in table.numeric)
    if table.footnote():
        note = doc.add_paragraph()
        _line(note, table.footnote(), italic=True, size=10)


def render(report: Report, out: Path, template: Path | None = None) -> Path:
    from docxtpl import DocxTemplate

    template = template or (MINUTES_TEMPLATE if report.witness_title else TEMPLATE)
    tpl = DocxTemplate(str(template))
    body = tpl.new_subdoc()
    for section in report.sections:
        heading = body.add_paragraph()
        heading.paragraph_format.space_before = Pt(6)
        heading.paragraph_format.keep_with_next = True
        _line(heading, section.heading, bold=True)
        for text in section.paragraphs:
            p = body.add_paragraph(text)
            p.paragraph_format.first_line_indent = Cm(1)
            p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        for table in section.tables:
            _add_table(body, table)
        for chart in section.charts:
            body.add_picture(str(chart.image), width=Cm(15))
            caption = body.add_paragraph()
            caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
            _line(caption, chart.caption, italic=True, size=11)
    tpl.render({
        "issuer_parent": report.issuer_parent, "issuer": report.issuer,
        "national_name": NATIONAL_NAME,
        "motto": MOTTO, "number_line": report.number_line, "place_date": report.place_date,
        "title": report.title, "subtitle": report.subtitle, "body": body,
        "recipients": list(report.recipients), "signer_title": report.signer_title,
        "witness_title": report.witness_title,
    }, autoescape=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tpl.save(str(out))
    return out
