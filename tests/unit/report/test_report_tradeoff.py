"""The trade-off report's library: capability scores from real lm-eval output, summary tables, charts, rank
correlations, and the lm-eval / Hugging Face exports read back by lm-eval's and huggingface_hub's own code."""

import csv
import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from lmms_safebench.benchmarks.mossbench.taxonomy import TERMS as MOSSBENCH_TERMS
from lmms_safebench.errors import DataError
from lmms_safebench.harness import outputs
from lmms_safebench.report import tradeoff
from lmms_safebench.report.capability import read_capability
from lmms_safebench.report.export import export_hf, export_lm_eval
from lmms_safebench.report.scores import CAPABILITY, HARM, OVER_REFUSAL, Score

TASK = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
GROUP = """group: tiny_group
task: [tiny_cap_a, tiny_cap_b]
aggregate_metric_list:
  - metric: acc
    aggregation: mean
    weight_by_size: true
metadata:
  version: 2.0
"""


@pytest.fixture(scope="module")
def lm_eval_run(tmp_path_factory):
    """A real lm-eval run (its ``dummy`` model, no weights) of a local group of two tasks and a solo task, saved by
    lm-eval's own EvaluationTracker: ``<out>/org__model-a/results_<date>.json``."""
    root = tmp_path_factory.mktemp("lm_eval_run")
    with open(root / "docs.jsonl", "w") as handle:
        for i in range(12):
            handle.write(json.dumps({"question": f"question {i}?", "choices": ["a", "b", "c"], "answer": i % 3}) + "\n")
    for name in ("tiny_cap_a", "tiny_cap_b", "tiny_solo"):
        (root / f"{name}.yaml").write_text(TASK.format(name=name, data=root / "docs.jsonl"))
    (root / "tiny_group.yaml").write_text(GROUP)
    with pytest.MonkeyPatch.context() as env:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            env.setenv(name, "1")
        env.setenv("HF_DATASETS_CACHE", str(root / "hf_cache"))
        from lm_eval import simple_evaluate
        from lm_eval.loggers import EvaluationTracker
        from lm_eval.tasks import TaskManager

        results = simple_evaluate(model="dummy", tasks=["tiny_group", "tiny_solo"], log_samples=True,
                                  task_manager=TaskManager(include_path=str(root), include_defaults=False),
                                  bootstrap_iters=50)
        tracker = EvaluationTracker(output_path=str(root / "out"))
        tracker.general_config_tracker.log_experiment_args(
            model_source="dummy", model_args="pretrained=org/model-a", system_instruction=None, chat_template=None,
            fewshot_as_multiturn=False)
        tracker.save_results_aggregated(results=results, samples=results.pop("samples"))
    (path,) = (root / "out").rglob("results_*.json")
    return root / "out", path


def test_capability_scores_of_a_real_lm_eval_run(lm_eval_run, tmp_path):
    out, path = lm_eval_run
    data = json.loads(path.read_text())
    # the same file as lmms-eval names it, for a second model, with one of this package's boards in it
    other = tmp_path / "lmms" / "model-b"
    other.mkdir(parents=True)
    data_b = {**data, "model_name": "org/model-b",
              "results": {**data["results"], "safebench_image": {"alias": "safebench_image", "asr,none": 12.0}}}
    (other / "20250101_120000_results.json").write_text(json.dumps(data_b))

    scores, notes = read_capability([out, tmp_path / "lmms"], overrides=["tiny_solo=acc_norm"])
    assert notes == []
    by_key = {(s.model, s.board): s for s in scores}
    # the group is the score, not its tasks; this package's boards are not capability scores
    assert set(by_key) == {(m, t) for m in ("org/model-a", "org/model-b") for t in ("tiny_group", "tiny_solo")}
    group, solo = by_key["org/model-a", "tiny_group"], by_key["org/model-a", "tiny_solo"]
    entry = data["results"]["tiny_group"]
    assert group.kind == CAPABILITY and group.metric == "acc" and group.value == entry["acc,none"]
    assert group.ci == pytest.approx((entry["acc,none"] - 1.96 * entry["acc_stderr,none"],
                                      entry["acc,none"] + 1.96 * entry["acc_stderr,none"]))
    assert group.n == 24 and group.higher_is_better is True and group.version == "2.0"
    assert group.dataset["tasks"]["tiny_cap_a"]["fingerprint"] == data["task_hashes"]["tiny_cap_a"]
    assert solo.metric == "acc_norm" and solo.value == data["results"]["tiny_solo"]["acc_norm,none"]  # the override
    assert solo.n == 12 and solo.dataset["id"] == "json" and solo.dataset["split"] == "test"
    # without the override: the first metric of the entry
    default, _ = read_capability([out])
    assert {s.board: s.metric for s in default} == {"tiny_group": "acc", "tiny_solo": "acc"}


