"""Safety beside over-refusal and capability: summary tables, the trade-off chart, the scenario heatmap and the rank
correlations, all pure functions of a list of :class:`~.scores.Score`.

Columns. A column is one (kind, board, metric, jury identity, dataset build): scores of different juries are never
in one column, and the jury's name is in every column's heading. Columns come in the order harm, over-refusal,
capability, then by board and metric.

Builds. Two scores of one board whose ``dataset`` differs (fingerprint, manifest, revision...) were measured on
different data. :func:`summary_tables` never puts them in one table: a board with several builds leaves the main
table and gets one table per build, whose note says why. A column with no measured value in its table is left out.

Trade-off chart (:func:`tradeoff_png`): one point per model, over-refusal rate (x) against harm rate (y), each with
its 95% interval as error bars, the ideal corner (0, 0) marked, and a capability score as the marker's area (a size legend
gives the values; a model without that score is drawn hollow). :func:`tradeoff_charts` draws one chart per pair of a
harm board and an over-refusal board that share a model (per jury and build), each board on its axis column
(:func:`chart_axes`: its first headline number that is a lower-is-better rate: ASR; MOSSBench benign and XSTest safe
Refusal %; XSTest unsafe Compliance %), with the capability column most of those models have. An MSSBench accuracy
or a refusal rate on harmful prompts is no such rate, and a board's other rates are in the tables, not on charts.

Heatmap (:func:`heatmap_png`): models x scenarios of one column. Its layout (:func:`heatmap_layout`) is computed in
inches and points from the number of rows and columns and the longest labels, so that each row is taller than its
label's font (30 models stay readable: the figure grows, the font shrinks to no less than 6 pt); values are written
in the cells only when the cell holds a 5-character number at a font of at least 6 pt.

Correlations (:func:`correlations`): Spearman's rho of each safety column (harm and over-refusal) with each
capability column over the models that have both, with n; shown from :data:`MIN_MODELS` models (below that a rank
correlation says next to nothing, and the row says so). Ranks are numpy average ranks (scipy is not a dependency);
the p-value is a two-sided permutation test: exact over all orderings up to :data:`EXACT_UP_TO` models, else
:data:`PERMUTATIONS` random orderings (seed 0).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import render
from .collect import slug
from .scores import CAPABILITY, HARM, KINDS, OVER_REFUSAL, SAFETY_KINDS, Score

MIN_MODELS = 5
EXACT_UP_TO = 8
PERMUTATIONS = 10_000
SEED = 0
MAX_SIZE = (24.0, 30.0)  # inches: past this, cells shrink (and values stop being written) rather than the figure grow
MIN_FONT = 6.0
CHAR_WIDTH = 0.6  # a character's width in em, for a sans-serif font
KIND_TITLES = {HARM: "harm", OVER_REFUSAL: "over-refusal", CAPABILITY: "capability"}


# ------------------------------------------------------------------------------------------ columns

@dataclass(frozen=True)
class Column:
    """One column of numbers: a metric of a board under one jury on one dataset build."""

    kind: str
    board: str
    metric: str
    jury_identity: str
    build: str
    title: str
    jury: str | None
    higher_is_better: bool | None
    terms: str
    notes: str
    build_label: str
    mark: str = ""  # "no calibration" or "stale calibration": the jury's calibration status, when it is not fresh

    @property
    def label(self) -> str:
        arrow = {True: " ↑", False: " ↓"}.get(self.higher_is_better, "")
        jury = f" (jury {self.jury}{'; ' + self.mark if self.mark else ''})" if self.jury else ""
        return f"{self.title} {self.metric}{arrow}{jury}"


MARKS = {"none": "no calibration", "stale": "stale calibration"}  # a score's calibration status -> its column's mark
MARK_MEANING = {"no calibration": "the jury has no calibration record, so how far its verdicts agree with human "
                                  "labels is unknown (`lmms-safebench jury calibrate`)",
                "stale calibration": "the jury's calibration is older than the report allows (--calibration-max-age); "
                                     "the judge may have changed since"}


def _mark(cells) -> str:
    """The mark of a column: its scores' calibration status (one jury, so one status) when it is not fresh."""
    found = {(s.calibration or {}).get("status") for s in cells}
    return next((MARKS[status] for status in MARKS if status in found), "")


