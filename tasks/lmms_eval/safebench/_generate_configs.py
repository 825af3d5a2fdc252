"""Generate this folder's task and group YAMLs (SafeBench for lmms-eval).

    python tasks/lmms_eval/safebench/_generate_configs.py

Full set: per variant (image; spoken query, female or male voice, alone or with the "start with Sure"
instruction; text), one five-line YAML per scenario (``safebench_<variant>_<scenario>``) in a
sub-folder, 8 category groups (``safebench_<variant>_<category>``) and the variant's group
(``safebench_<variant>``); plus the umbrella ``safebench``. MiniBench: one task per variant over all
of its scenarios (``safebench_mini_<variant>``, with a per-scenario table) and ``safebench_mini``.
Each task names its slice in ``dataset_name``: ``safebench.<modality>.<set>.<mode>.<scenario|all>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.safebench import CATEGORIES, MINI, NAME, SCENARIOS, UMBRELLA
from lmms_safebench.harness.taskwriter import (
    HEADER,
    SAFEBENCH_MODEL_BLOCKS,
    group_yaml,
    lmms_eval_template,
    metric_list_yaml,
    quoted,
    safebench_family,
    safebench_variants,
    support_files,
    write_all,
)
from lmms_safebench.scoring.metrics import TABLES

SCRIPT = "_generate_configs.py"
VERSION = "0.1"
BUILD = "`lmms-safebench build safebench`"

MINI_TEMPLATE = """\
# MiniBench tasks span all of its scenarios in one task: per-scenario numbers are in `by_scenario`,
# and `asr`/`sri` are the mean over scenarios, as in the paper's MiniBench table.
include: _default_template_yaml
{metric_list}"""


def files() -> dict[str, str]:
    table, mini_table = TABLES["safebench"], TABLES["safebench_mini"]
    out = {
        "_default_template_yaml": lmms_eval_template(SCRIPT, BUILD, "SafeBench", table, VERSION,
                                                     SAFEBENCH_MODEL_BLOCKS, chat_messages=True),
        "_mini_template_yaml": HEADER.format(script=SCRIPT) + MINI_TEMPLATE.format(
            metric_list=metric_list_yaml(mini_table)),
        **support_files(SCRIPT, lmms_eval=True),
    }
    out.update(safebench_family(SCRIPT, NAME, "safebench", "SafeBench", SCENARIOS, CATEGORIES,
                                safebench_variants("full"), table, VERSION, umbrella=list(UMBRELLA)))
    for variant in safebench_variants(MINI):
        mini = f"safebench_mini_{variant.name}"
        out[f"mini/{mini}.yaml"] = HEADER.format(script=SCRIPT) + "\n".join([
            "include: ../_mini_template_yaml", f"task: {mini}", f"task_alias: {quoted(f'SafeBench MiniBench ({variant.title})')}",
            f"dataset_name: {NAME}.{variant.selector}.all"]) + "\n"
    out["_safebench_mini.yaml"] = group_yaml(SCRIPT, "safebench_mini", "SafeBench MiniBench (image, audio, text)",
                                             [f"safebench_mini_{v}" for v in UMBRELLA], mini_table, True, VERSION,
                                             skip=("by_scenario",))
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
