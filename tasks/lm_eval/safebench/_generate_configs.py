"""Generate this folder's task and group YAMLs (SafeBench text-only, for lm-eval).

    python tasks/lm_eval/safebench/_generate_configs.py

``safebench_text``: 8 category groups over 23 scenario tasks (``safebench_text_<scenario>``), one
five-line YAML each in ``text/``; ``safebench_mini_text``: one task over MiniBench's scenarios.
Each task names its slice in ``dataset_kwargs.selector``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmms_safebench.benchmarks.safebench import CATEGORIES, NAME, SCENARIOS
from lmms_safebench.harness.taskwriter import (
    HEADER,
    lm_eval_template,
    metric_list_yaml,
    safebench_family,
    safebench_variants,
    support_files,
    write_all,
)
from lmms_safebench.scoring.metrics import TABLES

SCRIPT = "_generate_configs.py"
VERSION = "0.1"


def files() -> dict[str, str]:
    table = TABLES["safebench"]
    out = {"_default_template_yaml": lm_eval_template(SCRIPT, "`lmms-safebench build safebench`", "SafeBench", table,
                                                      VERSION),
           **support_files(SCRIPT, lmms_eval=False)}
    out.update(safebench_family(SCRIPT, NAME, "safebench", "SafeBench", SCENARIOS, CATEGORIES,
                                safebench_variants("full", ["text"]), table, VERSION, lm_eval=True))
    # Next to utils.py: lm-eval resolves a YAML's own `!function utils.*` in the YAML's folder.
    out["safebench_mini_text.yaml"] = HEADER.format(script=SCRIPT) + "\n".join([
        "include: _default_template_yaml", "task: safebench_mini_text",
        'task_alias: "SafeBench MiniBench (text only)"', "dataset_kwargs:", f"  selector: {NAME}.text.mini.default.all",
        metric_list_yaml(TABLES["safebench_mini"]).rstrip()]) + "\n"
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    written = write_all(folder, files())
    print(f"wrote {len(written)} files under {folder}")