def test_a_results_file_of_another_format_is_named(lm_eval_run, tmp_path):
    bad = tmp_path / "runs" / "m"
    bad.mkdir(parents=True)
    path = bad / "results_2025-01-01T00-00-00.000001.json"
    path.write_text(json.dumps({"scores": {"mmmu": 0.5}, "model": "m"}))
    with pytest.raises(DataError, match=r"results_2025-01-01T00-00-00\.000001\.json.*no 'results' mapping.*scores"):
        read_capability([tmp_path / "runs"])
    path.write_text(json.dumps({"results": {"mmmu": [0.5]}}))
    with pytest.raises(DataError, match=r"results\['mmmu'\] is a list"):
        read_capability([tmp_path / "runs"])
    path.write_text("{not json")
    with pytest.raises(DataError, match="unreadable results file"):
        read_capability([tmp_path / "runs"])
    with pytest.raises(DataError, match="tiny_solo.*no numeric metric 'f1'.*acc,none"):
        read_capability([lm_eval_run[0]], overrides=["tiny_solo=f1"])
    with pytest.raises(ValueError, match="expected TASK=METRIC"):
        read_capability([lm_eval_run[0]], overrides=["tiny_solo"])


MODELS = [f"org/model-{c}" for c in "abcdef"]
ASR = [40.0, 10.0, 25.0, 5.0, 30.0, 18.0]
REFUSAL = [3.0, 45.0, 12.0, 60.0, 8.0, 20.0]
ACC = [0.71, 0.52, 0.64, 0.40, 0.69, 0.58]
SCENARIOS = ["bias", "fraud", "privacy", "violence"]
BUILD = {"id": "safebench", "fingerprint": "f" * 64}


def six_models(capability=True) -> list[Score]:
    scores = []
    for i, model in enumerate(MODELS):
        scores.append(Score(model, "safebench_image", HARM, "asr", ASR[i], title="SafeBench image",
                            ci=(ASR[i] - 4, ASR[i] + 5), n=230, higher_is_better=False, jury="panel-3",
                            jury_identity="j" * 16, dataset=BUILD,
                            per_scenario={s: ASR[i] + k for k, s in enumerate(SCENARIOS)}))
        scores.append(Score(model, "safebench_image", HARM, "sri", math.nan, higher_is_better=True, jury="panel-3",
                            jury_identity="j" * 16, dataset=BUILD))  # nothing rated: an all-n/a column
        scores.append(Score(model, "safebench_mossbench_benign", OVER_REFUSAL, "refusal_rate", REFUSAL[i],
                            title="MOSSBench benign", ci=(max(0.0, REFUSAL[i] - 6), REFUSAL[i] + 6), n=300,
                            higher_is_better=False, jury="refusal-1", jury_identity="r" * 16,
                            dataset={"id": "xirui-li/MOSSBench", "revision": "8d68b06"}, terms=MOSSBENCH_TERMS))
        if capability and model != MODELS[-1]:  # the last model has no capability run
            scores.append(Score(model, "tiny_group", CAPABILITY, "acc", ACC[i], ci=(ACC[i] - 0.05, ACC[i] + 0.05),
                                n=24, higher_is_better=True, dataset={"tasks": {"tiny_cap_a": {"id": "json"}}}))
    return scores


