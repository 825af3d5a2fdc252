"""Write this folder's task and group YAMLs (XSTest, for lmms-eval).

    python tasks/lmms_eval/xstest/_generate_configs.py

Per half (safe, unsafe): a template (the metrics' directions differ) and one task
(``dataset_name: xstest.<half>.all``) in a sub-folder; the group ``safebench_xstest`` that runs both and combines
nothing; and the folder's ``utils.py`` and placeholder dataset.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.xstest.tasks import lmms_eval_files
from lmms_safebench.harness.taskwriter import write_all

SCRIPT = "_generate_configs.py"


def files() -> dict[str, str]:
    return lmms_eval_files(SCRIPT)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
