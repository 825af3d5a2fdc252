"""``lmms-safebench report``: safety beside over-refusal and capability, leaderboards, confidence intervals, juror
agreement, the jury's calibration and the judge-corrected ASR, charts, one self-contained HTML page, and exports a
leaderboard reads, from one or more result folders.

Flow: :mod:`.collect` (judged samples by board, jury, build and model) -> :mod:`.stats` (the tasks' metric
functions and bootstrap intervals) -> :mod:`.boards` (each board's kind, from its adapter's rubric, and its numbers
as :class:`~.scores.Score`) and :mod:`.calibrated` (each jury's calibration; the corrected ASR of harm boards) ->
:mod:`.capability` (any other lmms-eval or lm-eval task's primary metric from its results file) -> the summary, the
trade-off chart, the heatmaps and the rank correlations (:mod:`.tradeoff`) and each board's tables (the adapter's
columns and published numbers) -> :mod:`.render` (Markdown, CSV, PNG, HTML) -> :mod:`.export` (lm-eval results
files, Hugging Face model-index) from the very scores the summary shows.

Numbers of different juries never share a column, and numbers on different builds of a board's data never share a
table: each board has one table per jury identity and build, whose heading names the jury.
"""

from __future__ import annotations

import gc
import math
from pathlib import Path

from ..benchmarks import registry
from ..scoring import metrics
from . import render, tradeoff
from .boards import board_kind, board_rubric, calibration_protocol, entry_scores, generic_titles, metric_specs
from .calibrated import DEFAULT_MAX_AGE_DAYS, ESTIMATE, Calibrations, JuryCalibration, corrected_asr, corrected_text
from .capability import model_configs, read_capability
from .collect import Entry, by_board, collect, slug
from .scores import HARM, KINDS
from .stats import RESAMPLES, summarize

EXPORT_FORMATS = ("lm-eval", "hf")
RADAR_MAX_MODELS = 10  # past this, overlapping polygons hide each other: the heatmap shows the scenarios instead
CALIBRATION_CSV = ["calibration_status", "calibration_set", "calibration_kappa", "calibration_sensitivity",
                   "calibration_specificity", "calibration_age_days", "corrected_asr", "corrected_asr_ci_low",
                   "corrected_asr_ci_high", "corrected_asr_status"]


def _scenario_order(adapter, present: set[str]) -> list[str]:
    known = [s.slug for s in adapter.scenarios()]
    return [s for s in known if s in present] + sorted(present - set(known))


def _jury_title(entry: Entry) -> str:
    info = entry.jury_info
    text = (f"Jury {info.get('jury_name')} ({entry.jury}): protocol {info.get('protocol')}, mode {info.get('mode')}, "
            f"rule {info.get('rule')}")
    if info.get("heuristic"):
        text += ". HEURISTIC: refusal patterns, not an LLM judge"
    return text


def _heading(entry: Entry, build: str = "", mark: str = "") -> str:
    """What every table title of a group ends with: the jury's name and identity, the build, the calibration mark."""
    parts = [f"jury {entry.jury_info.get('jury_name')} {entry.jury}"] + [p for p in (build, mark) if p]
    return " (" + "; ".join(parts) + ")"


def flagged_column(columns):
    """The board's column whose per-sample value is the rubric's flagged 0/1 (a harm board's ASR), or None."""
    return next((c for c in columns if getattr(c.metric, "sample_value", None) is metrics.flagged), None)


def _calibration_cells(jury: JuryCalibration | None, corrected: dict | None) -> list:
    if jury is None:
        return [""] * len(CALIBRATION_CSV)
    summary = jury.summary()
    ci = (corrected or {}).get("ci") or ("", "")
    return [summary["status"], summary.get("set") or "", *[(summary.get(m) or {}).get("value") or ""
                                                           for m in ("kappa", "sensitivity", "specificity")],
            summary.get("age_days", ""), (corrected or {}).get("value", ""), ci[0], ci[1],
            (corrected or {}).get("status", "")]


