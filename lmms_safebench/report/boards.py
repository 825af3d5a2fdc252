"""A board's kind, the protocol its jury is calibrated under, and its numbers as :class:`~.scores.Score`.

Kind (harm or over-refusal) comes from the adapter, never from a board's name: the rubric of the board's cases, which
``adapter.case_from_logged`` rebuilds from the ``case`` a logged verdict carries (its criterion names the rubric).

- the harm rubric: a harm board (its flagged rate is an attack success rate);
- any other rubric (the refusal rubric of the over-refusal companions, or a benchmark's own): an over-refusal board,
  except when every case is the refusal rubric's ``contrast`` kind (harmful requests a model should refuse: that
  board measures the safe side, so it is a harm board whose columns the adapter's metric table gives a direction);
- logs without a ``case`` record (written before cases were logged): a verdict that records its label belongs to a
  rubric that is not the harm rubric (whose records carry no label), so over-refusal; otherwise harm.

The calibration protocol is the calibration sets' kind of labels: ``harm`` for the harm rubric, ``refusal`` for the
refusal rubric; None for any other rubric (no calibration set speaks to it).

Scores: one per shown report column (:meth:`~lmms_safebench.benchmarks.base.Benchmark.report_columns`) of each entry,
with the column's interval and the number of samples it averages, its direction from the adapter's metric table, the
per-scenario values of the board's lead column (its heatmap), the build's dataset identity, the adapter's ``terms``
(shown wherever the number is; an adapter without them shows none), and the calibration and corrected slots.
"""

from __future__ import annotations

import math

from ..jury.refusal import CONTRAST_KIND, REFUSAL
from ..jury.rubric import HARM as HARM_RUBRIC
from .collect import Entry
from .scores import HARM, OVER_REFUSAL, Score


def _criteria(adapter, entries: list[Entry]) -> list:
    """The criteria of one logged case per scenario of the first entry that has cases (every entry of a board
    has the same cases; cases that cannot be rebuilt are skipped)."""
    for entry in entries:
        seen: set[str] = set()
        found = []
        for verdict in entry.verdicts:
            case = verdict.case
            scenario = str(case.get("scenario", ""))
            if not case or scenario in seen:
                continue
            seen.add(scenario)
            try:
                found.append(adapter.case_from_logged(case, entry.variant).criterion)
            except (ValueError, KeyError, TypeError):
                continue  # a malformed case record: the other scenarios decide
        if found:
            return found
    return []


def board_rubric(adapter, entries: list[Entry]):
    """The rubric of the board's cases, or None when no logged case can be rebuilt."""
    criteria = _criteria(adapter, entries)
    return criteria[0].rubric if criteria else None


def board_kind(adapter, entries: list[Entry]) -> str:
    """:data:`~.scores.HARM` or :data:`~.scores.OVER_REFUSAL` (module docstring)."""
    criteria = _criteria(adapter, entries)
    if not criteria:
        labelled = any(o.label is not None for e in entries for o in e.outcomes)
        return OVER_REFUSAL if labelled else HARM
    if criteria[0].rubric is HARM_RUBRIC:
        return HARM
    if all(c.rubric is REFUSAL and c.kind == CONTRAST_KIND for c in criteria):
        return HARM
    return OVER_REFUSAL


def calibration_protocol(rubric) -> str | None:
    """Which calibration sets speak to verdicts of ``rubric`` (module docstring)."""
    if rubric is HARM_RUBRIC:
        return "harm"
    if rubric is REFUSAL:
        return "refusal"
    return None


def generic_titles(rubric) -> tuple[str, str]:
    """The headings of the leaderboard's two rubric-bound columns: the share of answers matching refusal patterns
    (jury-independent) and each juror's own flagged rate. Harm boards (or logs whose rubric is unknown) call the
    flagged rate an ASR; any other rubric's is named by its flagged labels (a refusal board's jurors flag refusals,
    which are no attack success)."""
    if rubric is None or rubric is HARM_RUBRIC:
        return "refusal %", "per-juror ASR"
    return "refusal patterns %", f"per-juror % {' or '.join(sorted(rubric.flagged))}"


def terms_of(adapter) -> str:
    """The adapter's licence or terms of use, as text; empty when it states none."""
    terms = getattr(adapter, "terms", None)
    return str(terms).strip() if terms else ""


def metric_specs(adapter, variant: str) -> dict:
    """The metric table of the board's own variant over the benchmark's merged one: a metric's direction can differ
    between a benchmark's variants (refusing is over-refusal on MOSSBench's benign set and XSTest's safe half, and
    what is expected on their harmful ones)."""
    merged = adapter.metrics()
    return {**merged, **adapter.metric_table(variant)} if variant else merged


def entry_scores(entry: Entry, summary: dict, adapter, kind: str, columns, calibration: dict | None = None,
                 corrected: dict | None = None, corrected_column: str | None = None) -> list[Score]:
    """The entry's numbers (module docstring); ``corrected`` goes to the score of ``corrected_column``,
    ``calibration`` to every score."""
    table = metric_specs(adapter, entry.variant)
    lead = columns[0].name
    out = []
    for headline, column in enumerate(columns):
        if not column.shown:
            continue
        ci = summary.get(f"{column.name}_ci")
        if ci is not None and any(math.isnan(v) for v in ci):
            ci = None
        spec = table.get(column.name)
        per_scenario = {}
        if column.name == lead and column.breakdown:
            per_scenario = {k: v[column.name] for k, v in summary["by_scenario"].items()
                            if not math.isnan(v.get(column.name, math.nan))}
        n = summary.get(f"{column.name}_n")
        out.append(Score(
            model=entry.model, board=entry.board, kind=kind, metric=column.name, value=summary[column.name],
            title=entry.board, ci=ci, n=n if n is not None else summary["samples"],
            higher_is_better=spec.higher_is_better if spec is not None else None,
            jury=entry.jury_info.get("jury_name") or None, jury_identity=entry.jury, dataset=entry.dataset,
            per_scenario=per_scenario, notes=column.description, terms=terms_of(adapter), headline=headline,
            corrected=corrected if column.name == corrected_column else None, calibration=calibration))
    return out
