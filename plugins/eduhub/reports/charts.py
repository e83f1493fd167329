"""Charts of the reports, drawn once as PNG and placed in both formats."""

from __future__ import annotations

import functools
from pathlib import Path

from eduhub.reports.document import Chart, percent
from eduhub.reports.labels import CRITERIA

# 90% and 75%: the scorecard's colours (macro score_colour)
GREEN, AMBER = 0.90, 0.75
# Times New Roman's metric twin (Debian's fonts-liberation2), else a serif with Vietnamese
FONT_FAMILIES = ("Liberation Serif", "DejaVu Serif")


@functools.cache
def font_family() -> list[str]:
    """The families of FONT_FAMILIES matplotlib can use. A font installed after matplotlib
    cached its font list (`make system-deps` after a first run) is added from the system's
    folders; naming a missing family made matplotlib warn at every label it drew."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if not set(FONT_FAMILIES) <= known:
        for path in font_manager.findSystemFonts():
            if any(name.replace(" ", "") in Path(path).name for name in FONT_FAMILIES):
                font_manager.fontManager.addfont(path)
        known = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in FONT_FAMILIES if f in known] + ["serif"]


def prepare() -> None:
    """matplotlib imported and the fonts found now (seconds), not by the first chart drawn:
    a server calls it before it answers."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: F401

    font_family()


def scorecard_chart(scores: dict[str, float], out: Path) -> Chart:
    """A bar per criterion (đúng, đủ, sạch, sống), coloured as the scorecard colours it."""
    import matplotlib

    matplotlib.use("Agg")  # no screen
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter

    labels = list(CRITERIA.values())
    values = [float(scores[c]) if scores.get(c) is not None else 0.0 for c in CRITERIA]
    colours = ["#2e7d32" if v >= GREEN else "#f9a825" if v >= AMBER else "#c62828"
               for v in values]
    plt.rcParams["font.family"] = font_family()
    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=150)
    bars = ax.bar(labels, values, color=colours)
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: percent(v, 0)))
    ax.set_ylabel("Điểm (đạt / áp dụng)")
    ax.axhline(GREEN, color="#555555", linewidth=0.8, linestyle="--")
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, value + 0.02, percent(value),
                ha="center", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)
    return Chart("Điểm chất lượng dữ liệu theo tiêu chí (vạch đứt: mức xanh 90%)", out)
