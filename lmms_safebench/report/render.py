"""Tables (Markdown, CSV, HTML) and radar charts (PNG)."""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from pathlib import Path

import numpy as np


def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def with_ci(value: float, ci: tuple[float, float]) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.1f} [{fmt(ci[0])}, {fmt(ci[1])}]"


def with_ci_n(value: float, ci: tuple[float, float] | None, n: int | None) -> str:
    """``value [low, high] n=N`` (the parts there are); ``n/a`` when nothing was measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = with_ci(value, ci) if ci is not None else fmt(value)
    return text + (f" n={n}" if n is not None else "")


def is_na(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == "n/a"


def without_empty_columns(header: list[str], rows: list[list], keep: int = 1) -> tuple[list[str], list[list]]:
    """``header`` and ``rows`` without the columns that are n/a in every row (the first ``keep`` always stay)."""
    kept = [i for i in range(len(header)) if i < keep or any(not is_na(row[i]) for row in rows)]
    return [header[i] for i in kept], [[row[i] for i in kept] for row in rows]


class Table:
    def __init__(self, title: str, header: list[str], rows: list[list], note: str = ""):
        self.title, self.header, self.rows, self.note = title, header, rows, note

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        if self.note:
            lines += [self.note, ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "---|" * len(self.header))
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in row) + "</tr>" for row in self.rows)
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return f"<h3>{html.escape(self.title)}</h3>{note}<table><tr>{head}</tr>{body}</table>"


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if (isinstance(c, float) and math.isnan(c)) else c for c in row])


def radar_png(title: str, axes: list[str], series: dict[str, list[float]], path: Path) -> None:
    """One polygon per model over ``axes`` (scenarios), values 0-100, like the papers' figures."""
    import matplotlib  # heavy: only when a chart is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False).tolist()
    fig = plt.figure(figsize=(7.5, 7.5))
    ax = fig.add_subplot(projection="polar")
    for name, values in series.items():
        closed = [0.0 if math.isnan(v) else v for v in values]
        ax.plot(angles + angles[:1], closed + closed[:1], linewidth=1.5, label=name)
        ax.fill(angles + angles[:1], closed + closed[:1], alpha=0.1)
    ax.set_xticks(angles)
    ax.set_xticklabels(axes, fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10, pad=20)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def png_data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


HTML_HEAD = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 7px;font-size:13px;text-align:right}} th{{background:#f3f3f3}}
td:first-child,th:first-child{{text-align:left}} code{{background:#f6f6f6}} img{{max-width:700px}}
.warn{{color:#a40}}</style></head><body>"""


def html_page(title: str, sections: list[str]) -> str:
    buffer = io.StringIO()
    buffer.write(HTML_HEAD.format(title=html.escape(title)))
    buffer.write(f"<h1>{html.escape(title)}</h1>")
    for section in sections:
        buffer.write(section)
    buffer.write("</body></html>\n")
    return buffer.getvalue()