def _board_tables(board: str, jury: str, entries: list[Entry], summaries: dict, paper_names: dict,
                  build: str = "", calibration: JuryCalibration | None = None, corrected: dict | None = None,
                  rubric=None):
    """The tables of one board under one jury and build: leaderboard (plus the judge-corrected ASR of a harm
    board, when ``corrected`` holds each entry's), published numbers, per scenario; the CSV rows; the radar data."""
    adapter = registry.get(entries[0].benchmark)
    columns = adapter.report_columns(board)
    lead = columns[0]  # ranks the models; the radar chart shows it per scenario
    shown = [c for c in columns if c.shown]
    broken_down = [c for c in columns if c.breakdown]
    with_interval = [c for c in columns if c.interval]
    category_info = adapter.categories(board)
    categories = [c.slug for c in category_info]
    abbr = {c.slug: c.abbr for c in category_info}
    spec = metric_specs(adapter, entries[0].variant).get(lead.name)
    best_first = -1 if spec is not None and spec.higher_is_better else 1  # an accuracy ranks downwards, an ASR up

    def rank(entry):
        value = summaries[id(entry)][lead.name]
        return (math.isnan(value), 0.0 if math.isnan(value) else best_first * value)

    ordered = sorted(entries, key=rank)
    published_for = {id(e): adapter.published(board, e.model, paper_names) for e in ordered}
    heading = _heading(entries[0], build, calibration.mark() if calibration else "")
    corrected = corrected or {}

    def by_category(s: dict, column, category: str) -> float:
        return s["by_category"].get(category, {}).get(column.name, math.nan)

    def paper_avg(published, column) -> float:
        return published[1][column.title]["AVG"] if published and column.title in published[1] else math.nan

    header = ["model"] + [f"{c.title} [95% CI]" if c.interval else c.title for c in shown]
    header += [f"{c.title} {abbr[k]}" for c in columns if c.category_columns for k in categories]
    patterns, per_juror = generic_titles(rubric)
    header += ["samples", "judged %", "unjudged", "inference failed", patterns, "kappa round 1", "kappa final",
               "unanimous % round 1", per_juror]
    rows, csv_rows = [], []
    for entry in ordered:
        s = summaries[id(entry)]
        kappa1, kappa2 = s["agreement"]["round_one"]["fleiss_kappa"], s["agreement"]["final"]["fleiss_kappa"]
        unanimous = s["agreement"]["round_one"]["unanimous_share"]
        jurors = "; ".join(f"{name} {render.fmt(v['asr'])}" for name, v in s["juror_asr"].items())
        row = [entry.model] + [render.with_ci(s[c.name], s[f"{c.name}_ci"]) if c.interval else s[c.name]
                               for c in shown]
        row += [by_category(s, c, k) for c in columns if c.category_columns for k in categories]
        row += [s["samples"], s["judged"], s["unjudged"], s["inference_failed"], s["refusal_rate"],
                render.fmt(kappa1, 3), render.fmt(kappa2, 3), unanimous, jurors or "n/a"]
        rows.append(row)
        published = published_for[id(entry)]
        values = [v for c in columns for v in ([s[c.name], *s[f"{c.name}_ci"]] if c.interval else [s[c.name]])]
        csv_rows.append([board, entry.model, entry.jury_info.get("jury_name"), jury,
                         bool(entry.jury_info.get("heuristic")), s["samples"], *values,
                         *[by_category(s, c, k) for c in broken_down for k in categories],
                         s["judged"], s["unjudged"], s["inference_failed"], s["refusal_rate"], kappa1, kappa2, unanimous,
                         published[0] if published else "", *[paper_avg(published, c) for c in with_interval],
                         entry.run, *_calibration_cells(calibration, corrected.get(id(entry)))])
    csv_header = (["board", "model", "jury_name", "jury_identity", "heuristic", "samples"]
                  + [n for c in columns for n in ([c.name, f"{c.name}_ci_low", f"{c.name}_ci_high"] if c.interval
                                                  else [c.name])]
                  + [f"{c.name}_{k}" for c in broken_down for k in categories]
                  + ["judged_pct", "unjudged", "inference_failed", "refusal_rate", "fleiss_kappa_round_one",
                     "fleiss_kappa_final", "unanimous_share_round_one", "paper_model"]
                  + [f"paper_{c.name}_avg" for c in with_interval] + ["source_run"] + CALIBRATION_CSV)
    described = "".join(f"{c.description}; " for c in columns if c.description)
    note = (f"{_jury_title(entries[0])}. {described}"
            f"{'category = mean of its scenarios, overall = mean of the categories' if categories else 'overall = mean over scenarios'}; "
            f"95% CI: {RESAMPLES} bootstrap resamples of answers within each scenario.")
    if calibration is not None:
        note += " " + calibration.text()
    tables = [render.Table(f"{board}: leaderboard{heading}", *render.without_empty_columns(header, rows), note)]

    flagged = flagged_column(columns)
    if corrected and flagged is not None:
        fixed = [[e.model, render.with_ci(summaries[id(e)][flagged.name], summaries[id(e)][f"{flagged.name}_ci"]),
                  corrected_text(corrected.get(id(e))), summaries[id(e)][f"{flagged.name}_n"]] for e in ordered]
        tables.append(render.Table(
            f"{board}: judge-corrected {flagged.title}{heading}",
            ["model", f"{flagged.title} [95% CI]", f"corrected {flagged.title} [95% CI]*", "judged"], fixed,
            f"{calibration.text()} * Corrected = (observed + specificity - 1) / (sensitivity + specificity - 1), "
            f"clipped to [0, 100] (Rogan-Gladen), with the jury's sensitivity and specificity on the calibration set; "
            f"its 95% CI combines {RESAMPLES} resamples of this board's answers (within each scenario, combined as "
            f"the {flagged.title} is) and of the calibration set's items (within each gold class). It is {ESTIMATE}."))

    comparison = []
    for entry in ordered:
        published = published_for[id(entry)]
        if not published:
            continue
        name, numbers = published
        s = summaries[id(entry)]
        for column in (c for c in with_interval if c.title in numbers):  # the audio table has only AVG
            ours = [by_category(s, column, k) for k in categories]
            comparison.append([entry.model, column.title, "this run", *ours, s[column.name]])
            comparison.append([name, column.title, numbers["citation"],
                               *[numbers[column.title].get(k, math.nan) for k in categories],
                               numbers[column.title]["AVG"]])
    if comparison:
        tables.append(render.Table(f"{board}: published numbers beside this run{heading}",
                                   *render.without_empty_columns(["model", "metric", "source"]
                                                                 + [abbr[k] for k in categories] + ["AVG"],
                                                                 comparison, keep=3),
                                   "Published numbers used the paper's own jury and prompts; compare with care."))

    scenarios = _scenario_order(adapter, {k for e in entries for k in summaries[id(e)]["by_scenario"]})
    in_scenario_table = [c for c in broken_down if c.shown]
    scenario_rows, scenario_csv = [], []
    for scenario in scenarios:
        row = [scenario]
        for entry in ordered:
            cell = summaries[id(entry)]["by_scenario"].get(scenario, {})
            row += [render.with_ci_n(cell.get(c.name, math.nan), cell.get(f"{c.name}_ci"), cell.get(f"{c.name}_n"))
                    for c in in_scenario_table]
            scenario_csv.append([board, entry.model, jury, scenario, cell.get("category"),
                                 *[cell.get(c.name, math.nan) for c in broken_down], cell.get("judged", 0),
                                 cell.get("samples", 0),
                                 *[v for c in broken_down if c.interval
                                   for v in (*(cell.get(f"{c.name}_ci") or (math.nan, math.nan)),
                                             cell.get(f"{c.name}_n"))]])
        scenario_rows.append(row)
    scenario_header = ["scenario"] + [f"{e.model} {c.title}" + (" [95% CI] n" if c.interval else "")
                                      for e in ordered for c in in_scenario_table]
    tables.append(render.Table(f"{board}: per scenario{heading}",
                               *render.without_empty_columns(scenario_header, scenario_rows)))
    scenario_csv_header = (["board", "model", "jury_identity", "scenario", "category"] + [c.name for c in broken_down]
                           + ["judged", "samples"]
                           + [n for c in broken_down if c.interval
                              for n in (f"{c.name}_ci_low", f"{c.name}_ci_high", f"{c.name}_n")])
    radar = {e.model: [summaries[id(e)]["by_scenario"].get(k, {}).get(lead.name, math.nan) for k in scenarios]
             for e in ordered}
    return tables, (csv_header, csv_rows), (scenario_csv_header, scenario_csv), (scenarios, radar, lead.title)


