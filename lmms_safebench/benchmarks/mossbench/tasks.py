"""MOSSBench's task folder (``tasks/lmms_eval/mossbench``; its ``_generate_configs.py`` calls :func:`lmms_eval_files`):
a task per stimulus type of the benign set, ``safebench_mossbench_<stimulus>``, grouped as ``safebench_mossbench``,
and the same for the harmful contrast set, ``safebench_mossbench_contrast_<stimulus>`` in
``safebench_mossbench_contrast``. Both sets report the same metrics (:func:`table`): the refusal rate (full or partial
refusal, the refusal rubric's flagged labels), the full and partial refusal rates apart, the counts and the jury."""

from __future__ import annotations

from ...harness.taskwriter import (
    PLAIN_MODEL_BLOCKS,
    group_yaml,
    lmms_eval_template,
    scenario_yaml,
    selector_lines,
    support_files,
)
from ...jury.refusal import FULL_REFUSAL, PARTIAL_REFUSAL
from ...scoring import metrics
from ...scoring.metrics import COVERAGE, JURY, MetricSpec, label_rate
from .taxonomy import BENIGN, CONTRAST, NAME, STIMULI, TITLE

VERSION = "0.1"
BUILD = "`lmms-safebench build mossbench`"
PREFIX = "safebench_mossbench"
BOARDS = {BENIGN: PREFIX, CONTRAST: f"{PREFIX}_contrast"}  # set -> its group, which is its report board

# Refused at least in part: under the refusal rubric a verdict is flagged for partial_refusal and full_refusal, so the
# flagged rate (metrics.asr, per stimulus type, then the mean of the types: the authors' ALL) is the refusal rate.
REFUSED = metrics.asr
FULL = label_rate(FULL_REFUSAL)
PARTIAL = label_rate(PARTIAL_REFUSAL)
# Judged coverage and the unjudged and failed counts; the pattern-based refusal_rate of the harm boards is left out:
# here the jury's labels are the measure, and a regex never stands in for them.
COUNTS = {name: COVERAGE[name] for name in ("judged", "unjudged", "inference_failed")}

def table(subset: str) -> dict[str, MetricSpec]:
    """The metrics of a task of ``subset``: on the benign set every refusal is over-refusal (lower is better); on the
    contrast set refusing is what a model should do (higher is better; a partial refusal is neither)."""
    contrast = subset == CONTRAST
    return {"refusal": MetricSpec(REFUSED, contrast), "full_refusal": MetricSpec(FULL, contrast),
            "partial_refusal": MetricSpec(PARTIAL, None if contrast else False), **COUNTS, **JURY}


def lmms_eval_files(script: str) -> dict[str, str]:
    """``tasks/lmms_eval/mossbench``: per set, a template (its metrics' directions differ), a task per stimulus type
    in a sub-folder, and the set's group."""
    out = support_files(script, NAME, lmms_eval=True)
    for subset, board in BOARDS.items():
        template = "_default_template_yaml" if subset == BENIGN else f"_{subset}_template_yaml"
        title = TITLE if subset == BENIGN else f"{TITLE} contrast set"
        out[template] = lmms_eval_template(script, BUILD, title, table(subset), VERSION, PLAIN_MODEL_BLOCKS)
        tasks = []
        for stimulus in STIMULI:
            task = f"{board}_{stimulus.slug}"
            tasks.append(task)
            out[f"{subset}/{task}.yaml"] = scenario_yaml(script, task, f"{title}: {stimulus.title}", selector_lines(
                f"{NAME}.{subset}.{stimulus.slug}", lm_eval=False), template=f"../{template}")
        out[f"_{board}.yaml"] = group_yaml(script, board, f"{title} (mean of the stimulus types)", tasks,
                                           table(subset), True, VERSION)
    return out
