"""Exports a leaderboard reads: lm-eval results files and Hugging Face model-card ``model-index`` entries, from a list
of :class:`~.scores.Score`. A score whose value is NaN (nothing measured) is left out of both and returned as
``skipped``.

:func:`export_lm_eval` writes, per model, ``<folder>/<model, sanitised as lm-eval does>/results_<date>.json`` in
lm-eval 0.4's results schema, so lm-eval's own readers (``get_results_filenames``, ``make_table``) and this
package's (``outputs.find_runs``, :mod:`.capability`) read it:

- ``results[task]``: ``alias`` (the title), ``"<metric>,<filter>"`` (the value; the filter is ``none`` unless the
  metric names one, as capability metrics may) and ``"<metric>_stderr,<filter>"``: the stderr, taken as the 95%
  interval's width / (2 x 1.96) (exact for a capability interval, which was value +- 1.96 stderr; for a bootstrap
  interval the normal approximation of it), ``"N/A"`` without an interval, as lm-eval writes it. A safety or
  over-refusal board is a task named by its board; a score with ``per_scenario`` values makes the board a group
  with one task per scenario, ``<board>_<scenario>`` (this package's task names), in ``groups`` and
  ``group_subtasks``. Several metrics of one board share its entry;
- ``versions``, ``higher_is_better`` (``{task: {metric: bool or None}}``), ``n-samples`` (``{original,
  effective}``: both the score's ``n``), ``n-shot`` (0 for this package's boards; unknown for capability tasks,
  left out), ``configs[task]`` (``task``, ``dataset_path``/``dataset_name``/``revision`` from the score's
  ``dataset``, and ``metadata.lmms_safebench``: kind, jury, jury identity, dataset build, terms, notes);
- ``config``: the model's run config passed in ``configs`` (model, model_args...) with secrets redacted
  (:func:`lmms_safebench.redact.redact_config`); ``date`` (UNIX time), ``model_name``, ``model_name_sanitized``;
- ``lmms_safebench``: ``model``, ``version``, ``juries`` (``{task: {metric: {jury, jury_identity}}}``),
  ``terms`` and ``corrected`` (``{task: {metric: {"corrected": ..., "calibration": ...}}}``: the slot for a
  judge-corrected number and its calibration record, written as the score carries them). A corrected value also
  goes into ``results[task]`` as ``"<metric>_corrected,none"`` (with its stderr from its interval).

One model with one metric of one board twice (two juries, two builds) cannot be one lm-eval task: that raises,
naming them; export one jury or build at a time.

:func:`export_hf` writes, per model, ``<folder>/<model>_model_index.yaml``: the ``model-index`` YAML that
``huggingface_hub.ModelCardData(model_name=..., eval_results=[EvalResult...]).to_yaml()`` emits, to paste into the
front matter of the model's card (comments above it name the jury and the terms of use), checked by parsing it back
with ``huggingface_hub.ModelCard``; and ``<folder>/eval_results.csv``, one row per model x board x metric. Per
score: task (``task_type``, the board's title), dataset (id, title, config, split, revision), metric (type, value,
name with the jury, ``args``: interval, n, jury identity, dataset build), ``verified: false``, and a source when
``source_url`` is given (the model-index requires a URL with a source name).
"""

from __future__ import annotations

import datetime
import json
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from .. import __version__
from ..redact import redact_config
from . import render
from .capability import Z95
from .scores import CAPABILITY, Score


class DuplicateScore(ValueError):
    """One model with one metric of one board twice (two juries, two builds): one lm-eval task cannot hold both."""


NA = "N/A"  # what lm-eval writes for a metric without a standard error, or a task without a version
DEFAULT_TASK_TYPE = "image-text-to-text"
CSV_HEADER = ["model", "board", "title", "kind", "metric", "value", "ci_low", "ci_high", "n", "higher_is_better",
              "jury", "jury_identity", "dataset_id", "dataset_revision", "dataset_build", "notes", "terms"]


def _stderr(ci) -> float | str:
    return (ci[1] - ci[0]) / (2 * Z95) if ci is not None else NA


def _metric_key(metric: str) -> tuple[str, str]:
    name, _, filt = metric.partition(",")
    return name, filt or "none"


def _measured(scores: list[Score]) -> tuple[list[Score], list[Score]]:
    return [s for s in scores if s.measured], [s for s in scores if not s.measured]


