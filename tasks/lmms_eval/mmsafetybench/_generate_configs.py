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
from lmms_safebench.taskgen import HEADER, group_yaml, metric_list_yaml, scenario_yaml, write_all

SCRIPT = "_generate_configs.py"
VERSION = "0.1"
KIND_TITLES = {"sd": "SD", "typo": "TYPO", "sd_typo": "SD+TYPO", "text": "text-only"}

TEMPLATE = """\
# Shared by every MM-SafetyBench task. The dataset loaded here is a one-row placeholder: process_docs
# reads the task's slice (named by dataset_name) from the local data folder built by
# `lmms-safebench build mmsafetybench`, and fails before inference when no jury is configured.
dataset_path: json
dataset_kwargs:
  data_files:
    test: _placeholder.jsonl
test_split: test
output_type: generate_until
process_docs: !function utils.process_docs
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: ""
process_results: !function utils.process_results
generation_kwargs:
  max_new_tokens: 512
  temperature: 0
  do_sample: false
lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
{metric_list}metadata:
  version: {version}
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
    out = {"_default_template_yaml": HEADER.format(script=SCRIPT)
           + TEMPLATE.format(metric_list=metric_list_yaml(), version=VERSION)}
    umbrella = {"full": [], "tiny": []}
    for subset, kind, prompt, group, folder, title in variants():
        tasks = []
        for sc in SCENARIOS:
            task = f"{group}_{sc.slug}"
            tasks.append(task)
            out[f"{folder}/{task}.yaml"] = scenario_yaml(SCRIPT, task, sc.upstream,
                                                         [f"dataset_name: {kind}.{subset}.{prompt}.{sc.slug}"])
        out[f"_{group}.yaml"] = group_yaml(SCRIPT, group, title, tasks, True, VERSION)
        if prompt == "plain":
            umbrella[subset].append(group)
    out["_safebench_mmsb.yaml"] = group_yaml(SCRIPT, "safebench_mmsb", "MM-SafetyBench (all image kinds)",
                                             umbrella["full"], True, VERSION)
    out["_safebench_mmsb_tiny.yaml"] = group_yaml(SCRIPT, "safebench_mmsb_tiny", "MM-SafetyBench tiny (all kinds)",
                                                  umbrella["tiny"], True, VERSION)
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
