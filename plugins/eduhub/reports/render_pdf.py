"""A `Report` as PDF, typeset by Typst (the `typst` package: the compiler in a wheel, offline).

Times New Roman's metric twin Liberation Serif (Debian's fonts-liberation2, `make
system-deps`) is embedded, so every Vietnamese glyph prints and the layout matches the Word
file's. The official frame: issuing body and national motto side by side, number and date
lines, the title, page numbers, tables whose header row repeats on every page, the signature
block left for the signer.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from eduhub.reports.document import MOTTO, NATIONAL_NAME, Report, Table

FONT_DIRS = ("/usr/share/fonts/truetype/liberation2", "/usr/share/fonts/truetype/liberation",
             "/usr/share/fonts/truetype/msttcorefonts")
FONTS = '("Times New Roman", "Liberation Serif")'
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def s(text: str) -> str:
    """A Typst string literal (shown as plain text: nothing in it is markup)."""
    text = _CONTROL.sub(" ", str(text))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _table(table: Table) -> str:
    n = len(table.headers)
    widths = ", ".join(f"{w}fr" for w in table.column_widths())
    align = ", ".join("right" if i in table.numeric else "left" for i in range(n))
    header = ", ".join(f"[*#{s(h)}*]" for h in table.headers)
    cells = ",\n  ".join(", ".join(s(c) for c in row) for row in table.rows)
    # a block, so that what follows (a section's heading) starts a paragraph of its own
    note = (f"\n#block[#text(size: 10pt, style: \"italic\")[#{s(table.footnote())}]]"
            if table.footnote() else "")
    return (f"#block(breakable: false, sticky: true)[#text(weight: \"bold\")[#{s(table.caption)}]]\n"
            f"#text(size: 9.5pt)[#set par(justify: false, first-line-indent: 0pt)\n"
            f"#table(columns: ({widths}), align: ({align},), inset: 4pt,\n"
            f"  table.header(repeat: true, {header}),\n  {cells}{',' if cells else ''}\n)]"
            f"{note}\n")


def source(report: Report, images: dict[Path, str]) -> str:
    parts = [f"""#set document(title: {s(report.subtitle)}, author: {s(report.issuer)})
#set page(paper: "a4", flipped: {"true" if report.landscape else "false"},
          margin: (top: 2cm, bottom: 2cm, left: 3cm, right: 1.5cm),
          numbering: "1", number-align: center + bottom)
#set text(font: {FONTS}, size: 13pt, lang: "vi")
#set par(justify: true, first-line-indent: (amount: 1cm, all: true), spacing: 0.8em)
#[#set par(justify: false)
#grid(columns: (1fr, 1.45fr), align: center + top, row-gutter: 0.5em,
  [#text(size: 12pt)[#{s(report.issuer_parent)}] \\
   #text(size: 12pt, weight: "bold")[#{s(report.issuer)}]
   #v(-0.6em) #line(length: 30%, stroke: 0.5pt)],
  [#text(size: 12pt, weight: "bold")[#{s(NATIONAL_NAME)}] \\
   #text(weight: "bold")[#{s(MOTTO)}] #v(-0.6em) #line(length: 45%, stroke: 0.5pt)],
  [#{s(report.number_line)}],
  [#text(style: "italic")[#{s(report.place_date)}]],
)]
#v(1em)
#align(center)[#text(size: 14pt, weight: "bold")[#{s(report.title)}] \\
  #text(weight: "bold")[#{s(report.subtitle)}]]
#v(0.5em)
"""]
    for section in report.sections:
        parts.append(f"#block(sticky: true)[#text(weight: \"bold\")[#{s(section.heading)}]]\n")
        parts += [f"#par[#{s(p)}]\n" for p in section.paragraphs]
        parts += [_table(t) for t in section.tables]
        for chart in section.charts:
            parts.append(f"#figure(image({s(images[chart.image])}, width: 15cm),"
                         f" caption: [#{s(chart.caption)}])\n")
    recipients = " \\\n".join(f"- #{s(r)}" for r in report.recipients)
    left = (f"""[#text(weight: "bold")[#{s(report.witness_title)}] \\
   #text(size: 12pt, style: "italic")[(Ký, ghi rõ họ tên)] #v(3cm)]"""
            if report.witness_title else
            f"""[#text(size: 12pt, weight: "bold", style: "italic")[Nơi nhận:] \\
   #text(size: 11pt)[{recipients}]]""")
    align = "center + top" if report.witness_title else "left + top"
    parts.append(f"""#v(1.5em)
#block(breakable: false)[#set par(first-line-indent: 0pt)
#grid(columns: (1fr, 1fr), align: ({align}, center + top),
  {left},
  [#text(weight: "bold")[#{s(report.signer_title)}] \\
   #text(size: 12pt, style: "italic")[(Ký, ghi rõ họ tên, đóng dấu)] #v(3cm)],
)]
""")
    return "".join(parts)


def render(report: Report, out: Path, workdir: Path) -> Path:
    import typst

    workdir.mkdir(parents=True, exist_ok=True)
    images = {}
    for section in report.sections:
        for chart in section.charts:
            name = chart.image.name
            if chart.image.parent != workdir:
                shutil.copy(chart.image, workdir / name)
            images[chart.image] = name
    typ = workdir / f"{out.stem}.typ"
    typ.write_text(source(report, images), encoding="utf-8")
    fonts = [d for d in FONT_DIRS if Path(d).is_dir()]
    out.parent.mkdir(parents=True, exist_ok=True)
    typst.compile(str(typ), output=str(out), root=str(workdir), font_paths=fonts)
    return out