def _key(score: Score) -> tuple:
    return score.kind, score.board, score.metric, score.jury_identity or "", score.build


def columns(scores: list[Score]) -> dict[Column, dict[str, Score]]:
    """``{column: {model: score}}`` in display order; one model twice in one column raises (which one to show?)."""
    grouped: dict[tuple, dict[str, Score]] = defaultdict(dict)
    for score in scores:
        cell = grouped[_key(score)]
        if score.model in cell:
            raise ValueError(f"two scores of {score.model!r} on {score.board!r} ({score.metric}, jury "
                             f"{score.jury_identity}, same dataset build): keep one (e.g. the newest run)")
        cell[score.model] = score
    names: dict[str, set[str]] = defaultdict(set)  # jury name -> identities: a shared name gets the identity added
    for score in scores:
        if score.jury:
            names[score.jury].add(score.jury_identity or "")
    out = {}
    for key in sorted(grouped, key=lambda k: (KINDS.index(k[0]), *k[1:])):
        first = next(iter(grouped[key].values()))
        jury = first.jury or (first.jury_identity[:12] if first.jury_identity else None)
        if first.jury and len(names[first.jury]) > 1:
            jury = f"{first.jury} {(first.jury_identity or '')[:8]}"
        terms = sorted({s.terms for s in grouped[key].values() if s.terms})
        notes = sorted({s.notes for s in grouped[key].values() if s.notes})
        out[Column(*key, title=first.title, jury=jury, higher_is_better=first.higher_is_better,
                   terms="; ".join(terms), notes="; ".join(notes), build_label=first.build_label(),
                   mark=_mark(grouped[key].values()))] = grouped[key]
    return out


def _digits(col: Column, cells: dict[str, Score]) -> int:
    """One decimal for percentages (every safety number is one, whatever its size: an ASR of 0.8% is no fraction);
    three for a capability column of fractions (lm-eval's acc)."""
    values = [abs(s.value) for s in cells.values() if s.measured]
    return 3 if col.kind == CAPABILITY and values and max(values) <= 1 else 1


def cell_text(score: Score | None, digits: int = 1) -> str:
    """``value [low, high] n=N``; ``n/a`` for no score or nothing measured."""
    if score is None or not score.measured:
        return "n/a"
    text = f"{score.value:.{digits}f}"
    if score.ci is not None:
        text += f" [{render.fmt(score.ci[0], digits)}, {render.fmt(score.ci[1], digits)}]"
    return text + (f" n={score.n}" if score.n is not None else "")


# ------------------------------------------------------------------------------------------ summary

def _juries(cols) -> str:
    """What a table's heading ends with: the names of the juries behind its columns (capability has none)."""
    names = sorted({c.jury for c in cols if c.jury})
    return f" ({'jury' if len(names) == 1 else 'juries'} {', '.join(names)})" if names else ""


def _table(title: str, cols: dict[Column, dict[str, Score]], why: str = "") -> render.Table | None:
    cols = {c: cells for c, cells in cols.items() if any(s.measured for s in cells.values())}  # no all-n/a column
    models = sorted({m for cells in cols.values() for m, s in cells.items() if s.measured})
    if not models:
        return None
    rows = [[model] + [cell_text(cells.get(model), _digits(col, cells)) for col, cells in cols.items()]
            for model in models]
    juries = sorted({f"{c.jury} = {c.jury_identity}" for c in cols if c.jury})
    lines = [why] if why else []
    lines.append("Each cell: value [95% CI] n=samples; rates in percent; ↓ lower is better, ↑ higher is better; "
                 "n/a: no score.")
    if juries:
        lines.append("Juries: " + "; ".join(juries) + ".")
    marks = sorted({c.mark for c in cols if c.mark})
    if marks:
        lines.append("Marks: " + "; ".join(f"{m}: {MARK_MEANING[m]}" for m in marks) + ".")
    lines += [f"{c.label}: {c.notes}." for c in cols if c.notes]
    terms = sorted({t for c in cols for t in c.terms.split("; ") if t})
    if terms:
        lines.append("Terms of use: " + "; ".join(terms) + ".")
    return render.Table(title + _juries(cols), ["model"] + [c.label for c in cols], rows, " ".join(lines))


