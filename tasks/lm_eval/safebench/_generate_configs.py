"""Write this folder's task and group YAMLs (SafeBench text-only, for lm-eval).

    python tasks/lm_eval/safebench/_generate_configs.py

``safebench_text``: 8 category groups over 23 scenario tasks (``safebench_text_<scenario>``), one
five-line YAML each in ``text/``; ``safebench_mini_text``: one task over MiniBench's scenarios.
Each task names its slice in ``dataset_kwargs.selector``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.safebench.tasks import lm_eval_files
from lmms_safebench.harness.taskwriter import write_all

SCRIPT = "_generate_configs.py"


def files() -> dict[str, str]:
    return lm_eval_files(SCRIPT)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
