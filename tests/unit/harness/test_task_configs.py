"""The task folders: generated files are current, names are prefixed, lmms-eval and lm-eval index them."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from lmms_safebench.benchmarks.mmsafetybench import SCENARIOS
from lmms_safebench.benchmarks.safebench import SCENARIOS as SAFEBENCH_SCENARIOS
from lmms_safebench.harness.discovery import lm_eval_tasks_dir, lmms_eval_tasks_dir

GENERATORS = sorted(lmms_eval_tasks_dir().glob("*/_generate_configs.py")) + sorted(
    lm_eval_tasks_dir().glob("*/_generate_configs.py"))


@pytest.mark.parametrize("script", GENERATORS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_generated_yamls_are_up_to_date(script, tmp_path):
    spec = importlib.util.spec_from_file_location("gen", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.files()
    folder = script.parent
    committed = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()
                 and (p.suffix == ".yaml" or p.name.endswith("_template_yaml") or str(p.relative_to(folder)) in expected)}
    assert committed == expected, f"run `python {script}` and commit the result"
    for name, text in expected.items():
        if name.endswith(".yaml") and "/" in name and "/safebench_mini" not in name:
            assert len(text.splitlines()) <= 7  # scenario files stay a few lines that include the template


def test_lmms_eval_indexes_every_task_with_prefixed_names():
    from lmms_eval.tasks import TaskManager

    manager = TaskManager("ERROR")
    ours = {name for name in manager.all_tasks if manager.task_index[name]["yaml_path"] != -1
            and str(lmms_eval_tasks_dir()) in str(manager.task_index[name]["yaml_path"])}
    assert ours and all(name == "safebench" or name.startswith("safebench_") for name in ours)
    assert all(manager.task_index[name]["yaml_path"] != -1 for name in ours)  # no built-in took a name of ours
    for group in ("safebench_mmsb", "safebench_mmsb_tiny", "safebench_mmsb_tiny_sd_typo", "safebench_mmsb_typo_defended"):
        assert manager.task_index[group]["type"] == "group"
    expected_tasks = {f"safebench_mmsb{t}_{k}{d}_{sc.slug}" for t in ("", "_tiny") for k in ("sd", "typo", "sd_typo", "text")
                      for d in ("", "_defended") for sc in SCENARIOS}
    assert expected_tasks <= {n for n in ours if manager.task_index[n]["type"] == "task"}
    assert len(expected_tasks) == 208
    variants = ("image", "audio_female", "audio_male", "audio_female_affirmative", "audio_male_affirmative", "text")
    safebench_tasks = {f"safebench_{v}_{sc.slug}" for v in variants for sc in SAFEBENCH_SCENARIOS}
    assert safebench_tasks <= ours and len(safebench_tasks) == 138
    for variant in variants:
        assert manager.task_index[f"safebench_{variant}"]["type"] == "group"
        assert manager.task_index[f"safebench_mini_{variant}"]["type"] == "task"
    assert manager.task_index["safebench"]["type"] == "group"


def test_lm_eval_indexes_the_text_tasks_via_include_path():
    out = subprocess.run([sys.executable, "-c", (
        "from lm_eval.tasks import TaskManager; import sys;"
        f"m = TaskManager(include_path={str(lm_eval_tasks_dir())!r});"
        "print('\\n'.join(n for n in m.all_tasks if n.startswith('safebench_')))")],
        capture_output=True, text=True, timeout=300)
    names = set(out.stdout.split())
    assert {"safebench_mmsb_text", "safebench_mmsb_tiny_text_defended", "safebench_mmsb_text_13_gov_decision",
            "safebench_text", "safebench_text_ethics", "safebench_text_bioethics", "safebench_mini_text"} <= names, \
        out.stderr[-2000:]


def test_tasks_dir_command_prints_existing_folders():
    from lmms_safebench.cli import main

    for harness, expected in (("lm-eval", lm_eval_tasks_dir()), ("lmms-eval", lmms_eval_tasks_dir())):
        out = subprocess.run([str(Path(sys.executable).parent / "lmms-safebench"), "tasks-dir", "--harness", harness],
                             capture_output=True, text=True)
        assert Path(out.stdout.strip()) == expected and expected.is_dir()
    assert main(["tasks-dir"]) == 0
