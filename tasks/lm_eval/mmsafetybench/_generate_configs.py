"""Generate this folder's task and group YAMLs (MM-SafetyBench text-only, for lm-eval).

    python tasks/lm_eval/mmsafetybench/_generate_configs.py

Text-only LLMs run MM-SafetyBench's text baseline (the original ``Question``) through lm-eval:
``lm_eval --include_path "$(lmms-safebench tasks-dir)" --tasks safebench_mmsb_text ...``.
One five-line YAML per (variant, scenario) in a sub-folder per variant, naming its slice in
``dataset_kwargs.selector``; one group per variant; variants: subset (full, tiny) x prompt (plain, defended).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.mmsafetybench import SCENARIOS
from lmms_safebench.hooks import METRICS as _ALL_METRICS
from lmms_safebench.taskgen import group_yaml, lm_eval_template, scenario_yaml, write_all

SCRIPT = "_generate_configs.py"
METRICS = _ALL_METRICS["mmsafetybench"]
VERSION = "0.1"

def files() -> dict[str, str]:
    out = {"_default_template_yaml": lm_eval_template(SCRIPT, "mmsafetybench", "MM-SafetyBench", METRICS, VERSION)}
    for subset in ("full", "tiny"):
        for prompt in ("plain", "defended"):
            group = "safebench_mmsb" + ("_tiny" if subset == "tiny" else "") + "_text"
            group += "_defended" if prompt == "defended" else ""
            folder = group.removeprefix("safebench_mmsb_")
            title = "MM-SafetyBench" + (" tiny" if subset == "tiny" else "") + " text-only"
            title += " (safety-prompt defence)" if prompt == "defended" else ""
            tasks = []
            for sc in SCENARIOS:
                task = f"{group}_{sc.slug}"
                tasks.append(task)
                out[f"{folder}/{task}.yaml"] = scenario_yaml(
                    SCRIPT, task, sc.upstream, ["dataset_kwargs:", f"  selector: text.{subset}.{prompt}.{sc.slug}"])
            out[f"_{group}.yaml"] = group_yaml(SCRIPT, group, title, tasks, METRICS, False, VERSION)
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
