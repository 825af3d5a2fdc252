"""Write this folder's task and group YAMLs (MM-SafetyBench text-only, for lm-eval).

    python tasks/lm_eval/mmsafetybench/_generate_configs.py

Per subset (full, tiny) and prompt (plain, defended): 13 scenario YAMLs in a sub-folder and their group
``safebench_mmsb[_tiny]_text[_defended]``. Each task names its slice in ``dataset_kwargs.selector``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.mmsafetybench.tasks import lm_eval_files
from lmms_safebench.harness.taskwriter import write_all

SCRIPT = "_generate_configs.py"


def files() -> dict[str, str]:
    return lm_eval_files(SCRIPT)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
