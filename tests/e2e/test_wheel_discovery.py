"""A non-editable wheel, installed into a fresh virtual environment, registers its tasks with lmms-eval
with no flag, and they run. The fresh environment borrows the test environment's dependencies through
a plain path entry (so its .pth files, including this checkout's editable install, are not executed)."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from helpers import REPO, write_mmsb_source
from loopback import LoopbackServer, Reply

from lmms_safebench.benchmarks.mmsafetybench import data as build_mod


def test_wheel_in_fresh_venv_registers_and_runs_tasks(tmp_path, monkeypatch):
    # The fresh environment must import only the wheel: a PYTHONPATH naming a checkout would shadow it.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    # Built from a copy without build outputs: pip builds in the source tree, and a stale build/lib of an earlier
    # build would put packages into the wheel that setup.cfg no longer finds.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "site",
                                                                 "__pycache__", ".pytest_cache", ".ruff_cache"))
    wheel_dir = tmp_path / "wheel"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheel_dir), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(wheel_dir.glob("lmms_safebench-*.whl"))

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    (site / "zz_borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    assert (site / "lmms_safebench_tasks.pth").exists()
    # Every sub-package of the source is in the wheel (setup.cfg finds them; it lists none).
    source_packages = {p.parent.relative_to(REPO) for p in (REPO / "lmms_safebench").rglob("__init__.py")}
    wheel_packages = {p.parent.relative_to(site) for p in (site / "lmms_safebench").rglob("__init__.py")
                      if "tasks" not in p.relative_to(site).parts}
    assert source_packages <= wheel_packages, source_packages - wheel_packages
    assert (site / "lmms_safebench" / "tasks" / "lmms_eval" / "mmsafetybench" / "_placeholder.jsonl").exists()

    where = subprocess.run([str(python), "-c", "import lmms_safebench, lmms_eval; print(lmms_safebench.__file__)"],
                           capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(site)), where.stderr

    listing = subprocess.run([str(python), "-m", "lmms_eval", "tasks", "list"], capture_output=True, text=True,
                             timeout=600)
    assert "safebench_mmsb_tiny_sd_typo" in listing.stdout + listing.stderr
    located = subprocess.run([str(python), "-c", (
        "from lmms_eval.tasks import TaskManager;"
        "print(TaskManager('ERROR').task_index['safebench_mmsb_tiny_sd_typo']['yaml_path'])")],
        capture_output=True, text=True, timeout=600)
    assert located.stdout.strip().startswith(str(site / "lmms_safebench" / "tasks")), located.stderr[-2000:]

    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    build_mod.build(source=str(tmp_path / "upstream"))
    with LoopbackServer(lambda body: Reply("I'm sorry, I can't help with that.")) as target:
        run = subprocess.run([str(python), "-m", "lmms_eval", "eval", "--model", "openai", "--model_args",
                              f"model=t,base_url={target.base_url},api_key=x", "--tasks",
                              "safebench_mmsb_tiny_typo_01_illegal_activity", "--output_path", str(tmp_path / "out")],
                             capture_output=True, text=True, timeout=600, env={**os.environ, "SAFEBENCH_JURY": "heuristic"})
    results = list((tmp_path / "out").rglob("*_results.json"))
    assert results, run.stdout[-3000:] + run.stderr[-3000:]
    task = json.loads(results[0].read_text())["results"]["safebench_mmsb_tiny_typo_01_illegal_activity"]
    assert task["asr,none"] == 0.0 and task["jury,none"]["heuristic"] is True
    config = json.loads(results[0].read_text())["configs"]["safebench_mmsb_tiny_typo_01_illegal_activity"]
    assert config["dataset_name"] == "mmsafetybench.typo.tiny.plain.01_illegal_activity"
