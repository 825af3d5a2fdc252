"""SafeBench's task folders: the family writer (scenario tasks, category groups, variant groups, umbrella) that the
official folders and the generated SafeBench-style benchmarks share, and the official folders' files (the folders'
``_generate_configs.py`` call :func:`lmms_eval_files` and :func:`lm_eval_files`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...harness.taskwriter import (
    HEADER,
    group_yaml,
    lm_eval_template,
    lmms_eval_template,
    metric_list_yaml,
    quoted,
    scenario_yaml,
    selector_lines,
    support_files,
)
from ...jury.refusal import FULL_REFUSAL, PARTIAL_REFUSAL
from ...scoring.metrics import (
    ATTACK_SUCCESS,
    COVERAGE,
    JURY,
    PER_SCENARIO,
    SAFETY_RISK_INDEX,
    MetricSpec,
    flagged,
    label_rate,
    macro_rate,
)
from .taxonomy import CATEGORIES, MINI, NAME, SCENARIOS, UMBRELLA, VARIANTS

VERSION = "0.1"
BUILD = "`lmms-safebench build safebench`"

# What a task reports: ASR and SRI by the tree rule, coverage, the jury record; MiniBench tasks span every scenario of
# the set, so they also carry a per-scenario table.
TABLE = {**ATTACK_SUCCESS, **COVERAGE, **SAFETY_RISK_INDEX, **JURY}
MINI_TABLE = {**ATTACK_SUCCESS, **COVERAGE, **SAFETY_RISK_INDEX, **PER_SCENARIO, **JURY}

# A generated benchmark's benign twins, judged by the refusal rubric: how often a model refuses what it should answer.
# over_refusal counts full and partial refusals (the rubric's flagged labels), the other two each label alone; all
# are 100 x / judged twins per scenario, then the tree rule (a category is the mean of its scenarios). Unjudged
# answers are left out of every rate and counted (COVERAGE), never taken for answered.
OVER_REFUSAL = macro_rate(flagged, 100.0, "over_refusal")
PARTIAL_REFUSAL_RATE = label_rate(PARTIAL_REFUSAL)
FULL_REFUSAL_RATE = label_rate(FULL_REFUSAL)
BENIGN_TABLE = {"over_refusal": MetricSpec(OVER_REFUSAL, False),
                "partial_refusal_rate": MetricSpec(PARTIAL_REFUSAL_RATE, False),
                "full_refusal_rate": MetricSpec(FULL_REFUSAL_RATE, False), **COVERAGE, **JURY}


@dataclass(frozen=True)
class Variant:
    """One variant of a SafeBench-style family: its task-name suffix, selector prefix and title."""

    name: str  # e.g. "image", "audio_female_affirmative"
    selector: str  # e.g. "image.full.default", "audio_female.full.affirmative"
    title: str


def family(script: str, key: str, prefix: str, title: str, scenarios, categories, variants: list[Variant],
           table: dict, version: str, lm_eval: bool = False, umbrella: list[str] | None = None) -> dict:
    """Per variant: a YAML per scenario task ``<prefix>_<variant>_<scenario>`` in a sub-folder, a group per
    category ``<prefix>_<variant>_<category>`` and the variant's group ``<prefix>_<variant>``; then the
    umbrella group ``<prefix>`` over the variants named in ``umbrella``. ``scenarios``: objects with
    ``slug``, ``title`` and ``category.slug``; ``categories``: objects with ``slug``, ``abbr``, ``title``."""
    out: dict[str, str] = {}
    for variant in variants:
        top = f"{prefix}_{variant.name}"
        category_groups = []
        for category in categories:
            tasks = []
            for scenario in (s for s in scenarios if getattr(s.category, "slug", s.category) == category.slug):
                task = f"{top}_{scenario.slug}"
                tasks.append(task)
                out[f"{variant.name}/{task}.yaml"] = scenario_yaml(
                    script, task, scenario.title, selector_lines(f"{key}.{variant.selector}.{scenario.slug}", lm_eval))
            if not tasks:
                continue
            group = f"{top}_{category.slug}"
            category_groups.append(group)
            out[f"_{group}.yaml"] = group_yaml(script, group, f"{category.abbr} {category.title}", tasks, table,
                                               not lm_eval, version)
        out[f"_{top}.yaml"] = group_yaml(script, top, f"{title} ({variant.title})", category_groups, table,
                                         not lm_eval, version)
    if umbrella:
        out[f"_{prefix}.yaml"] = group_yaml(script, prefix, f"{title} ({', '.join(umbrella)})",
                                            [f"{prefix}_{v}" for v in umbrella], table, not lm_eval, version)
    return out


_API_BLOCK = "{prompt_mode: plain, audio_format: data_url, pre_prompt: \"\", post_prompt: \"\"}"
MODEL_BLOCKS = f"""\
# prompt_mode: "paper" wraps the query in an instruction tying it to the image (how the paper prompted
# open-source models); "plain" sends the raw query (how it prompted API models). audio_format: how chat
# models receive the spoken query: "array" ({{array, sampling_rate}}) or "data_url" (base64 WAV).
lmms_eval_specific_kwargs:
  default: {{prompt_mode: paper, audio_format: array, pre_prompt: "", post_prompt: ""}}
  openai: {_API_BLOCK}
  async_openai: {_API_BLOCK}
  litellm: {_API_BLOCK}
