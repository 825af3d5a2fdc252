"""Write this folder's task and group YAMLs (MSSBench, for lmms-eval).

    python tasks/lmms_eval/mssbench/_generate_configs.py

One task per setting (``dataset_name: mssbench.<setting>.all``: both halves of every pair) in a sub-folder,
the group ``safebench_mssbench`` over both settings, and the folder's ``utils.py`` and placeholder dataset.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.mssbench.tasks import lmms_eval_files
from lmms_safebench.harness.taskwriter import write_all

SCRIPT = "_generate_configs.py"


def files() -> dict[str, str]:
    return lmms_eval_files(SCRIPT)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