def _image(png: Path, alt: str) -> tuple[str, str]:
    """The Markdown and HTML of a chart (the HTML embeds it: one self-contained page)."""
    return f"![{alt}]({png.name})\n", f'<img alt="{render.html.escape(alt)}" src="{render.png_data_url(png)}">'


def _summary_section(scores, out: Path) -> tuple[list[str], list[str], list[Path]]:
    """The summary tables, trade-off charts, heatmaps and rank correlations of ``scores``."""
    title = "Summary: safety, over-refusal and capability"
    markdown, html, written = [f"## {title}", ""], [f"<h2>{title}</h2>"], []
    for table in tradeoff.summary_tables(scores):
        markdown.append(table.markdown())
        html.append(table.html())
    for kind, title in (("tradeoff", "trade-off chart"), ("heatmap", "heatmap")):
        pngs = tradeoff.tradeoff_charts(scores, out) if kind == "tradeoff" else tradeoff.heatmaps(scores, out)
        for png in pngs:
            md, page = _image(png, title)
            markdown.append(md)
            html.append(page)
        written += pngs
    table = tradeoff.correlation_table(tradeoff.correlations(scores))
    if table is not None:
        markdown.append(table.markdown())
        html.append(table.html())
    return markdown, html, written


def _exports(exports, scores, folders, names, export_jury, source_url) -> dict[str, dict]:
    """Write each requested export (``[(format, folder)]``) from the report's scores."""
    from . import export  # lm_eval and huggingface_hub: only when an export is asked for

    if export_jury:
        juries = sorted({f"{s.jury} = {s.jury_identity}" for s in scores if s.jury_identity})
        if not any(export_jury in (s.jury_identity, s.jury) for s in scores):
            raise ValueError(f"--export-jury {export_jury!r}: no number of this report was judged by it (juries: "
                             f"{', '.join(juries) or 'none'})")
        scores = [s for s in scores if s.jury_identity is None or export_jury in (s.jury_identity, s.jury)]
    done = {}
    for kind, folder in exports:
        try:
            if kind == "lm-eval":
                done[kind] = export.export_lm_eval(scores, folder, configs=model_configs(folders, names))
            elif kind == "hf":
                done[kind] = export.export_hf(scores, folder, source_url=source_url)
            else:
                raise ValueError(f"choose one of {', '.join(EXPORT_FORMATS)}")
        except export.DuplicateScore as exc:
            raise ValueError(f"--export {kind} {folder}: {exc} (choose the jury with --export-jury NAME_OR_IDENTITY, "
                             "or report the runs of one build)") from None
        except ValueError as exc:
            raise ValueError(f"--export {kind} {folder}: {exc}") from None
    return done


