"""Write this folder's task and group YAMLs (MOSSBench, for lmms-eval).

    python tasks/lmms_eval/mossbench/_generate_configs.py

Per set (benign, contrast): a template (the metrics' directions differ), one task per stimulus type in a
sub-folder (``dataset_name: mossbench.<set>.<stimulus>``) and the set's group (``safebench_mossbench``,
``safebench_mossbench_contrast``); and the folder's ``utils.py`` and placeholder dataset.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.mossbench.tasks import lmms_eval_files
from lmms_safebench.harness.taskwriter import write_all

SCRIPT = "_generate_configs.py"


def files() -> dict[str, str]:
    return lmms_eval_files(SCRIPT)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
