"""``lmms-safebench report``: leaderboards, confidence intervals, juror agreement, radar charts and
one self-contained HTML page, from one or more judged result folders.

Flow: :mod:`.collect` (samples by board, jury and model) -> :mod:`.stats` (the tasks' metric
functions and bootstrap intervals) -> the adapter's published numbers for matching models ->
:mod:`.render` (Markdown, CSV, PNG, HTML). Numbers of different juries never share a table: each
board has one table per jury identity.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..benchmarks import registry
from . import render
from .collect import Entry, by_board, collect, slug
from .stats import RESAMPLES, summarize


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


def _board_tables(board: str, jury: str, entries: list[Entry], summaries: dict, paper_names: dict):
    adapter = registry.get(entries[0].benchmark)
    columns = adapter.report_columns(board)
    lead = columns[0]  # ranks the models; the radar chart shows it per scenario
    shown = [c for c in columns if c.shown]
    broken_down = [c for c in columns if c.breakdown]
    with_interval = [c for c in columns if c.interval]
    category_info = adapter.categories(board)
    categories = [c.slug for c in category_info]
    abbr = {c.slug: c.abbr for c in category_info}
    ordered = sorted(entries, key=lambda e: (math.isnan(summaries[id(e)][lead.name]), summaries[id(e)][lead.name]))
    published_for = {id(e): adapter.published(board, e.model, paper_names) for e in ordered}

    def by_category(s: dict, column, category: str) -> float:
        return s["by_category"].get(category, {}).get(column.name, math.nan)

    def paper_avg(published, column) -> float:
        return published[1][column.title]["AVG"] if published and column.title in published[1] else math.nan

    header = ["model"] + [f"{c.title} [95% CI]" if c.interval else c.title for c in shown]
    header += [f"{c.title} {abbr[k]}" for c in columns if c.category_columns for k in categories]
    header += ["samples", "judged %", "unjudged", "inference failed", "refusal %", "kappa round 1", "kappa final",
               "unanimous % round 1", "per-juror ASR"]
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
                         entry.run])
    csv_header = (["board", "model", "jury_name", "jury_identity", "heuristic", "samples"]
                  + [n for c in columns for n in ([c.name, f"{c.name}_ci_low", f"{c.name}_ci_high"] if c.interval
                                                  else [c.name])]
                  + [f"{c.name}_{k}" for c in broken_down for k in categories]
                  + ["judged_pct", "unjudged", "inference_failed", "refusal_rate", "fleiss_kappa_round_one",
                     "fleiss_kappa_final", "unanimous_share_round_one", "paper_model"]
                  + [f"paper_{c.name}_avg" for c in with_interval] + ["source_run"])
    described = "".join(f"{c.description}; " for c in columns if c.description)
    note = (f"{_jury_title(entries[0])}. {described}"
            f"{'category = mean of its scenarios, overall = mean of the categories' if categories else 'overall = mean over scenarios'}; "
            f"95% CI: {RESAMPLES} bootstrap resamples of answers within each scenario.")
    tables = [render.Table(f"{board}: leaderboard", header, rows, note)]

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
        tables.append(render.Table(f"{board}: published numbers beside this run", ["model", "metric", "source"]
                                   + [abbr[k] for k in categories] + ["AVG"], comparison,
                                   "Published numbers used the paper's own jury and prompts; compare with care."))

    scenarios = _scenario_order(adapter, {k for e in entries for k in summaries[id(e)]["by_scenario"]})
    in_scenario_table = [c for c in broken_down if c.shown]
    scenario_rows, scenario_csv = [], []
    for scenario in scenarios:
        row = [scenario]
        for entry in ordered:
            cell = summaries[id(entry)]["by_scenario"].get(scenario, {})
            row += [cell.get(c.name, math.nan) for c in in_scenario_table]
            scenario_csv.append([board, entry.model, jury, scenario, cell.get("category"),
                                 *[cell.get(c.name, math.nan) for c in broken_down], cell.get("judged", 0),
                                 cell.get("samples", 0)])
        scenario_rows.append(row)
    scenario_header = ["scenario"] + [f"{e.model} {c.title}" for e in ordered for c in in_scenario_table]
    tables.append(render.Table(f"{board}: per scenario", scenario_header, scenario_rows))
    scenario_csv_header = (["board", "model", "jury_identity", "scenario", "category"] + [c.name for c in broken_down]
                           + ["judged", "samples"])
    radar = {e.model: [summaries[id(e)]["by_scenario"].get(k, {}).get(lead.name, math.nan) for k in scenarios]
             for e in ordered}
    return tables, (csv_header, csv_rows), (scenario_csv_header, scenario_csv), (scenarios, radar, lead.title)


def build_report(folders: list[str], out: str | Path, names: dict[str, str] | None = None,
                 paper_names: dict[str, str] | None = None) -> dict:
    """Write the report into ``out``; returns what was written and the notes on what was left out."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries, notes = collect(folders, names)
    if not entries:
        raise ValueError("no judged samples found in " + ", ".join(map(str, folders))
                         + (": " + "; ".join(notes) if notes else " (runs need --log_samples)"))
    summaries = {id(e): summarize(e, registry.get(e.benchmark).report_columns(e.board)) for e in entries}
    written, markdown, sections = [], ["# lmms-safebench report", ""], []
    for board, juries in by_board(entries).items():
        board_md, board_html = [f"## {board}", ""], [f"<h2>{board}</h2>"]
        leaderboard_rows, scenario_rows, csv_header, scenario_header = [], [], None, None
        for jury, group in juries.items():
            tables, (csv_header, rows), (scenario_header, scenario_csv), (axes, radar, what) = _board_tables(
                board, jury, group, summaries, paper_names or {})
            leaderboard_rows += rows
            scenario_rows += scenario_csv
            board_md += [t.markdown() for t in tables]
            board_html += [t.html() for t in tables]
            if len(axes) >= 3:
                png = out / f"{slug(board)}_{jury}_radar.png"
                render.radar_png(f"{board}: {what} per scenario (jury {group[0].jury_info.get('jury_name')}, {jury})",
                                 axes, radar, png)
                written.append(png)
                board_md.append(f"![radar]({png.name})\n")
                board_html.append(f'<img alt="radar chart" src="{render.png_data_url(png)}">')
        (out / f"{slug(board)}.md").write_text("\n".join(board_md), encoding="utf-8")
        render.write_csv(out / f"{slug(board)}.csv", csv_header, leaderboard_rows)
        render.write_csv(out / f"{slug(board)}_scenarios.csv", scenario_header, scenario_rows)
        written += [out / f"{slug(board)}.md", out / f"{slug(board)}.csv", out / f"{slug(board)}_scenarios.csv"]
        markdown += board_md
        sections += board_html
    if notes:
        markdown += ["## Left out", ""] + [f"- {n}" for n in notes]
        sections.append("<h2>Left out</h2><ul>" + "".join(f"<li class=warn>{render.html.escape(n)}</li>"
                                                          for n in notes) + "</ul>")
    (out / "report.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render.html_page("lmms-safebench report", sections), encoding="utf-8")
    written += [out / "report.md", out / "report.html"]
    return {"written": written, "entries": len(entries), "notes": notes}