def _board_section(board: str, groups: dict, summaries: dict, lookup: Calibrations, paper_names: dict,
                   out: Path) -> tuple[list[str], list[str], list, list[Path]]:
    """One board's Markdown, HTML, scores and files: a set of tables per jury and build, its CSVs, radar charts."""
    on_board = [e for group in groups.values() for e in group]
    adapter = registry.get(on_board[0].benchmark)
    rubric = board_rubric(adapter, on_board)
    kind, protocol = board_kind(adapter, on_board), calibration_protocol(rubric)
    columns = adapter.report_columns(board)
    flagged = flagged_column(columns) if kind == HARM else None
    builds = sorted({e.build for e in on_board})
    markdown, html, scores, written = [f"## {board}", ""], [f"<h2>{board}</h2>"], [], []
    leaderboard_rows, scenario_rows, csv_header, scenario_header = [], [], None, None
    for (jury, build), group in groups.items():
        calibration = lookup.get(jury, protocol)
        corrected = {id(e): corrected_asr(e, calibration) for e in group} if flagged is not None else {}
        build_text = (f"build {build} of {len(builds)}, {group[0].dataset.get('fingerprint', 'no fingerprint')}"
                      if len(builds) > 1 else "")
        for entry in group:
            scores += entry_scores(entry, summaries[id(entry)], adapter, kind, columns, calibration.summary(),
                                   corrected.get(id(entry)), flagged.name if flagged else None)
        tables, (csv_header, rows), (scenario_header, scenario_csv), (axes, radar, what) = _board_tables(
            board, jury, group, summaries, paper_names, build_text, calibration, corrected, rubric)
        leaderboard_rows += rows
        scenario_rows += scenario_csv
        markdown += [t.markdown() for t in tables]
        html += [t.html() for t in tables]
        if len(axes) >= 3 and len(group) <= RADAR_MAX_MODELS:
            png = out / f"{slug(board)}_{jury}{f'_build{build}' if len(builds) > 1 else ''}_radar.png"
            render.radar_png(f"{board}: {what} per scenario{_heading(group[0], build_text)}", axes, radar, png)
            written.append(png)
            md, page = _image(png, "radar chart")
            markdown.append(md)
            html.append(page)
    (out / f"{slug(board)}.md").write_text("\n".join(markdown), encoding="utf-8")
    render.write_csv(out / f"{slug(board)}.csv", csv_header, leaderboard_rows)
    render.write_csv(out / f"{slug(board)}_scenarios.csv", scenario_header, scenario_rows)
    written += [out / f"{slug(board)}.md", out / f"{slug(board)}.csv", out / f"{slug(board)}_scenarios.csv"]
    return markdown, html, scores, written