def test_summary_has_a_row_per_model_with_cis_juries_and_terms():
    (table,) = tradeoff.summary_tables(six_models())
    assert [row[0] for row in table.rows] == MODELS
    assert table.header == ["model", "SafeBench image asr ↓ (jury panel-3)",
                            "MOSSBench benign refusal_rate ↓ (jury refusal-1)", "tiny_group acc ↑"]  # no sri column
    first = table.rows[0]
    assert first[1] == "40.0 [36.0, 45.0] n=230" and first[2] == "3.0 [0.0, 9.0] n=300"
    assert first[3] == "0.710 [0.660, 0.760] n=24" and table.rows[-1][3] == "n/a"
    assert MOSSBENCH_TERMS in table.note and "jjjj" in table.note and "refusal-1 = rrrr" in table.note
    assert "panel-3" in table.markdown() and MOSSBENCH_TERMS in table.html()


def test_two_builds_of_one_board_are_never_in_one_table():
    scores = six_models()
    rebuilt = {"id": "safebench", "fingerprint": "0" * 64}
    scores = [Score(**{**s.__dict__, "dataset": rebuilt}) if s.board == "safebench_image" and s.model in MODELS[3:]
              else s for s in scores]
    main, first, second = tradeoff.summary_tables(scores)
    assert not any("SafeBench" in h for h in main.header) and len(main.rows) == 6
    assert [r[0] for r in first.rows] == MODELS[:3] and [r[0] for r in second.rows] == MODELS[3:]
    assert first.rows[0][1].startswith("40.0") and second.rows[0][1].startswith("5.0")
    for table in (first, second):
        assert table.header == ["model", "SafeBench image asr ↓ (jury panel-3)"]
        assert "2 different builds" in table.note and "not comparable" in table.note
    assert "fingerprint ffffffffffff" in first.note.split("This one:")[1]
    assert "fingerprint 000000000000" in second.note.split("This one:")[1]


def test_tradeoff_chart_and_heatmaps(tmp_path):
    (chart,) = tradeoff.tradeoff_charts(six_models(), tmp_path)
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size[0] > 500
    cols = tradeoff.columns(six_models())
    harm, refusal, capability = (next(c for c in cols if c.kind == k and c.metric != "sri")
                                 for k in (HARM, OVER_REFUSAL, CAPABILITY))
    drawn = tradeoff.tradeoff_png(cols, tmp_path / "again.png", harm, refusal, capability)
    sizes = drawn["sizes"]
    assert drawn["models"] == MODELS and sizes[MODELS[-1]] is None  # no capability score: hollow
    by_acc = sorted(MODELS[:-1], key=lambda m: ACC[MODELS.index(m)])
    assert [sizes[m] for m in by_acc] == sorted(sizes[m] for m in by_acc) and sizes[by_acc[0]] < sizes[by_acc[-1]]

    (heat,) = tradeoff.heatmaps(six_models(), tmp_path)
    assert heat.stat().st_size > 5000
    small = tradeoff.heatmap_layout(6, 4, 8, 8)
    assert small.annotate
    # 30 models: the figure grows with the rows, every row stays taller than its label, values stay written
    many = [Score(f"org/a-model-with-a-long-name-{i:02d}", "b", HARM, "asr", float(i), jury="j", jury_identity="j",
                  per_scenario={f"scenario_{k:02d}": float(i + k) for k in range(12)}) for i in range(30)]
    col, cells = next(iter(tradeoff.columns(many).items()))
    layout = tradeoff.heatmap_png(col, cells, tmp_path / "heat30.png")
    assert layout.figsize[1] > small.figsize[1] + 4 and layout.row_height * 72 >= 1.3 * layout.label_fontsize
    assert layout.label_fontsize >= 6 and layout.annotate
    with Image.open(tmp_path / "heat30.png") as image:  # the layout is the figure's
        assert image.size == tuple(round(v * 100) for v in layout.figsize)
    huge = tradeoff.heatmap_layout(300, 60)
    assert huge.figsize == tradeoff.MAX_SIZE and not huge.annotate


