"""Generate this folder's task and group YAMLs (SafeBench for lmms-eval).

    python tasks/lmms_eval/safebench/_generate_configs.py

Full set: per variant (image; spoken query, female or male voice, alone or with the "start with Sure"
instruction; text), one five-line YAML per scenario (``safebench_<variant>_<scenario>``) in a
sub-folder, 8 category groups (``safebench_<variant>_<category>``) and the variant's group
(``safebench_<variant>``); plus the umbrella ``safebench``. MiniBench: one task per variant over all
of its scenarios (``safebench_mini_<variant>``, with a per-scenario table) and ``safebench_mini``.
Each task names its slice in ``dataset_name``: ``<modality>.<set>.<mode>.<scenario|all>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.hooks import METRICS
from lmms_safebench.taskgen import (
    HEADER,
    group_yaml,
    lmms_eval_template,
    metric_list_yaml,
    safebench_variant_files,
    write_all,
)

SCRIPT = "_generate_configs.py"
VERSION = "0.1"
# variant name -> (modality, mode, title)
VARIANTS = {
    "image": ("image", "default", "image"),
    "audio_female": ("audio_female", "audio", "audio, female voice"),
    "audio_male": ("audio_male", "audio", "audio, male voice"),
    "audio_female_affirmative": ("audio_female", "affirmative", "audio, female voice + 'start with Sure'"),
    "audio_male_affirmative": ("audio_male", "affirmative", "audio, male voice + 'start with Sure'"),
    "text": ("text", "default", "text only"),
}
UMBRELLA = ("image", "audio_female", "audio_male", "text")
API_BLOCK = "{prompt_mode: plain, audio_format: data_url, pre_prompt: \"\", post_prompt: \"\"}"

MODEL_BLOCKS = f"""\
# prompt_mode: "paper" wraps the query in an instruction tying it to the image (how the paper prompted
# open-source models); "plain" sends the raw query (how it prompted API models). audio_format: how chat
# models receive the spoken query: "array" ({{array, sampling_rate}}) or "data_url" (base64 WAV).
lmms_eval_specific_kwargs:
  default: {{prompt_mode: paper, audio_format: array, pre_prompt: "", post_prompt: ""}}
  openai: {API_BLOCK}
  async_openai: {API_BLOCK}
  litellm: {API_BLOCK}
"""

MINI_TEMPLATE = """\
# MiniBench tasks span all of its scenarios in one task: per-scenario numbers are in `by_scenario`,
# and `asr`/`sri` are the mean over scenarios, as in the paper's MiniBench table.
include: _default_template_yaml
{metric_list}"""


def files() -> dict[str, str]:
    out = {
        "_default_template_yaml": lmms_eval_template(SCRIPT, "safebench", "SafeBench", METRICS["safebench"],
                                                     VERSION, MODEL_BLOCKS, chat_messages=True),
        "_mini_template_yaml": HEADER.format(script=SCRIPT) + MINI_TEMPLATE.format(
            metric_list=metric_list_yaml(METRICS["safebench_mini"])),
    }
    table = METRICS["safebench"]
    for variant, (modality, mode, title) in VARIANTS.items():
        out.update(safebench_variant_files(
            SCRIPT, f"safebench_{variant}", f"SafeBench ({title})", variant,
            lambda scenario, modality=modality, mode=mode: [f"dataset_name: {modality}.full.{mode}.{scenario.slug}"],
            table, True, VERSION))
        mini = f"safebench_mini_{variant}"
        out[f"mini/{mini}.yaml"] = HEADER.format(script=SCRIPT) + "\n".join([
            "include: ../_mini_template_yaml", f"task: {mini}", f'task_alias: "SafeBench MiniBench ({title})"',
            f"dataset_name: {modality}.mini.{mode}.all"]) + "\n"
    out["_safebench.yaml"] = group_yaml(SCRIPT, "safebench", "SafeBench (image, audio, text)",
                                        [f"safebench_{v}" for v in UMBRELLA], table, True, VERSION)
    out["_safebench_mini.yaml"] = group_yaml(SCRIPT, "safebench_mini", "SafeBench MiniBench (image, audio, text)",
                                             [f"safebench_mini_{v}" for v in UMBRELLA], METRICS["safebench_mini"],
                                             True, VERSION, skip=("by_scenario",))
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