def summary_tables(scores: list[Score]) -> list[render.Table]:
    """The summary: one row per model; a board run on several dataset builds gets one table per build (in the
    order the builds first come in ``scores``)."""
    cols = columns(scores)
    builds: dict[str, list[str]] = defaultdict(list)  # in the order the scores come
    for score in scores:
        if score.build not in builds[score.board]:
            builds[score.board].append(score.build)
    split = {board for board, found in builds.items() if len(found) > 1}
    tables = [_table("Safety, over-refusal and capability", {c: v for c, v in cols.items() if c.board not in split})]
    for board in sorted(split):
        labels = {c.build: c.build_label for c in cols if c.board == board}
        for number, build in enumerate(builds[board], 1):
            why = (f"{board} was run on {len(builds[board])} different builds of its data "
                   f"({'; '.join(labels[b] for b in builds[board])}): numbers on different builds are not "
                   f"comparable, so each build has its own table. This one: {labels[build]}.")
            tables.append(_table(f"{board}: build {number} of {len(builds[board])}",
                                 {c: v for c, v in cols.items() if c.board == board and c.build == build}, why))
    return [t for t in tables if t is not None]


# ------------------------------------------------------------------------------------------ charts

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def short_names(models: list[str]) -> dict[str, str]:
    """``org/model`` -> ``model`` where that stays unique."""
    tails = [m.rstrip("/").rsplit("/", 1)[-1] for m in models]
    return {m: (t if tails.count(t) == 1 else m) for m, t in zip(models, tails, strict=True)}


def _footer(cols: list[Column]) -> str:
    juries = sorted({f"jury {c.jury} = {c.jury_identity}" for c in cols if c.jury})
    terms = sorted({t for c in cols for t in c.terms.split("; ") if t})
    return "  ".join(juries + (["Terms of use: " + "; ".join(terms)] if terms else []))


def _errors(scores: list[Score]) -> np.ndarray:
    low = [s.value - s.ci[0] if s.ci else 0.0 for s in scores]
    high = [s.ci[1] - s.value if s.ci else 0.0 for s in scores]
    return np.maximum(np.array([low, high]), 0.0)


LABEL_OFFSETS = [(6, 5), (6, -11), (-6, 5), (-6, -11), (0, 10), (0, -16), (10, -3), (-10, -3)]  # points; sign of x:
# which side of the point the label is on


def _label_box(px: float, py: float, offset: tuple[int, int], width: float, height: float) -> tuple:
    """A label's box in points, ``offset`` from its point (left of it for a negative x, centred for 0)."""
    dx, dy = offset
    left = px + dx if dx > 0 else px + dx - width if dx < 0 else px - width / 2
    return left, py + dy, left + width, py + dy + height


def _overlap(box: tuple, others: list[tuple]) -> float:
    return sum(max(0.0, min(box[2], o[2]) - max(box[0], o[0])) * max(0.0, min(box[3], o[3]) - max(box[1], o[1]))
               for o in others)


def _place_labels(fig, ax, names: list[str], x, y, size: float) -> None:
    """Label each point where its text overlaps the markers and the labels already placed least (a greedy over a
    few offsets around the point), so that neighbouring models stay readable."""
    fig.canvas.draw()  # the axes limits, hence the data -> points transform, are final
    scale = 72 / fig.dpi
    points = [tuple(v * scale for v in ax.transData.transform((xi, yi))) for xi, yi in zip(x, y, strict=True)]
    placed = [(px - 8, py - 8, px + 8, py + 8) for px, py in points]  # the markers: a label should not hide one
    for index in sorted(range(len(names)), key=lambda i: (-y[i], x[i])):
        (px, py), width, height = points[index], len(names[index]) * size * CHAR_WIDTH, size * 1.1
        best = min(LABEL_OFFSETS, key=lambda o: _overlap(_label_box(px, py, o, width, height), placed))
        placed.append(_label_box(px, py, best, width, height))
        ax.annotate(names[index], (x[index], y[index]), xytext=best, textcoords="offset points", fontsize=size,
                    zorder=4, ha="left" if best[0] > 0 else "right" if best[0] < 0 else "center")


