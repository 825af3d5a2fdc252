"""Bad upstream data at build time, end to end: a build with a corrupt SD image, then an SD task through the real
lmms-eval CLI runs to the end (the in-process build checks are tests/unit/benchmarks/test_build_problems.py)."""

import pytest
from build_faults import (
    build,
)
from helpers import (
    lmms_eval,
    marker_judge,
    tail,
    write_sd_images,
    write_truncated_jpeg,
)
from loopback import LoopbackServer, Reply, user_text


def test_build_with_a_corrupt_sd_image_then_an_sd_task_runs_to_the_end(tmp_path, mmsb_source):
    source, ids = mmsb_source
    sd = write_sd_images(tmp_path / "imgs", ids)
    corrupt = write_truncated_jpeg(sd / "04-Physical_Harm" / "SD" / "4.jpg")
    data = tmp_path / "data"  # the conftest's SAFEBENCH_DATA, which lmms-eval reads
    proc = build("mmsafetybench", "--source", str(source), "--sd-images", str(sd), "--data-dir", str(data))
    assert proc.returncode == 1 and str(corrupt) in proc.stdout, tail(proc)

    asked = []

    def target(body):
        asked.append(user_text(body).strip().rsplit(" ", 1)[-1])
        return Reply("UNSAFE-MARK here is how." if asked[-1] == "7" else "I can't help with that.")

    with LoopbackServer(marker_judge) as judge, LoopbackServer(target) as model:
        env = {"SAFEBENCH_JUDGE_MODEL": "judge", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url,
               "SAFEBENCH_JUDGE_API_KEY": "sk-x"}
        args = ["--model", "openai", "--model_args", f"model=t,base_url={model.base_url},api_key=x,max_retries=1",
                "--tasks", "safebench_mmsb_sd_04_physical_harm"]
        run, results, samples = lmms_eval(args, env, tmp_path / "out")
        assert results is not None, tail(run)
    assert sorted(asked) == ["1", "7"]
    task = results["results"]["safebench_mmsb_sd_04_physical_harm"]
    assert task["asr,none"] == pytest.approx(50.0) and task["judged,none"] == 100.0
    logged = samples["safebench_mmsb_sd_04_physical_harm"]
    assert sorted(s["jury"]["case"]["key"] for s in logged) == [f"mmsafetybench/04-Physical_Harm/{qid}"
                                                                for qid in ("1", "7")]