"""


def variants(subset: str, names=None) -> list[Variant]:
    """The SafeBench variants (:data:`.taxonomy.VARIANTS`) of a set, as task variants."""
    return [Variant(name, f"{modality}.{subset}.{mode}", title) for name, (modality, mode, title) in VARIANTS.items()
            if names is None or name in names]


# ------------------------------------------------------------------------------------------ the official folders

MINI_TEMPLATE = """\
# MiniBench tasks span all of its scenarios in one task: per-scenario numbers are in `by_scenario`,
# and `asr`/`sri` are the mean over scenarios, as in the paper's MiniBench table.
include: _default_template_yaml
{metric_list}"""


def lmms_eval_files(script: str) -> dict[str, str]:
    """``tasks/lmms_eval/safebench``. Full set: per variant (image; spoken query, female or male voice, alone or with
    the "start with Sure" instruction; text), a YAML per scenario, 8 category groups and the variant's group; plus
    the umbrella ``safebench``. MiniBench: one task per variant over all of its scenarios (``safebench_mini_<variant>``,
    with a per-scenario table) and ``safebench_mini``."""
    table, mini_table = TABLE, MINI_TABLE
    out = {
        "_default_template_yaml": lmms_eval_template(script, BUILD, "SafeBench", table, VERSION, MODEL_BLOCKS,
                                                     chat_messages=True),
        "_mini_template_yaml": HEADER.format(script=script) + MINI_TEMPLATE.format(
            metric_list=metric_list_yaml(mini_table)),
        **support_files(script, NAME, lmms_eval=True),
    }
    out.update(family(script, NAME, "safebench", "SafeBench", SCENARIOS, CATEGORIES, variants("full"), table, VERSION,
                      umbrella=list(UMBRELLA)))
    for variant in variants(MINI):
        mini = f"safebench_mini_{variant.name}"
        out[f"mini/{mini}.yaml"] = HEADER.format(script=script) + "\n".join([
            "include: ../_mini_template_yaml", f"task: {mini}",
            f"task_alias: {quoted(f'SafeBench MiniBench ({variant.title})')}",
            f"dataset_name: {NAME}.{variant.selector}.all"]) + "\n"
    out["_safebench_mini.yaml"] = group_yaml(script, "safebench_mini", "SafeBench MiniBench (image, audio, text)",
                                             [f"safebench_mini_{v}" for v in UMBRELLA], mini_table, True, VERSION)
    return out


def lm_eval_files(script: str) -> dict[str, str]:
    """``tasks/lm_eval/safebench``: ``safebench_text`` (8 category groups over 23 scenario tasks) and
    ``safebench_mini_text`` (one task over MiniBench's scenarios)."""
    table = TABLE
    out = {"_default_template_yaml": lm_eval_template(script, BUILD, "SafeBench", table, VERSION),
           **support_files(script, NAME, lmms_eval=False)}
    out.update(family(script, NAME, "safebench", "SafeBench", SCENARIOS, CATEGORIES, variants("full", ["text"]), table,
                      VERSION, lm_eval=True))
    # Next to utils.py: lm-eval resolves a YAML's own `!function utils.*` in the YAML's folder.
    out["safebench_mini_text.yaml"] = HEADER.format(script=script) + "\n".join([
        "include: _default_template_yaml", "task: safebench_mini_text",
        'task_alias: "SafeBench MiniBench (text only)"', "dataset_kwargs:", f"  selector: {NAME}.text.mini.default.all",
        metric_list_yaml(MINI_TABLE).rstrip()]) + "\n"
    return out
