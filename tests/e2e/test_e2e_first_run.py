"""A newcomer's first run through the real lmms-eval CLI: a run that cannot start ends with what to do, and the
README's no-GPU quick start works as written. The in-process checks are tests/integration/test_first_run.py: every
other cause of a run that cannot start (data not built, a local juror model that is not there) through the same
hook, and unbuilt data built by the task when online."""

import os
import re
import subprocess

import pytest
from helpers import BIN, REPO, marker_judge, read_outputs, write_mmsb_source
from loopback import LoopbackServer, Reply

from lmms_safebench.errors import ConfigError
from lmms_safebench.jury.config import resolve_jury_config


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1].strip()


def test_a_run_that_cannot_start_exits_non_zero_with_the_message_last(tmp_path):
    """No jury: the one cause run through the real CLI. Every cause takes the same path (the task hooks'
    ``CannotStart``, checked per cause in process in tests/integration/test_first_run.py); only a real lmms-eval
    process shows what the harness does with it: no retries, no traceback, a non-zero exit and no results file."""
    from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    build_mod.build(source=str(tmp_path / "upstream"))
    with pytest.raises(ConfigError) as expected:
        resolve_jury_config("single")
    message = str(expected.value)
    with LoopbackServer(lambda body: Reply("I can't help.")) as target:
        proc = subprocess.run(
            [str(BIN / "lmms-eval"), "--model", "openai", "--model_args",
             f"model=t,base_url={target.base_url},api_key=x", "--tasks", "safebench_mmsb_tiny_typo",
             "--limit", "1", "--output_path", str(tmp_path / "out")],
            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=120)
        assert target.count == 0
    output = proc.stdout
    assert proc.returncode != 0, output[-3000:]
    # Said once, whole, and last (stdout and stderr in one stream, as in a terminal); no retries, no traceback.
    assert output.count("lmms-safebench cannot start this task:") == 1, output[-3000:]
    assert f"lmms-safebench cannot start this task: {message}" in output
    assert last_line(output) == last_line(message)
    assert "RetryError" not in output and "Traceback" not in output
    assert not list((tmp_path / "out").rglob("*.json"))  # nothing was evaluated, so no results file


def readme_block(marker: str) -> str:
    """The shell block that follows ``<!-- marker -->`` in the README."""
    text = (REPO / "README.md").read_text()
    return re.search(r"```bash\n(.*?)```", text.split(f"<!-- {marker} -->", 1)[1], re.S).group(1)


def test_the_no_gpu_quick_start_works_as_written(tmp_path):
    """The README's no-GPU commands, run as written: only the two endpoints and the output folder are
    replaced by loopback servers and a temporary folder (the data is built beforehand: tests are offline)."""
    from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    build_mod.build(source=str(tmp_path / "upstream"))
    block = readme_block("quickstart:no-gpu")
    with LoopbackServer(marker_judge) as judge, LoopbackServer(lambda body: Reply("I can't help.")) as target:
        script = block
        for written, here in (("https://api.openai.com/v1", judge.base_url), ("http://localhost:8000/v1", target.base_url),
                              ("results/", f"{tmp_path / 'results'}/")):
            assert written in script
            script = script.replace(written, here)
        proc = subprocess.run(["bash", "-e", "-c", script], env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert target.count == 13 and judge.count == 1 + 13  # `jury check` makes one call
    results, samples = read_outputs(tmp_path / "results")
    assert results["results"]["safebench_mmsb_tiny_typo"]["judged,none"] == 100.0 and len(samples) == 13


