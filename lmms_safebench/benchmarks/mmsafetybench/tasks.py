"""MM-SafetyBench's task folders: the family writer (scenario tasks per kind, subset and prompt; kind groups;
umbrellas) that the official folders and the generated MM-SafetyBench-style benchmarks share, and the official
folders' files (the folders' ``_generate_configs.py`` call :func:`lmms_eval_files` and :func:`lm_eval_files`)."""

from __future__ import annotations

from ...harness.taskwriter import (
    group_yaml,
    lm_eval_template,
    lmms_eval_template,
    scenario_yaml,
    selector_lines,
    support_files,
)
from ...scoring.metrics import ATTACK_SUCCESS, COVERAGE, JURY
from .taxonomy import IMAGE_KINDS, NAME, SCENARIOS

VERSION = "0.1"
BUILD = "`lmms-safebench build mmsafetybench`"
MODEL_BLOCKS = """\
lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
"""

# What a task reports: ASR by the tree rule, coverage and the jury record (SRI is SafeBench's index).
TABLE = {**ATTACK_SUCCESS, **COVERAGE, **JURY}

KIND_TITLES = {"sd": "SD", "typo": "TYPO", "sd_typo": "SD+TYPO", "text": "text-only"}


def family(script: str, key: str, prefix: str, title: str, scenarios, kinds, subsets, prompts, table: dict,
           version: str, lm_eval: bool = False) -> dict:
    """Per (subset, kind, prompt): a YAML per scenario ``<group>_<scenario>`` in a sub-folder and the group
    ``<prefix>[_tiny]_<kind>[_defended]``; then per subset the umbrella ``<prefix>[_tiny]`` over its
    plain-prompt kinds (when there are several kinds). ``scenarios``: objects with ``slug`` and ``upstream``."""
    out: dict[str, str] = {}
    umbrellas: dict[str, list[str]] = {}
    for subset in subsets:
        for kind in kinds:
            for prompt in prompts:
                group = prefix + ("_tiny" if subset == "tiny" else "") + f"_{kind}"
                group += "_defended" if prompt == "defended" else ""
                folder = group.removeprefix(f"{prefix}_")
                group_title = f"{title}{' tiny' if subset == 'tiny' else ''} {KIND_TITLES[kind]}"
                group_title += " (safety-prompt defence)" if prompt == "defended" else ""
                tasks = []
                for sc in scenarios:
                    task = f"{group}_{sc.slug}"
                    tasks.append(task)
                    out[f"{folder}/{task}.yaml"] = scenario_yaml(
                        script, task, getattr(sc, "upstream", sc.title),
                        selector_lines(f"{key}.{kind}.{subset}.{prompt}.{sc.slug}", lm_eval))
                out[f"_{group}.yaml"] = group_yaml(script, group, group_title, tasks, table, not lm_eval, version)
                if prompt == "plain":
                    umbrellas.setdefault(subset, []).append(group)
    if len(kinds) > 1:
        for subset, groups in umbrellas.items():
            name = prefix + ("_tiny" if subset == "tiny" else "")
            out[f"_{name}.yaml"] = group_yaml(script, name, f"{title}{' tiny' if subset == 'tiny' else ''} (all kinds)",
                                              groups, table, not lm_eval, version)
    return out


# ------------------------------------------------------------------------------------------ the official folders

def lmms_eval_files(script: str) -> dict[str, str]:
    """``tasks/lmms_eval/mmsafetybench``: every kind x subset (full, tiny) x prompt (plain, defended)."""
    table = TABLE
    out = {"_default_template_yaml": lmms_eval_template(script, BUILD, "MM-SafetyBench", table, VERSION, MODEL_BLOCKS),
           **support_files(script, NAME, lmms_eval=True)}
    out.update(family(script, NAME, "safebench_mmsb", "MM-SafetyBench", SCENARIOS, IMAGE_KINDS, ("full", "tiny"),
                      ("plain", "defended"), table, VERSION))
    return out


def lm_eval_files(script: str) -> dict[str, str]:
    """``tasks/lm_eval/mmsafetybench``: the text-only kind, per subset and prompt."""
    table = TABLE
    out = {"_default_template_yaml": lm_eval_template(script, BUILD, "MM-SafetyBench", table, VERSION),
           **support_files(script, NAME, lmms_eval=False)}
    out.update(family(script, NAME, "safebench_mmsb", "MM-SafetyBench", SCENARIOS, ("text",), ("full", "tiny"),
                      ("plain", "defended"), table, VERSION, lm_eval=True))
    return out