def write_report(entries: list[Entry], capability: list, notes: list[str], out: Path, paper_names: dict | None,
                 lookup: Calibrations) -> dict:
    """Write the report of ``entries`` (collected judged runs) and ``capability`` scores into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summaries = {id(e): summarize(e, registry.get(e.benchmark).report_columns(e.board)) for e in entries}
    scores, written, boards_md, boards_html = [], [], [], []
    for board, groups in by_board(entries).items():
        markdown, html, board_scores, files = _board_section(board, groups, summaries, lookup, paper_names or {}, out)
        boards_md += markdown
        boards_html += html
        scores += board_scores
        written += files
    scores += capability
    scores.sort(key=lambda s: (KINDS.index(s.kind), s.board, s.metric, s.model))
    summary_md, summary_html, charts = _summary_section(scores, out)
    written += charts
    markdown = ["# lmms-safebench report", ""] + summary_md + boards_md
    sections = summary_html + boards_html
    if notes:
        markdown += ["## Left out", ""] + [f"- {n}" for n in notes]
        sections.append("<h2>Left out</h2><ul>" + "".join(f"<li class=warn>{render.html.escape(n)}</li>"
                                                          for n in notes) + "</ul>")
    (out / "report.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render.html_page("lmms-safebench report", sections), encoding="utf-8")
    written += [out / "report.md", out / "report.html"]
    return {"written": written, "entries": len(entries), "notes": notes, "scores": scores}


def build_report(folders: list[str], out: str | Path, names: dict[str, str] | None = None,
                 paper_names: dict[str, str] | None = None, capability_metrics=None,
                 calibration_max_age: float | None = DEFAULT_MAX_AGE_DAYS, exports=(), export_jury: str | None = None,
                 source_url: str | None = None, at=None) -> dict:
    """Write the report into ``out`` (and the ``exports``: ``[(format, folder)]``); returns what was written, the
    scores the summary shows, and the notes on what was left out. ``capability_metrics``: ``TASK=METRIC`` choices
    (:func:`.capability.parse_overrides`); ``calibration_max_age``: days after which a calibration is stale (None:
    never); ``export_jury``: the jury (name or identity) whose numbers are exported when several judged one board;
    ``at``: the time calibration ages are measured at (now)."""
    out = Path(out)
    try:
        entries, notes = collect(folders, names)  # its records are left out of the collector's scans: gc.freeze
        capability, _ = read_capability(folders, names, capability_metrics, skipped=notes)
        if not entries and not capability:
            raise ValueError("no judged samples and no capability results found in " + ", ".join(map(str, folders))
                             + (": " + "; ".join(notes) if notes else " (runs need --log_samples)"))
        result = write_report(entries, capability, notes, out, paper_names, Calibrations(calibration_max_age, at))
    finally:
        gc.unfreeze()
    # After the report is on disk: an export that cannot be written (two juries of one board...) loses nothing.
    try:
        result["exports"] = _exports(exports, result["scores"], folders, names, export_jury, source_url)
    except ValueError as exc:
        raise ValueError(f"{exc}; the report itself is written to {out}") from None
    return result
