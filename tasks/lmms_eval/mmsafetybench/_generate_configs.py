"""Generate this folder's task and group YAMLs (MM-SafetyBench for lmms-eval).

    python tasks/lmms_eval/mmsafetybench/_generate_configs.py

Writes one five-line YAML per (variant, scenario), in a sub-folder per variant, that includes
``_default_template_yaml`` and names its slice in ``dataset_name`` (``<kind>.<subset>.<prompt>.<scenario>``);
one group YAML per variant here at the top (group aggregations resolve ``utils.combine`` next to them); and the
umbrella groups ``safebench_mmsb`` and ``safebench_mmsb_tiny``. Variants: image kind (sd, typo,
sd_typo, text) x subset (full, tiny) x prompt (plain, defended).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.mmsafetybench import IMAGE_KINDS, SCENARIOS
from lmms_safebench.hooks import METRICS as _ALL_METRICS
from lmms_safebench.taskgen import group_yaml, lmms_eval_template, scenario_yaml, write_all

SCRIPT = "_generate_configs.py"
METRICS = _ALL_METRICS["mmsafetybench"]
VERSION = "0.1"
KIND_TITLES = {"sd": "SD", "typo": "TYPO", "sd_typo": "SD+TYPO", "text": "text-only"}

MODEL_BLOCKS = """\
lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
"""


def variants():
    for subset in ("full", "tiny"):
        for kind in IMAGE_KINDS:
            for prompt in ("plain", "defended"):
                name = "safebench_mmsb" + ("_tiny" if subset == "tiny" else "") + f"_{kind}"
                name += "_defended" if prompt == "defended" else ""
                folder = name.removeprefix("safebench_mmsb_")
                title = "MM-SafetyBench" + (" tiny" if subset == "tiny" else "") + f" {KIND_TITLES[kind]}"
                title += " (safety-prompt defence)" if prompt == "defended" else ""
                yield subset, kind, prompt, name, folder, title


def files() -> dict[str, str]:
    out = {"_default_template_yaml": lmms_eval_template(SCRIPT, "mmsafetybench", "MM-SafetyBench", METRICS, VERSION,
                                                        MODEL_BLOCKS)}
    umbrella = {"full": [], "tiny": []}
    for subset, kind, prompt, group, folder, title in variants():
        tasks = []
        for sc in SCENARIOS:
            task = f"{group}_{sc.slug}"
            tasks.append(task)
            out[f"{folder}/{task}.yaml"] = scenario_yaml(SCRIPT, task, sc.upstream,
                                                         [f"dataset_name: {kind}.{subset}.{prompt}.{sc.slug}"])
        out[f"_{group}.yaml"] = group_yaml(SCRIPT, group, title, tasks, METRICS, True, VERSION)
        if prompt == "plain":
            umbrella[subset].append(group)
    out["_safebench_mmsb.yaml"] = group_yaml(SCRIPT, "safebench_mmsb", "MM-SafetyBench (all image kinds)",
                                             umbrella["full"], METRICS, True, VERSION)
    out["_safebench_mmsb_tiny.yaml"] = group_yaml(SCRIPT, "safebench_mmsb_tiny", "MM-SafetyBench tiny (all kinds)",
                                                  umbrella["tiny"], METRICS, True, VERSION)
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
