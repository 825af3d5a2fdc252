"""Write this folder's task and group YAMLs (SafeBench for lmms-eval).

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

from lmms_safebench.benchmarks.safebench.tasks import lmms_eval_files
from lmms_safebench.harness.taskwriter import write_all

SCRIPT = "_generate_configs.py"


def files() -> dict[str, str]:
    return lmms_eval_files(SCRIPT)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