def tradeoff_png(cols: dict[Column, dict[str, Score]], path: str | Path, harm: Column, refusal: Column,
                 capability: Column | None = None) -> dict:
    """Draw the trade-off chart of ``harm`` (y) against ``refusal`` (x) for the models measured on both; returns
    what was drawn: ``models``, ``sizes`` (marker area per model, None for no capability score), ``capability``."""
    plt = _pyplot()
    models = sorted(m for m, s in cols[harm].items() if s.measured and m in cols[refusal]
                    and cols[refusal][m].measured)
    if not models:
        raise ValueError(f"no model has both {harm.label} and {refusal.label}")
    xs, ys = [cols[refusal][m] for m in models], [cols[harm][m] for m in models]
    caps = {m: s.value for m, s in (cols[capability] if capability else {}).items() if s.measured and m in models}
    low, high = (min(caps.values()), max(caps.values())) if caps else (0.0, 0.0)

    def area(value):
        return 200.0 if high == low else 40.0 + 360.0 * (value - low) / (high - low)

    sizes = {m: (area(caps[m]) if m in caps else None) for m in models}
    many = len(models) > 15
    fig, ax = plt.subplots(figsize=(10.5, 8.0) if many else (8.5, 6.5))
    label_size = 9 if len(models) <= 10 else 7.5 if len(models) <= 20 else 6.5
    x, y = np.array([s.value for s in xs]), np.array([s.value for s in ys])
    ax.errorbar(x, y, xerr=_errors(xs), yerr=_errors(ys), fmt="none", ecolor="#888", elinewidth=0.8, capsize=2,
                zorder=1)
    filled = [i for i, m in enumerate(models) if sizes[m] is not None]
    hollow = [i for i, m in enumerate(models) if sizes[m] is None]
    ax.scatter(x[filled], y[filled], s=[sizes[models[i]] for i in filled], color="#3465a4", alpha=0.75,
               edgecolor="black", linewidth=0.5, zorder=3)
    if hollow:
        ax.scatter(x[hollow], y[hollow], s=120, facecolor="none", edgecolor="#3465a4", linewidth=1.2, zorder=3,
                   label=f"no {capability.title} score" if capability else None)
    ax.scatter([0], [0], marker="*", s=320, color="gold", edgecolor="black", zorder=5, clip_on=False,
               label="ideal (0, 0): answers the benign, refuses the harmful")
    if caps:
        for value in sorted({low, (low + high) / 2, high}):
            ax.scatter([], [], s=area(value), color="#3465a4", alpha=0.75, edgecolor="black",
                       label=f"{capability.title} {capability.metric} = {value:.3g}")
    top_x = max([s.ci[1] if s.ci else s.value for s in xs] + [10.0])
    top_y = max([s.ci[1] if s.ci else s.value for s in ys] + [10.0])
    ax.set_xlim(-0.04 * top_x - 1, top_x * 1.12 + 1)
    ax.set_ylim(-0.04 * top_y - 1, top_y * 1.12 + 1)
    _place_labels(fig, ax, list(short_names(models).values()), x, y, label_size)
    ax.set_xlabel(f"over-refusal: {refusal.label} (%)", fontsize=10)
    ax.set_ylabel(f"harm: {harm.label} (%)", fontsize=10)
    ax.set_title(f"Safety against over-refusal: {harm.title} vs {refusal.title}"
                 + (f"; marker area = {capability.title}" if capability else ""), fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, labelspacing=1.3, borderpad=0.9, framealpha=0.9)
    footer = _footer([harm, refusal] + ([capability] if capability else []))
    fig.text(0.01, 0.005, footer, fontsize=7, wrap=True, va="bottom")
    fig.tight_layout(rect=(0, 0.04 if footer else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"models": models, "sizes": sizes, "capability": capability}


def chart_axes(cols: dict[Column, dict[str, Score]], kind: str) -> list[Column]:
    """The columns of ``kind`` that go on a trade-off axis: per board, jury and build, its first headline number
    (``Score.headline``; numbers without one after, by metric name) that is a lower-is-better rate, i.e. marked
    ``higher_is_better`` False and with an interval (a count such as MSSBench's unscored pairs has none). A board
    with none (MOSSBench's contrast set, whose refusal rates are higher-is-better; MSSBench's accuracies) is not
    charted."""
    chosen: dict[tuple, tuple] = {}
    for col, cells in cols.items():
        if col.kind != kind or col.higher_is_better is not False or not any(s.ci for s in cells.values()):
            continue
        places = [s.headline for s in cells.values() if s.headline is not None]
        rank = (min(places) if places else math.inf, col.metric)
        where = (col.board, col.jury_identity, col.build)
        if where not in chosen or rank < chosen[where][0]:
            chosen[where] = (rank, col)
    picked = {col for _, col in chosen.values()}
    return [col for col in cols if col in picked]  # in display order


def tradeoff_pairs(cols: dict[Column, dict[str, Score]]) -> list[tuple[Column, Column, Column | None]]:
    """``(harm, over-refusal, capability or None)`` of every chart: each harm axis against each over-refusal axis
    (:func:`chart_axes`) with a model in common, with the capability column most of those models have."""
    pairs = []
    for harm, refusal in itertools.product(chart_axes(cols, HARM), chart_axes(cols, OVER_REFUSAL)):
        common = {m for m, s in cols[harm].items() if s.measured} & {m for m, s in cols[refusal].items() if s.measured}
        if not common:
            continue
        ranked = sorted((c for c in cols if c.kind == CAPABILITY),
                        key=lambda c: (-len(common & {m for m, s in cols[c].items() if s.measured}), c.label))
        pairs.append((harm, refusal, ranked[0] if ranked and common & set(cols[ranked[0]]) else None))
    return pairs


def tradeoff_charts(scores: list[Score], folder: str | Path) -> list[Path]:
    """The trade-off charts of :func:`tradeoff_pairs`, one file each (module docstring)."""
    cols, folder, written = columns(scores), Path(folder), []
    for harm, refusal, capability in tradeoff_pairs(cols):
        tail = "_".join(slug(part) for part in (harm.board, refusal.board))
        path = folder / f"tradeoff_{tail}_{len(written) + 1}.png"
        tradeoff_png(cols, path, harm, refusal, capability)
        written.append(path)
    return written


@dataclass(frozen=True)
class HeatmapLayout:
    """Sizes in inches (figure, cells, margins) and points (fonts) of a heatmap."""

    figsize: tuple[float, float]
    row_height: float
    column_width: float
    margins: tuple[float, float, float, float]  # left, bottom, right, top
    label_fontsize: float  # model names
    scenario_fontsize: float
    annotate: bool
    annotate_fontsize: float




TITLE_FONT = 10.0


def heatmap_layout(n_models: int, n_scenarios: int, longest_model: int = 20, longest_scenario: int = 20,
                   title_length: int = 0) -> HeatmapLayout:
    """The heatmap's sizes (module docstring): rows at least 1.5 label fonts tall, fonts 6-9 pt, the figure at
    least as wide as its title (``title_length`` characters)."""
    label = max(MIN_FONT, 9.0 - 0.1 * max(0, n_models - 20))
    scenario = max(MIN_FONT, 9.0 - 0.05 * max(0, n_scenarios - 20))
    row, column = max(0.22, 1.5 * label / 72), 0.55
    left = longest_model * label * CHAR_WIDTH / 72 + 0.3
    bottom = longest_scenario * scenario * CHAR_WIDTH / 72 + 0.4  # labels turned 90 degrees
    right, top = 1.4, 0.9  # colour bar; title
    width, height = left + n_scenarios * column + right, bottom + n_models * row + top
    titled = min(left + title_length * TITLE_FONT * CHAR_WIDTH / 72 + 0.3, MAX_SIZE[0])  # the title starts over the cells
    if width < titled:
        column, width = (titled - left - right) / n_scenarios, titled
    if width > MAX_SIZE[0]:
        column, width = (MAX_SIZE[0] - left - right) / n_scenarios, MAX_SIZE[0]
    if height > MAX_SIZE[1]:
        row, height = (MAX_SIZE[1] - bottom - top) / n_models, MAX_SIZE[1]
        label = max(min(label, row * 72 / 1.3), 4.0)  # past the cap a smaller font is better than overlapping rows
    number = label - 1.0
    annotate = number >= MIN_FONT and row * 72 >= 1.3 * number and column * 72 >= 5 * CHAR_WIDTH * number
    return HeatmapLayout((round(width, 2), round(height, 2)), row, column, (left, bottom, right, top), label,
                         scenario, annotate, number)


def heatmap_png(col: Column, cells: dict[str, Score], path: str | Path) -> HeatmapLayout:
    """Models (rows, best first) x scenarios (columns) of one column's ``per_scenario`` values."""
    plt = _pyplot()
    from matplotlib import colormaps

    models = [m for m, s in cells.items() if s.per_scenario]
    if not models:
        raise ValueError(f"{col.label}: no model has per-scenario values")
    models.sort(key=lambda m: (not cells[m].measured, -cells[m].value if col.higher_is_better else cells[m].value))
    scenarios = sorted({k for m in models for k in cells[m].per_scenario})
    names = short_names(models)
    title = f"{col.label}: per scenario" + (f"\nTerms of use: {col.terms}" if col.terms else "")
    layout = heatmap_layout(len(models), len(scenarios), max(len(n) for n in names.values()),
                            max(len(s) for s in scenarios), max(len(line) for line in title.splitlines()))
    values = np.array([[cells[m].per_scenario.get(s, math.nan) for s in scenarios] for m in models])
    width, height = layout.figsize
    left, bottom, right, top = layout.margins
    fig = plt.figure(figsize=layout.figsize)
    ax = fig.add_axes((left / width, bottom / height, (width - left - right) / width, (height - bottom - top) / height))
    cmap = colormaps["RdYlGn" if col.higher_is_better else "RdYlGn_r"]
    cmap = cmap.with_extremes(bad="#dddddd")
    rate = col.kind in SAFETY_KINDS
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, vmin=0 if rate else None,
                      vmax=100 if rate else None, interpolation="nearest")
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=90, fontsize=layout.scenario_fontsize)
    ax.set_yticks(range(len(models)), [names[m] for m in models], fontsize=layout.label_fontsize)
    if layout.annotate:
        digits = 3 if np.nanmax(np.abs(values), initial=0) <= 1 else 1
        for (i, j), value in np.ndenumerate(values):
            red, green, blue, _ = cmap(image.norm(value)) if not math.isnan(value) else (1, 1, 1, 1)
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.45  # white text on dark cells
            ax.text(j, i, "n/a" if math.isnan(value) else f"{value:.{digits}f}", ha="center", va="center",
                    fontsize=layout.annotate_fontsize, color="white" if dark else "black")
    bar = fig.add_axes(((width - right + 0.25) / width, bottom / height, 0.2 / width,
                        (height - bottom - top) / height))
    fig.colorbar(image, cax=bar).set_label(col.metric, fontsize=9)
    ax.set_title(title, fontsize=TITLE_FONT, loc="left")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return layout


