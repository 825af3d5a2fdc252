"""Generate this folder's task and group YAMLs (MM-SafetyBench for lmms-eval).

    python tasks/lmms_eval/mmsafetybench/_generate_configs.py

Writes one five-line YAML per (variant, scenario), in a sub-folder per variant, that includes
``_default_template_yaml`` and names its slice in ``dataset_name``
(``mmsafetybench.<kind>.<subset>.<prompt>.<scenario>``); one group YAML per variant here at the top (group
aggregations resolve ``utils.combine`` next to them); the umbrella groups ``safebench_mmsb`` and
``safebench_mmsb_tiny``; and the folder's ``utils.py`` and placeholder dataset. Variants: image kind (sd,
typo, sd_typo, text) x subset (full, tiny) x prompt (plain, defended).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.mmsafetybench import IMAGE_KINDS, NAME, SCENARIOS
from lmms_safebench.harness.taskwriter import lmms_eval_template, mmsb_family, support_files, write_all
from lmms_safebench.scoring.metrics import TABLES

SCRIPT = "_generate_configs.py"
TABLE = TABLES["mmsafetybench"]
VERSION = "0.1"

MODEL_BLOCKS = """\
lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
"""


def files() -> dict[str, str]:
    out = {"_default_template_yaml": lmms_eval_template(SCRIPT, "`lmms-safebench build mmsafetybench`",
                                                        "MM-SafetyBench", TABLE, VERSION, MODEL_BLOCKS),
           **support_files(SCRIPT, lmms_eval=True)}
    out.update(mmsb_family(SCRIPT, NAME, "safebench_mmsb", "MM-SafetyBench", SCENARIOS, IMAGE_KINDS, ("full", "tiny"),
                           ("plain", "defended"), TABLE, VERSION))
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
