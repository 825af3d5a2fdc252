"""Write this folder's task and group YAMLs (MM-SafetyBench for lmms-eval).

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

from lmms_safebench.benchmarks.mmsafetybench.tasks import lmms_eval_files
from lmms_safebench.harness.taskwriter import write_all

SCRIPT = "_generate_configs.py"


def files() -> dict[str, str]:
    return lmms_eval_files(SCRIPT)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