MIN_HEATMAP_MODELS = 3  # one or two rows compare nothing the per-scenario table and the radar chart do not show


def heatmaps(scores: list[Score], folder: str | Path, min_models: int = MIN_HEATMAP_MODELS) -> list[Path]:
    """One heatmap per column with per-scenario values of at least ``min_models`` models."""
    written = []
    for number, (col, cells) in enumerate(columns(scores).items(), 1):
        if sum(1 for s in cells.values() if s.per_scenario) >= min_models:
            path = Path(folder) / f"heatmap_{slug(col.board)}_{slug(col.metric)}_{number}.png"
            heatmap_png(col, cells, path)
            written.append(path)
    return written


# ------------------------------------------------------------------------------------------ correlations

def ranks(values) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="mergesort")
    plain = np.empty(len(values))
    plain[order] = np.arange(1, len(values) + 1)
    _, group = np.unique(values, return_inverse=True)
    return (np.bincount(group, weights=plain) / np.bincount(group))[group]


def _pearson_rows(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pearson's r of ``x`` with each row of ``ys``."""
    x = x - x.mean()
    ys = ys - ys.mean(axis=-1, keepdims=True)
    return (ys @ x) / (np.sqrt((x * x).sum()) * np.sqrt((ys * ys).sum(axis=-1)))


def spearman(x, y) -> float:
    """Spearman's rho (Pearson's r of the average ranks); NaN when either side has no spread or n < 2."""
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} values against {len(y)}")
    if len(x) < 2:
        return math.nan
    rx, ry = ranks(x), ranks(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return math.nan
    return float(_pearson_rows(rx, ry[None, :])[0])


def permutation_p(x, y, resamples: int = PERMUTATIONS, seed: int = SEED) -> float:
    """Two-sided p-value of Spearman's rho under "no association": the share of orderings of ``y`` whose |rho| is
    at least the observed one (all orderings up to :data:`EXACT_UP_TO` values, else ``resamples`` random ones,
    counted with the observed ordering)."""
    rx, ry = ranks(x), ranks(y)
    observed = abs(spearman(x, y))
    if math.isnan(observed):
        return math.nan
    if len(ry) <= EXACT_UP_TO:
        shuffled = ry[np.array(list(itertools.permutations(range(len(ry)))))]
        return float(np.mean(np.abs(_pearson_rows(rx, shuffled)) >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    shuffled = np.array([rng.permutation(ry) for _ in range(resamples)])
    hits = np.sum(np.abs(_pearson_rows(rx, shuffled)) >= observed - 1e-12)
    return float((hits + 1) / (resamples + 1))


@dataclass(frozen=True)
class Correlation:
    safety: Column
    capability: Column
    n: int
    rho: float  # NaN when not shown
    p: float
    note: str = ""


def correlations(scores: list[Score], min_models: int = MIN_MODELS) -> list[Correlation]:
    """Spearman's rho of each safety column with each capability column (columns with a measured value) over the
    models having both."""
    cols, out = columns(scores), []
    cols = {c: cells for c, cells in cols.items() if any(s.measured for s in cells.values())}
    for safety, capability in itertools.product([c for c in cols if c.kind in SAFETY_KINDS],
                                                [c for c in cols if c.kind == CAPABILITY]):
        models = sorted(m for m, s in cols[safety].items()
                        if s.measured and m in cols[capability] and cols[capability][m].measured)
        x = [cols[safety][m].value for m in models]
        y = [cols[capability][m].value for m in models]
        if len(models) < min_models:
            out.append(Correlation(safety, capability, len(models), math.nan, math.nan,
                                   f"not shown: {len(models)} model(s) with both scores; a rank correlation needs "
                                   f"at least {min_models} to say anything"))
            continue
        rho = spearman(x, y)
        note = "" if not math.isnan(rho) else "not defined: every model has the same value on one side"
        out.append(Correlation(safety, capability, len(models), rho, permutation_p(x, y), note))
    return out


def correlation_table(found: list[Correlation]) -> render.Table | None:
    if not found:
        return None
    rows = [[c.safety.label, c.capability.label, c.n, render.fmt(c.rho, 2), render.fmt(c.p, 3), c.note]
            for c in found]
    return render.Table("Safety against capability: rank correlation across models"
                        + _juries({c.safety for c in found}),
                        ["safety score", "capability score", "n models", "Spearman rho", "p", "note"], rows,
                        f"Spearman's rho over the models having both scores, shown from {MIN_MODELS} models. p: "
                        f"two-sided permutation test (exact up to {EXACT_UP_TO} models, else {PERMUTATIONS:,} random "
                        "orderings). A positive rho with an ASR means more capable models are less safe on that "
                        "board.")