def lm_eval_results(model: str, scores: list[Score], config: Mapping | None = None, date: float | None = None
                    ) -> dict:
    """One model's results dict in lm-eval's schema (module docstring)."""
    from lm_eval.utils import sanitize_model_name

    results: dict[str, dict] = {}
    group_subtasks: dict[str, list[str]] = {}
    configs, versions, n_shot, better, n_samples = {}, {}, {}, defaultdict(dict), {}
    own: dict = {"model": model, "version": __version__, "juries": defaultdict(dict), "terms": [],
                 "corrected": defaultdict(dict)}
    seen: dict[tuple[str, str], Score] = {}
    for score in scores:
        task, (name, filt) = score.board, _metric_key(score.metric)
        if (task, score.metric) in seen:
            other = seen[task, score.metric]
            raise DuplicateScore(f"{model}: {task} {score.metric} twice (jury {other.jury} / {score.jury}, builds "
                             f"{other.build_label()} / {score.build_label()}): one lm-eval task holds one value per "
                             "metric; export one jury or build at a time")
        seen[task, score.metric] = score
        entry = results.setdefault(task, {"alias": score.title})
        entry[f"{name},{filt}"] = score.value
        entry[f"{name}_stderr,{filt}"] = _stderr(score.ci)
        better[task][name] = score.higher_is_better
        versions[task] = score.version if score.version is not None else NA
        if score.n is not None:
            n_samples[task] = {"original": score.n, "effective": score.n}
        if score.kind != CAPABILITY:
            n_shot[task] = 0
        dataset = score.dataset
        configs[task] = {"task": task, **{k: v for k, v in (("dataset_path", dataset.get("id")),
                                                            ("dataset_name", dataset.get("config")),
                                                            ("test_split", dataset.get("split")),
                                                            ("revision", dataset.get("revision"))) if v},
                         "metadata": {"version": versions[task], "lmms_safebench": {
                             "kind": score.kind, "board": score.board, "jury": score.jury,
                             "jury_identity": score.jury_identity, "dataset": dict(dataset), "terms": score.terms,
                             "notes": score.notes}}}
        if score.jury or score.jury_identity:
            own["juries"][task][score.metric] = {"jury": score.jury, "jury_identity": score.jury_identity}
        if score.terms and score.terms not in own["terms"]:
            own["terms"].append(score.terms)
        if score.corrected is not None or score.calibration is not None:
            own["corrected"][task][score.metric] = {"corrected": score.corrected, "calibration": score.calibration}
            if score.corrected is not None and "value" in score.corrected:
                entry[f"{name}_corrected,none"] = float(score.corrected["value"])
                entry[f"{name}_corrected_stderr,none"] = _stderr(score.corrected.get("ci"))
                better[task][f"{name}_corrected"] = score.higher_is_better
        for scenario, value in score.per_scenario.items():
            subtask = f"{task}_{scenario}"
            sub = results.setdefault(subtask, {"alias": f" - {scenario}"})
            sub[f"{name},{filt}"] = value
            sub[f"{name}_stderr,{filt}"] = NA
            better[subtask][name] = score.higher_is_better
            versions[subtask] = versions[task]
            if subtask not in group_subtasks.setdefault(task, []):
                group_subtasks[task].append(subtask)
    under_a_group = {t for children in group_subtasks.values() for t in children}
    for task in results:  # lm-eval lists every task that is not a group's as a group of none
        if task not in under_a_group:
            group_subtasks.setdefault(task, [])
    groups = {task: results[task] for task, children in group_subtasks.items() if children}
    return {
        "results": results,
        **({"groups": groups} if groups else {}),
        "group_subtasks": group_subtasks,
        "configs": configs,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": dict(better),
        "n-samples": n_samples,
        "config": redact_config(config),
        "date": date if date is not None else time.time(),
        "model_name": model,
        "model_name_sanitized": sanitize_model_name(model),
        "lmms_safebench": {**own, "juries": dict(own["juries"]), "corrected": dict(own["corrected"])},
    }


def _by_model(scores: list[Score]) -> dict[str, list[Score]]:
    out: dict[str, list[Score]] = defaultdict(list)
    for score in scores:
        out[score.model].append(score)
    return dict(sorted(out.items()))