def test_spearman_equals_a_hand_computation():
    x, y = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0], [2.0, 7.0, 1.0, 8.0, 2.5, 0.5]
    # ranks by hand: x -> 3 1 4 2 5 6, y -> 3 5 2 6 4 1; d = 0 -4 2 -4 1 5
    hand = 1 - 6 * (0 + 16 + 4 + 16 + 1 + 25) / (6 * (36 - 1))
    assert tradeoff.spearman(x, y) == pytest.approx(hand)
    # ties: y's two 2.0s share rank 2.5; rho is Pearson's r of the ranks
    rx, ry = np.array([1, 2, 3, 4, 5.0]), np.array([1, 2.5, 2.5, 4, 5])
    hand_ties = ((rx - 3) @ (ry - 3)) / math.sqrt(((rx - 3) ** 2).sum() * ((ry - 3) ** 2).sum())
    assert tradeoff.spearman([1, 2, 3, 4, 5], [1, 2, 2, 4, 5]) == pytest.approx(hand_ties)
    # exact permutation test: only 2 of the 5! orderings are as extreme as a perfect rank agreement
    assert tradeoff.permutation_p([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == pytest.approx(2 / 120)

    found = tradeoff.correlations(six_models())
    by_kind = {c.safety.kind: c for c in found}
    harm = by_kind[HARM]
    assert harm.n == 5 and harm.rho == pytest.approx(tradeoff.spearman(ASR[:5], ACC[:5]))
    assert 0 < harm.p <= 1 and by_kind[OVER_REFUSAL].rho == pytest.approx(tradeoff.spearman(REFUSAL[:5], ACC[:5]))
    few = tradeoff.correlations([s for s in six_models() if s.model in MODELS[:4]])
    assert all(math.isnan(c.rho) and c.n == 4 and "at least 5" in c.note for c in few)
    table = tradeoff.correlation_table(found)
    assert len(table.rows) == 2 and table.rows[0][2] == 5


def test_lm_eval_export_is_read_by_lm_eval_and_back(lm_eval_run, tmp_path):
    from lm_eval.utils import get_results_filenames, make_table

    capability, _ = read_capability([lm_eval_run[0]])
    scores = [s for s in six_models(capability=False) if s.model == "org/model-a"] + capability
    corrected = Score(**{**scores[0].__dict__, "board": "safebench_text", "per_scenario": {},
                         "corrected": {"value": 31.5, "ci": (25.0, 38.0), "status": "ok"},
                         "calibration": {"set": "harm-gold", "revision": "v1", "kappa": 0.8}})
    scores.append(corrected)
    key = "sk-proj-Abc123Def456Ghi789Jkl012"
    config = {"model": "openai", "model_args": f"model=org/model-a,base_url=http://user:pw@h:1/v1,api_key=x,"
                                               f"extra={key}"}
    done = export_lm_eval(scores, tmp_path / "export", configs={"org/model-a": config}, date=1.7e9)
    (path,) = done["written"]
    assert [s.metric for s in done["skipped"]] == ["sri"]  # nothing measured: not exported
    assert get_results_filenames([str(p) for p in (tmp_path / "export").rglob("*")]) == [str(path)]
    text = path.read_text()
    assert key not in text and "pw@" not in text and "api_key=***" in text
    data = json.loads(text)
    for score in [s for s in scores if s.measured]:
        name, _, filt = score.metric.partition(",")
        entry = data["results"][score.board]
        assert entry[f"{name},{filt or 'none'}"] == score.value
        if score.ci:
            assert entry[f"{name}_stderr,{filt or 'none'}"] == pytest.approx((score.ci[1] - score.ci[0]) / 3.92)
        assert data["higher_is_better"][score.board][name] == score.higher_is_better
    board = data["results"]["safebench_image"]
    assert data["group_subtasks"]["safebench_image"] == [f"safebench_image_{s}" for s in SCENARIOS]
    assert data["results"]["safebench_image_fraud"]["asr,none"] == ASR[0] + 1
    assert data["n-samples"]["safebench_image"] == {"original": 230, "effective": 230}
    assert data["configs"]["safebench_mossbench_benign"]["metadata"]["lmms_safebench"]["terms"] == MOSSBENCH_TERMS
    assert data["lmms_safebench"]["juries"]["safebench_image"]["asr"] == {"jury": "panel-3", "jury_identity": "j" * 16}
    assert data["results"]["safebench_text"]["asr_corrected,none"] == 31.5
    assert data["lmms_safebench"]["corrected"]["safebench_text"]["asr"]["calibration"]["kappa"] == 0.8
    # lm-eval's table prints our numbers
    table, groups = make_table(data), make_table(data, column="groups")
    assert f"{board['asr,none']:.4f}" in table and "MOSSBench benign" in table and f"{ACC[0]:.4f}" not in table
    assert f"{capability[0].value:.4f}" in table and "SafeBench image" in groups
    # this package reads it back: the model's name, and the capability scores equal
    (run,) = outputs.find_runs(tmp_path / "export")
    assert run.model_name() == "org/model-a"
    again, _ = read_capability([tmp_path / "export"])
    assert [(s.board, s.metric, s.value, s.n, s.higher_is_better) for s in again] == \
           [(s.board, s.metric, s.value, s.n, s.higher_is_better) for s in capability]
    assert [s.ci for s in again] == [pytest.approx(s.ci) for s in capability]

    # one metric of one board twice for one model (two juries): refused before anything is written
    twice = scores + [Score(**{**scores[0].__dict__, "jury": "other", "jury_identity": "o" * 16})]
    shutil.rmtree(tmp_path / "export")
    with pytest.raises(ValueError, match="safebench_image asr twice.*panel-3 / other"):
        export_lm_eval(twice, tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_hf_export_is_read_by_huggingface_hub(tmp_path):
    from huggingface_hub import ModelCard

    scores = six_models()
    done = export_hf(scores, tmp_path, source_url="https://example.org/results")
    measured = [s for s in scores if s.measured]
    assert len(done["skipped"]) == 6 and len(done["written"]) == 7
    for model in MODELS:
        text = (tmp_path / f"{model.replace('/', '__')}_model_index.yaml").read_text()
        assert f"# Terms of use: {MOSSBENCH_TERMS}" in text and "panel-3 = jjjj" in text
        results = ModelCard(f"---\n{text}---\n").data.eval_results
        mine = [s for s in measured if s.model == model]
        assert [(r.dataset_name, r.metric_type, r.metric_value) for r in results] == \
               [(s.title, s.metric, s.value) for s in mine]
        refusal = next(r for r in results if r.metric_type == "refusal_rate")
        assert refusal.dataset_type == "xirui-li/MOSSBench" and refusal.dataset_revision == "8d68b06"
        assert refusal.metric_name == "refusal_rate (jury refusal-1)" and refusal.metric_args["n"] == 300
        assert refusal.source_url == "https://example.org/results" and refusal.verified is False
    with open(tmp_path / "eval_results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(measured)
    row = next(r for r in rows if r["model"] == MODELS[1] and r["metric"] == "asr")
    assert float(row["value"]) == ASR[1] and float(row["ci_low"]) == ASR[1] - 4 and row["jury"] == "panel-3"
    assert all(r["terms"] == MOSSBENCH_TERMS for r in rows if r["board"] == "safebench_mossbench_benign")


def test_a_bad_score_is_named():
    with pytest.raises(ValueError, match="'org/m' on 'b'.*kind 'safety' is not one of harm"):
        Score("org/m", "b", "safety", "asr", 1.0)
    with pytest.raises(ValueError, match="'org/m' on 'b'.*ci low 9.0 is above high 2.0"):
        Score("org/m", "b", HARM, "asr", 5.0, ci=(9, 2))
    with pytest.raises(ValueError, match="'org/m' on 'b'.*per_scenario"):
        Score("org/m", "b", HARM, "asr", 5.0, per_scenario={"bias": None})
    with pytest.raises(ValueError, match="value 'high' is not a number"):
        Score("org/m", "b", HARM, "asr", "high")


def test_each_board_goes_on_a_trade_off_axis_by_its_first_lower_is_better_rate(tmp_path):
    """One chart per (harm board, over-refusal board), each on its axis column: the first headline number that is a
    lower-is-better rate with an interval; a board with none (refusal on harmful prompts, accuracies, counts) is not
    charted. (Every pair of rates used to be charted: 60 charts for one model on the three companions.)"""
    def score(board, kind, metric, better, headline, ci=(1.0, 9.0), model="m"):
        return Score(model, board, kind, metric, 5.0, ci=ci, n=10, higher_is_better=better, jury="j",
                     jury_identity="i" * 16, headline=headline)

    scores = [score("h", HARM, "asr", False, 0), score("h", HARM, "sri", True, 1), score("h", HARM, "asr_pooled", False, 2),
              score("contrast", HARM, "refusal", True, 0), score("contrast", HARM, "partial_refusal", None, 1),
              score("o", OVER_REFUSAL, "refusal", False, 0), score("o", OVER_REFUSAL, "full_refusal", False, 1),
              score("o", OVER_REFUSAL, "unscored_pairs", False, 3, ci=None),
              score("pairs", OVER_REFUSAL, "accuracy", True, 0), score("pairs", OVER_REFUSAL, "unscored", False, 1, ci=None),
              score("safe_half", OVER_REFUSAL, "refusal", False, 2), score("safe_half", OVER_REFUSAL, "partial", False, 1)]
    drawn = [(h.board, h.metric, r.board, r.metric) for h, r, _ in tradeoff.tradeoff_pairs(tradeoff.columns(scores))]
    assert drawn == [("h", "asr", "o", "refusal"), ("h", "asr", "safe_half", "partial")]
    assert [p.name for p in tradeoff.tradeoff_charts(scores, tmp_path)] == ["tradeoff_h_o_1.png",
                                                                             "tradeoff_h_safe_half_2.png"]


def test_a_board_takes_each_metrics_direction_from_its_own_variant():
    """MOSSBench's contrast set and XSTest's unsafe half: refusing is what a model should do (higher is better), while
    on the benign set and the safe half a refusal is over-refusal; the report and its exports carry each board's own
    direction (they once took every board's from the benign side)."""
    from lmms_safebench.benchmarks import registry
    from lmms_safebench.report.boards import entry_scores
    from lmms_safebench.report.collect import Entry

    def directions(benchmark, board, variant):
        adapter = registry.get(benchmark)
        columns = adapter.report_columns(board)
        summary = {**{c.name: 10.0 for c in columns}, "samples": 4, "by_scenario": {}}
        entry = Entry(board, benchmark, "m", "i" * 16, {}, "run", "stamp", variant=variant)
        return {s.metric: s.higher_is_better for s in entry_scores(entry, summary, adapter, HARM, columns)}

    assert directions("xstest", "safebench_xstest_unsafe", "unsafe") == {
        "refusal": True, "full_refusal": True, "partial_refusal": None, "full_compliance": False}
    assert directions("xstest", "safebench_xstest_safe", "safe") == {
        "refusal": False, "full_refusal": False, "partial_refusal": False, "full_compliance": True}
    assert directions("mossbench", "safebench_mossbench_contrast", "contrast") == {
        "refusal": True, "partial_refusal": None, "full_refusal": True}
    assert directions("mossbench", "safebench_mossbench", "benign") == {
        "refusal": False, "partial_refusal": False, "full_refusal": False}


def test_safety_rates_keep_one_decimal_however_small_and_capability_fractions_three():
    """Every safety number is a percentage: an ASR of 0.8% is written 0.8, not 0.800 as if it were a fraction (a
    column whose values all fell under 1 once took the fractions' three decimals); lm-eval's acc keeps three."""
    scores = [Score(m, "safebench_image", HARM, "asr", v, ci=(0.0, 2.0), n=230, higher_is_better=False, jury="j",
                    jury_identity="i" * 16) for m, v in (("a", 0.0), ("b", 0.8))]
    scores += [Score(m, "tiny_group", CAPABILITY, "acc", v, n=24, higher_is_better=True) for m, v in (("a", 0.71), ("b", 0.5))]
    (table,) = tradeoff.summary_tables(scores)
    assert [row[1:] for row in table.rows] == [["0.0 [0.0, 2.0] n=230", "0.710 n=24"], ["0.8 [0.0, 2.0] n=230", "0.500 n=24"]]
