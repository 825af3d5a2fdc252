"""MSSBench's task folder (``tasks/lmms_eval/mssbench``; its ``_generate_configs.py`` calls :func:`lmms_eval_files`):
one task per setting, ``safebench_mssbench_chat`` and ``safebench_mssbench_embodied``, each holding both halves of
every pair (the pair is the unit: :mod:`.pairs`), and the group ``safebench_mssbench`` (the mean of the settings)."""

from __future__ import annotations

from ...harness.taskwriter import (
    PLAIN_MODEL_BLOCKS,
    group_yaml,
    lmms_eval_template,
    scenario_yaml,
    selector_lines,
    support_files,
)
from ...scoring.metrics import COVERAGE, JURY, MetricSpec
from . import pairs
from .taxonomy import NAME, SETTINGS, TITLE

VERSION = "0.1"
BUILD = "`lmms-safebench build mssbench`"
PREFIX = "safebench_mssbench"

# The paired accuracies and counts, then the judged coverage and the unjudged and failed answers (the pattern-based
# refusal_rate of the harm boards is left out: the jury's labels are the measure here).
TABLE = {"accuracy": MetricSpec(pairs.accuracy, True), "safe_accuracy": MetricSpec(pairs.safe_accuracy, True),
         "unsafe_accuracy": MetricSpec(pairs.unsafe_accuracy, True), "pairs": MetricSpec(pairs.pairs, None),
         "unscored_pairs": MetricSpec(pairs.unscored_pairs, False), "by_category": MetricSpec(pairs.by_category, None),
         **{name: COVERAGE[name] for name in ("judged", "unjudged", "inference_failed")}, **JURY}

def lmms_eval_files(script: str) -> dict[str, str]:
    """``tasks/lmms_eval/mssbench``: a task per setting (both halves of its pairs) and the group over both."""
    out = {"_default_template_yaml": lmms_eval_template(script, BUILD, TITLE, TABLE, VERSION, PLAIN_MODEL_BLOCKS),
           **support_files(script, NAME, lmms_eval=True)}
    tasks = []
    for setting in SETTINGS:
        task = f"{PREFIX}_{setting}"
        tasks.append(task)
        out[f"{setting}/{task}.yaml"] = scenario_yaml(script, task, f"{TITLE} {setting} setting",
                                                      selector_lines(f"{NAME}.{setting}.all", lm_eval=False))
    out[f"_{PREFIX}.yaml"] = group_yaml(script, PREFIX, f"{TITLE} (mean of the chat and embodied settings)", tasks,
                                        TABLE, True, VERSION)
    return out