def export_lm_eval(scores: list[Score], folder: str | Path, configs: Mapping[str, Mapping] | None = None,
                   date: float | None = None) -> dict:
    """Write one lm-eval results file per model (module docstring); ``configs``: ``{model: run config}``. Returns
    ``{"written": [paths], "skipped": [unmeasured scores]}``. Every model's dict is built before any file is
    written, so a bad score leaves no half-written export."""
    from lm_eval.utils import sanitize_model_name

    kept, skipped = _measured(scores)
    date = date if date is not None else time.time()
    # lm-eval's file name: the ISO time with ":" replaced by "-"
    stamp = datetime.datetime.fromtimestamp(date).isoformat().replace(":", "-")
    built = {model: lm_eval_results(model, group, (configs or {}).get(model), date)
             for model, group in _by_model(kept).items()}
    written = []
    for model, data in built.items():
        path = Path(folder) / sanitize_model_name(model) / f"results_{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        written.append(path)
    return {"written": written, "skipped": skipped}


def eval_results(scores: list[Score], task_type: str = DEFAULT_TASK_TYPE, task_types: Mapping[str, str] | None = None,
                 source_url: str | None = None, source_name: str = "lmms-safebench"):
    """``huggingface_hub.EvalResult`` of each score (module docstring); ``task_types``: ``{board: task type}``."""
    from huggingface_hub import EvalResult

    out = []
    for score in scores:
        dataset = score.dataset
        args = {"ci_low": score.ci[0] if score.ci else None, "ci_high": score.ci[1] if score.ci else None,
                "n": score.n, "higher_is_better": score.higher_is_better, "jury_identity": score.jury_identity,
                "dataset_build": score.build_label() if dataset else None, "notes": score.notes or None,
                "terms": score.terms or None}
        out.append(EvalResult(
            task_type=(task_types or {}).get(score.board, task_type), task_name=score.title,
            dataset_type=str(dataset.get("id") or score.board), dataset_name=score.title,
            dataset_config=dataset.get("config"), dataset_split=dataset.get("split"),
            dataset_revision=dataset.get("revision"), metric_type=score.metric, metric_value=score.value,
            metric_name=f"{score.metric} (jury {score.jury})" if score.jury else score.metric,
            metric_args={k: v for k, v in args.items() if v is not None}, verified=False,
            source_name=source_name if source_url else None, source_url=source_url))
    return out


def _model_index_yaml(model: str, scores: list[Score], **options) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    results = eval_results(scores, **options)
    text = ModelCardData(model_name=model, eval_results=results).to_yaml()
    back = ModelCard(f"---\n{text}\n---\n").data.eval_results
    if back != results:  # what a reader of the card gets must be what was measured
        raise ValueError(f"{model}: the model-index does not read back as written")
    comments = [f"# model-index of {model}: lmms-safebench {__version__} results. Paste it into the YAML front "
                "matter (between the --- lines) of the model's README.md."]
    juries = sorted({f"{s.jury} = {s.jury_identity}" for s in scores if s.jury})
    if juries:
        comments.append("# Judged by: " + "; ".join(juries))
    comments += [f"# Terms of use: {t}" for t in sorted({s.terms for s in scores if s.terms})]
    if not options.get("source_url"):
        comments.append("# No source: add one (source: {name, url}) pointing at where these results are published.")
    return "\n".join(comments) + "\n" + text + "\n"


def csv_row(score: Score) -> list:
    ci = score.ci or (math.nan, math.nan)
    return [score.model, score.board, score.title, score.kind, score.metric, score.value, ci[0], ci[1],
            "" if score.n is None else score.n, "" if score.higher_is_better is None else score.higher_is_better,
            score.jury or "", score.jury_identity or "", score.dataset.get("id") or "",
            score.dataset.get("revision") or "", score.build if score.dataset else "", score.notes, score.terms]


def export_hf(scores: list[Score], folder: str | Path, task_type: str = DEFAULT_TASK_TYPE,
              task_types: Mapping[str, str] | None = None, source_url: str | None = None,
              source_name: str = "lmms-safebench") -> dict:
    """Write the model-index YAML of each model and the flat CSV (module docstring). Returns ``{"written": [paths],
    "skipped": [unmeasured scores]}``; everything is built before anything is written."""
    from lm_eval.utils import sanitize_model_name

    kept, skipped = _measured(scores)
    options = {"task_type": task_type, "task_types": task_types, "source_url": source_url, "source_name": source_name}
    texts = {model: _model_index_yaml(model, group, **options) for model, group in _by_model(kept).items()}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for model, text in texts.items():
        path = folder / f"{sanitize_model_name(model)}_model_index.yaml"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    table = folder / "eval_results.csv"
    render.write_csv(table, CSV_HEADER, [csv_row(s) for s in sorted(kept, key=lambda s: (s.model, s.board, s.metric))])
    return {"written": written + [table], "skipped": skipped}
