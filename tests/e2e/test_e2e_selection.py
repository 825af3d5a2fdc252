"""`lmms-safebench select` end to end: the selection runs as tasks under the real lmms-eval CLI (the one run of a
selected family through the harness) and bad input is named; `select` itself runs by the CLI's entry point in
process (the quality measures in process are tests/integration/test_selection.py)."""

import json

from helpers import lmms_eval, marker_judge, tail
from loopback import LoopbackServer, Reply

from lmms_safebench.benchmarks import registry
from lmms_safebench.cli import main as cli


def test_the_selection_runs_as_tasks_and_bad_input_is_named(pool, tiny_sentence_model, tiny_clip, capsys):
    tmp_path, planted, _ = pool
    base = ["select", str(tmp_path / "runs"), "--from", "safebench_image", "--name", "sel"]
    # Diversity from the questions' text and the documents' images (tiny models built offline).
    (tmp_path / "models.yaml").write_text(f"embedding_model: {tiny_sentence_model}\nimage_model: {tiny_clip}\n"
                                          "draws: 20\n")
    assert cli([*base, "--budget", "12", "--config", str(tmp_path / "models.yaml")]) == 0
    out = capsys.readouterr().out
    assert "safebench_sel_sel" in out and "GAP" in out
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
    assert cli([*base, "--budget", "1000", *models]) == 2
    assert "larger than the pool" in capsys.readouterr().err
    assert cli(["select", str(tmp_path / "runs"), "--from", "safebench_mmsb_typo", "--name", "x", "--budget", "5",
                *models]) == 2
    err = capsys.readouterr().err
    assert "no judged samples of 'safebench_mmsb_typo'" in err
    assert "safebench_image" in err  # it says what the runs are on
