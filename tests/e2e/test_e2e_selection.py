"""`lmms-safebench select` end to end: the selection runs as tasks under the real lmms-eval CLI and bad input is
named (the quality measures in process are tests/integration/test_selection.py)."""

import json
import subprocess

from helpers import BIN, lmms_eval, marker_judge, tail
from loopback import LoopbackServer, Reply

from lmms_safebench.benchmarks import registry


def test_the_selection_runs_as_tasks_and_bad_input_is_named(pool, tiny_sentence_model, tiny_clip):
    tmp_path, planted, _ = pool
    cli = str(BIN / "lmms-safebench")
    base = [cli, "select", str(tmp_path / "runs"), "--from", "safebench_image", "--name", "sel"]
    # Diversity from the questions' text and the documents' images (tiny models built offline).
    (tmp_path / "models.yaml").write_text(f"embedding_model: {tiny_sentence_model}\nimage_model: {tiny_clip}\n"
                                          "draws: 20\n")
    done = subprocess.run([*base, "--budget", "12", "--config", str(tmp_path / "models.yaml")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, tail(done)
    assert "safebench_sel_sel" in done.stdout and "GAP" in done.stdout
    card = json.loads((registry.generated_dir("sel") / "data_card.json").read_text())
    assert card["objective"]["image_model"] == str(tiny_clip)
    assert 0 < float(card["quality"]["selected"]["DIV"]) < 2  # measured on joint text and image embeddings
    with LoopbackServer(marker_judge) as judge, LoopbackServer(lambda b: Reply("I cannot help.")) as model:
        env = {"SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url, "SAFEBENCH_JURY": "single"}
        args = ["--model", "openai", "--model_args", f"model=m,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_sel_sel"]
        proc, results, samples = lmms_eval(args, env, tmp_path / "out")
        assert results is not None, tail(proc)
    assert sum(len(s) for s in samples.values()) == 12 and results["results"]["safebench_sel_sel"]["asr,none"] == 0.0
    selected = set(json.loads((registry.generated_dir("sel") / "manifest.json").read_text())["selected"])
    assert {s["jury"]["case"]["key"] for task in samples.values() for s in task} == selected

    # (The tiny local models: offline, the default hub models are refused before anything else is looked at.)
    models = ["--config", str(tmp_path / "models.yaml")]
    too_big = subprocess.run([*base, "--budget", "1000", *models], capture_output=True, text=True, timeout=600)
    assert too_big.returncode == 2 and "larger than the pool" in too_big.stderr
    other = subprocess.run([cli, "select", str(tmp_path / "runs"), "--from", "safebench_mmsb_typo", "--name", "x",
                            "--budget", "5", *models], capture_output=True, text=True, timeout=600)
    assert other.returncode == 2 and "no judged samples of 'safebench_mmsb_typo'" in other.stderr
    assert "safebench_image" in other.stderr  # it says what the runs are on


