"""Generate this folder's task and group YAMLs (MM-SafetyBench text-only, for lm-eval).

    python tasks/lm_eval/mmsafetybench/_generate_configs.py

Per subset (full, tiny) and prompt (plain, defended): 13 scenario YAMLs in a sub-folder and their group
``safebench_mmsb[_tiny]_text[_defended]``. Each task names its slice in ``dataset_kwargs.selector``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.mmsafetybench import NAME, SCENARIOS
from lmms_safebench.harness.taskwriter import lm_eval_template, mmsb_family, support_files, write_all
from lmms_safebench.scoring.metrics import TABLES

SCRIPT = "_generate_configs.py"
TABLE = TABLES["mmsafetybench"]
VERSION = "0.1"


def files() -> dict[str, str]:
    out = {"_default_template_yaml": lm_eval_template(SCRIPT, "`lmms-safebench build mmsafetybench`",
                                                      "MM-SafetyBench", TABLE, VERSION),
           **support_files(SCRIPT, lmms_eval=False)}
    out.update(mmsb_family(SCRIPT, NAME, "safebench_mmsb", "MM-SafetyBench", SCENARIOS, ("text",), ("full", "tiny"),
                           ("plain", "defended"), TABLE, VERSION, lm_eval=True))
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
