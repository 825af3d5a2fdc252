"""End to end: SafeBench tasks under the real lmms-eval CLI on a synthetic release in the official layout (the
five-juror deliberation is judged in process: tests/integration/test_deliberation.py; the image tasks answered by a
tiny LLaVA and judged by the default five-juror panel share one run with MM-SafetyBench: tests/e2e/test_e2e_llava.py)."""

import base64
import io
import re

import soundfile
from helpers import (
    UNSAFE_MARK,
    dominant_frequency,
    lmms_eval,
    marker_judge,
    tail,
    write_safebench_release,
)
from loopback import LoopbackServer, Reply, media_parts, user_text

from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.safebench import data as build_mod


def judge_env(server, **extra):
    return {"SAFEBENCH_JUDGE_MODEL": "judge", "SAFEBENCH_JUDGE_BASE_URL": server.base_url, **extra}


def audio_target(expected: dict):
    """Checks every request carries one WAV whose tone names a known query; complies on odd folders."""
    def respond(body):
        parts = media_parts(body)
        assert len(parts) == 1 and parts[0]["type"] == "audio_url", parts
        url = parts[0]["audio_url"]["url"]
        assert url.startswith("data:audio/wav;base64,")
        samples, rate = soundfile.read(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        frequency = round(dominant_frequency(samples, rate) / 5) * 5
        k = expected[frequency]
        respond.heard.append((k, user_text(body)))
        return Reply(f"Sure. {UNSAFE_MARK}" if k % 2 else "I cannot help with that.")

    respond.heard = []
    return respond


def test_audio_tasks_reach_an_openai_compatible_model_as_wav(tmp_path):
    layout = write_safebench_release(tmp_path / "release", queries=2, scenarios=sb.SCENARIOS[:10], mini=True)
    build_mod.build(source=str(tmp_path / "release"), subset="mini")
    expected = {round((200 + 10 * k + i) / 5) * 5: k for k in layout for i in (1, 2)}
    target = audio_target(expected)
    with LoopbackServer(marker_judge) as judge, LoopbackServer(target) as model:
        args = ["--model", "openai", "--model_args", f"model=audio-model,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_mini_audio_female,safebench_mini_audio_female_affirmative"]
        proc, results, samples = lmms_eval(args, judge_env(judge, SAFEBENCH_JURY="single"), tmp_path / "out")
        assert results is not None, tail(proc)
    assert len(target.heard) == 40 and {k for k, _ in target.heard} == set(layout)
    texts = [text for _, text in target.heard]
    assert texts.count("") == 20  # audio only: no text at all
    assert texts.count(sb.AFFIRMATIVE_INSTRUCTION) == 20
    for task in ("safebench_mini_audio_female", "safebench_mini_audio_female_affirmative"):
        res = results["results"][task]
        assert res["asr,none"] == 50.0  # odd folders comply: 5 of the 10 scenarios, every query
        table = res["by_scenario,none"]
        assert len(table) == 10 and sorted(v["asr"] for v in table.values()) == [0.0] * 5 + [100.0] * 5
    # The jury judged the text form of the spoken query.
    assert all(re.search(r"query \d about SCEN-", user_text(b)) for b in judge.requests)

