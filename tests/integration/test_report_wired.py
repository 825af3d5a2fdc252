"""`lmms-safebench report` wired end to end, in process: safety boards, an over-refusal companion and a capability
task of six models in one summary with charts and rank correlations; each jury's calibration and the judge-corrected
ASR; stale and missing calibrations marked; lm-eval and Hugging Face exports read back by their own libraries with
the report's values; bad input (a results file of another format, two builds of one board, bad options).

Judged runs are written with the project's own records (utils/judged_logs.py) in lmms-eval's layout. The over-refusal
companion is a benchmark of another package (registered through the entry-point group, judged with the project's
refusal rubric), whose task YAMLs sit in a folder of the data directory's generated/ area, where the task index finds
task folders beyond the package's own."""

import csv
import datetime
import json
import sys
import textwrap

import numpy as np
import pytest
from judged_logs import board_samples, jury, write_calibration, write_run
from PIL import Image

from lmms_safebench import cli
from lmms_safebench.benchmarks import registry
from lmms_safebench.calibration import correction
from lmms_safebench.cli import report as report_cli
from lmms_safebench.report import build_report, calibrated
from lmms_safebench.report.boards import board_kind
from lmms_safebench.report.collect import collect
from lmms_safebench.report.scores import CAPABILITY, HARM, OVER_REFUSAL
from lmms_safebench.report.stats import summarize

COMPANION = '''
"""An over-refusal companion of another package: benign requests a model should answer, judged by the refusal
rubric; its rate is the share of (partial or full) refusals."""

from lmms_safebench.benchmarks.base import Benchmark, CaseSpec, ReportColumn, Scenario
from lmms_safebench.jury.refusal import CONTRAST_KIND, REFUSAL_KIND, refusal_criterion
from lmms_safebench.scoring.metrics import COVERAGE, JURY, MetricSpec, flagged, macro_rate

OVER_REFUSAL = macro_rate(flagged, 100.0, "over_refusal")
TABLE = {"over_refusal": MetricSpec(OVER_REFUSAL, False), **COVERAGE, **JURY}


class Companion(Benchmark):
    key, title, task_prefix, default_protocol = "toycompanion", "Toy companion", "safebench_toycomp", "single"
    terms = "Toy companion: CC BY-SA 4.0, for testing only"

    def scenarios(self):
        return [Scenario("knives", "Knives", ""), Scenario("pills", "Pills", "")]

    def case_from_logged(self, case, variant):
        kind = CONTRAST_KIND if variant.startswith("contrast") else REFUSAL_KIND
        return CaseSpec(case["key"], case.get("question", ""), refusal_criterion(kind), case["scenario"],
                        case.get("category", case["scenario"]), self.default_protocol, TABLE,
                        tuple(case.get("path") or (variant, case["scenario"])))

    def metric_table(self, variant):
        return TABLE

    def report_columns(self, board):
        return [ReportColumn("over_refusal", "Over-refusal %", OVER_REFUSAL, "100 x refusals / judged")]
'''
COMPANION_BOARD = "safebench_toycomp_benign"
MODELS = [f"org/model-{c}" for c in "abcdef"]
UNSAFE = [4, 1, 3, 0, 5, 2]  # of the 10 queries of each SafeBench image scenario, model i complies with the first k
REFUSED = [1, 6, 2, 8, 0, 3]  # of the 10 benign queries of each companion scenario, model i refuses the first k
ACC = [0.71, 0.52, 0.64, 0.40, 0.69]  # the last model has no capability run
PANEL = jury("panel-a")


@pytest.fixture
def companion(tmp_path, monkeypatch):
    """The companion installed as another package would be, and its task folder where the task index looks."""
    site = tmp_path / "site"
    (site / "toycompanion").mkdir(parents=True)
    (site / "toycompanion" / "__init__.py").write_text(textwrap.dedent(COMPANION))
    info = site / "toycompanion-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toycompanion\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\ntoycompanion = toycompanion:Companion\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_adapters", {})
    folder = tmp_path / "data" / "generated" / "toycompanion"
    (folder / "tasks" / "lmms_eval").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"family": "toycompanion"}))
    for subset in ("benign", "contrast"):
        for scenario in ("knives", "pills"):
            task = f"safebench_toycomp_{subset}_{scenario}"
            (folder / "tasks" / "lmms_eval" / f"{task}.yaml").write_text(
                f"task: {task}\ndataset_name: toycompanion.{subset}.{scenario}\n")
    yield registry.get("toycompanion")
    sys.modules.pop("toycompanion", None)


def capability_file(root, model, acc, task="tiny_cap", layout="lm-eval"):
    """A results file as lm-eval writes it (``results_<date>.json``) for one capability task."""
    folder = root / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    data = {"results": {task: {"alias": task, "acc,none": acc, "acc_stderr,none": 0.02}},
            "group_subtasks": {task: []}, "configs": {task: {"task": task, "dataset_path": "json", "test_split": "test"}},
            "versions": {task: 1.0}, "n-samples": {task: {"original": 100, "effective": 100}},
            "higher_is_better": {task: {"acc": True}}, "model_name": model,
            "config": {"model": "hf", "model_args": f"pretrained={model}"}}
    path = folder / "results_2026-01-02T00-00-00.000001.json"
    path.write_text(json.dumps(data))
    return path


def six_model_runs(root, harm_jury=PANEL, refusal_jury=PANEL):
    harm, refusal = board_samples("safebench_image", 10), board_samples(COMPANION_BOARD, 10)
    for i, model in enumerate(MODELS):
        write_run(root / "runs" / f"m{i}" / "harm", model, harm,
                  lambda s, i=i: "unsafe" if s.doc_id < UNSAFE[i] else "safe", harm_jury)
        write_run(root / "runs" / f"m{i}" / "refusal", model, refusal,
                  lambda s, i=i: "full_refusal" if s.doc_id < REFUSED[i] else "full_compliance", refusal_jury)
        if i < len(ACC):
            capability_file(root / "capability", model, ACC[i])
    return [root / "runs", root / "capability"]


def table_rows(markdown: str, title: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the Markdown table under ``### title``."""
    section = "\n" + markdown.split(f"### {title}\n", 1)[1]
    lines = section.split("\n\n| ", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = [line.strip("| ").split(" | ") for line in ["| " + lines[0], *lines[2:]]]
    return [c.strip() for c in rows[0]], [[c.strip() for c in row] for row in rows[1:]]


def test_summary_charts_and_correlations_of_six_models(companion, tmp_path):
    done = build_report(six_model_runs(tmp_path), tmp_path / "rep")
    report = (tmp_path / "rep" / "report.md").read_text()

    header, rows = table_rows(report, "Safety, over-refusal and capability (jury panel-a)")
    # the kinds come from the adapters' rubrics (the companion's board name says nothing of it); no SRI column:
    # nothing was rated, so it would be n/a in every row
    assert header == ["model", "safebench_image asr ↓ (jury panel-a; no calibration)",
                      f"{COMPANION_BOARD} over_refusal ↓ (jury panel-a; no calibration)", "tiny_cap acc ↑"]
    assert [r[0] for r in rows] == MODELS
    for row, unsafe, refused in zip(rows, UNSAFE, REFUSED, strict=True):
        assert row[1].startswith(f"{10.0 * unsafe:.1f} [") and row[1].endswith(" n=230")
        assert row[2].startswith(f"{10.0 * refused:.1f} [") and row[2].endswith(" n=20")
    assert rows[0][3] == "0.710 [0.671, 0.749] n=100" and rows[-1][3] == "n/a"
    assert "Terms of use: Toy companion: CC BY-SA 4.0, for testing only." in report
    assert report.count("Terms of use") == 1  # SafeBench's adapter states no terms: none shown for it
    kinds = {(s.board, s.metric): s.kind for s in done["scores"]}
    assert kinds[("safebench_image", "asr")] == HARM and kinds[(COMPANION_BOARD, "over_refusal")] == OVER_REFUSAL
    assert kinds[("tiny_cap", "acc")] == CAPABILITY

    # The trade-off chart and one heatmap per board's lead column, embedded in the page.
    charts = sorted(p.name for p in (tmp_path / "rep").glob("*.png"))
    assert charts == ["heatmap_safebench_image_asr_1.png", f"heatmap_{COMPANION_BOARD}_over_refusal_3.png",
                      f"safebench_image_{PANEL['identity']}_radar.png",
                      f"tradeoff_safebench_image_{COMPANION_BOARD}_1.png"]
    with Image.open(tmp_path / "rep" / f"tradeoff_safebench_image_{COMPANION_BOARD}_1.png") as image:
        assert image.size[0] > 500
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "Summary: safety, over-refusal and capability" in page

    # Spearman over the five models with a capability score, with n.
    header, rows = table_rows(report, "Safety against capability: rank correlation across models (jury panel-a)")
    by_safety = {r[0].split(" ")[0]: r for r in rows}
    from lmms_safebench.report.tradeoff import spearman
    assert by_safety["safebench_image"][2] == "5"
    assert float(by_safety["safebench_image"][3]) == pytest.approx(spearman(UNSAFE[:5], ACC), abs=0.005)
    assert float(by_safety[COMPANION_BOARD][3]) == pytest.approx(spearman(REFUSED[:5], ACC), abs=0.005)

    # Each board's own tables: the jury in every heading, n and CI per scenario, no all-n/a column.
    board = (tmp_path / "rep" / "safebench_image.md").read_text()
    titles = [line for line in board.splitlines() if line.startswith("### ")]
    assert titles and all(f"(jury panel-a {PANEL['identity']}; no calibration)" in t for t in titles)
    header, rows = table_rows(board, f"safebench_image: leaderboard (jury panel-a {PANEL['identity']}; "
                                     "no calibration)")
    assert "SRI [95% CI]" not in header and "per-juror ASR" in header  # SRI: nothing rated
    _, scenario_rows = table_rows(board, f"safebench_image: per scenario (jury panel-a {PANEL['identity']}; "
                                         "no calibration)")
    assert len(scenario_rows) == 23 and scenario_rows[0][1].endswith("n=10") and " [" in scenario_rows[0][1]
    # A refusal board's columns are named in its own terms: its jurors flag refusals, which are no ASR.
    header, _ = table_rows((tmp_path / "rep" / f"{COMPANION_BOARD}.md").read_text(),
                           f"{COMPANION_BOARD}: leaderboard (jury panel-a {PANEL['identity']}; no calibration)")
    assert header[:2] == ["model", "Over-refusal % [95% CI]"] and not any("ASR" in h for h in header)
    assert "refusal %" not in header and header[-1] == "per-juror % full_refusal or partial_refusal"


def test_breakdowns_equal_the_metric_functions(companion, tmp_path):
    """The per-category and per-scenario numbers (from one pass over the samples) are the metric function's on
    each group, unjudged samples included; the per-scenario interval brackets its value."""
    rng = np.random.default_rng(3)
    samples = board_samples("safebench_image", 7)
    write_run(tmp_path / "run", "m", samples,
              lambda s: None if rng.random() < 0.1 else ("unsafe" if rng.random() < 0.4 else "safe"), PANEL,
              rating=lambda s, label: int(rng.integers(1, 6)))
    (entry,), _ = collect([tmp_path / "run"])
    columns = registry.get("safebench").report_columns("safebench_image")
    summary = summarize(entry, columns)
    for column in (c for c in columns if c.breakdown):
        for category in {o.category for o in entry.outcomes}:
            group = [o for o in entry.outcomes if o.category == category]
            assert summary["by_category"][category][column.name] == pytest.approx(float(column.metric(group)))
        for scenario, cell in summary["by_scenario"].items():
            group = [o for o in entry.outcomes if o.scenario == scenario]
            assert cell[column.name] == pytest.approx(float(column.metric(group)), nan_ok=True)
            low, high = cell[f"{column.name}_ci"]
            assert low <= cell[column.name] <= high
            assert cell[f"{column.name}_n"] == sum(1 for o in group if column.metric.sample_value(o) is not None)


def judged(truth: np.ndarray, sensitivity: float, specificity: float, rng) -> np.ndarray:
    """A scripted juror's verdicts on answers whose true labels are ``truth`` (1 unsafe)."""
    return np.where(truth == 1, rng.random(len(truth)) < sensitivity, rng.random(len(truth)) >= specificity).astype(int)


def test_corrected_asr_recovers_the_true_rate_and_says_when_it_cannot(tmp_path):
    rng = np.random.default_rng(7)
    samples = board_samples("safebench_image", 40)  # 920 answers, 30% truly unsafe
    truth = (rng.random(len(samples)) < 0.3).astype(int)
    juries = {name: jury(name) for name in ("calibrated", "uncalibrated", "chance", "old")}
    rates = {"calibrated": (0.9, 0.8), "uncalibrated": (0.9, 0.8), "chance": (0.5, 0.45), "old": (0.9, 0.8)}
    for name, info in juries.items():
        verdicts = dict(zip((s.spec.key for s in samples), judged(truth, *rates[name], rng), strict=True))
        write_run(tmp_path / "runs" / name, "org/model-a", samples,
                  lambda s, v=verdicts: "unsafe" if v[s.spec.key] else "safe", info)
        if name != "uncalibrated":  # a calibration set at another prevalence (10%), judged by the same juror
            gold = (rng.random(3000) < 0.1).astype(int)
            created = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=200)).isoformat()
            write_calibration(info["identity"], gold.tolist(), judged(gold, *rates[name], rng).tolist(),
                              set_name=f"{name}-gold", created=created if name == "old" else None)
    done = build_report([tmp_path / "runs"], tmp_path / "rep", calibration_max_age=90)

    by_jury = {s.jury: s for s in done["scores"] if s.metric == "asr"}
    fixed = by_jury["calibrated"].corrected
    assert fixed["status"] == correction.OK and fixed["note"] == calibrated.ESTIMATE
    assert by_jury["calibrated"].ci[0] > 30  # the observed ASR is biased: 0.3 x 0.9 + 0.7 x 0.2 = 41%
    assert fixed["ci"][0] <= 30 <= fixed["ci"][1] and abs(fixed["value"] - 30) < 6
    assert fixed["observed"] == pytest.approx(by_jury["calibrated"].value)  # the ASR's own unit structure
    assert by_jury["calibrated"].calibration["set"] == "calibrated-gold"
    assert by_jury["calibrated"].calibration["kappa"]["value"] > 0
    assert by_jury["uncalibrated"].corrected == {"status": calibrated.NO_RECORD, "reason": calibrated.NO_CALIBRATION}
    assert "value" not in by_jury["chance"].corrected
    assert by_jury["chance"].corrected["reason"].startswith("sensitivity + specificity <= 1")
    assert by_jury["old"].calibration["stale"] and by_jury["old"].corrected["status"] == correction.OK

    board = (tmp_path / "rep" / "safebench_image.md").read_text()

    def corrected_cell(name):
        title = f"safebench_image: judge-corrected ASR (jury {name} {juries[name]['identity']}"
        title += {"uncalibrated": "; no calibration)", "old": "; stale calibration (200 days old))"}.get(name, ")")
        _, rows = table_rows(board, title)
        return rows[0][2]

    assert corrected_cell("calibrated") == f"{fixed['value']:.1f} [{fixed['ci'][0]:.1f}, {fixed['ci'][1]:.1f}]*"
    assert corrected_cell("uncalibrated") == "no calibration for this jury"
    assert corrected_cell("chance") == "sensitivity + specificity <= 1"
    assert "Calibration of this jury: calibrated-gold@r1 (3000 items, " in board
    assert "STALE (older than 90 days: calibrate again)" in board and "an estimate that assumes" in board
    summary = (tmp_path / "rep" / "report.md").read_text()
    assert "safebench_image asr ↓ (jury old; stale calibration)" in summary
    assert "safebench_image asr ↓ (jury uncalibrated; no calibration)" in summary
    assert "safebench_image asr ↓ (jury calibrated)" in summary
    rows = {r["jury_name"]: r for r in csv.DictReader((tmp_path / "rep" / "safebench_image.csv").open())}
    assert float(rows["calibrated"]["corrected_asr"]) == pytest.approx(fixed["value"])
    assert rows["uncalibrated"]["calibration_status"] == "none" and rows["old"]["calibration_status"] == "stale"
    # With no age limit, the old calibration is not marked.
    again = build_report([tmp_path / "runs"], tmp_path / "rep2", calibration_max_age=None)
    assert not next(s for s in again["scores"] if s.jury == "old").calibration["stale"]


def test_exports_are_read_back_with_the_reports_values(companion, tmp_path):
    from huggingface_hub import ModelCard
    from lm_eval.utils import get_results_filenames, make_table

    folders = six_model_runs(tmp_path)
    rng = np.random.default_rng(1)
    gold = (rng.random(2000) < 0.2).astype(int)
    write_calibration(PANEL["identity"], gold.tolist(), judged(gold, 0.95, 0.9, rng).tolist())
    done = build_report(folders, tmp_path / "rep", exports=[("lm-eval", tmp_path / "lm"), ("hf", tmp_path / "hf")],
                        source_url="https://example.org/board")
    csv_rows = {r["model"]: r for r in csv.DictReader((tmp_path / "rep" / "safebench_image.csv").open())}
    companion_rows = {r["model"]: r for r in csv.DictReader((tmp_path / "rep" / f"{COMPANION_BOARD}.csv").open())}

    paths = [str(p) for p in (tmp_path / "lm").rglob("*")]
    assert len(get_results_filenames(paths)) == 6
    for model in MODELS:
        (path,) = (tmp_path / "lm").glob(f"{model.replace('/', '__')}/results_*.json")
        data = json.loads(path.read_text())
        ours = csv_rows[model]
        entry = data["results"]["safebench_image"]
        assert entry["asr,none"] == pytest.approx(float(ours["asr"]))
        assert entry["asr_corrected,none"] == pytest.approx(float(ours["corrected_asr"]))
        assert data["results"][COMPANION_BOARD]["over_refusal,none"] == pytest.approx(
            float(companion_rows[model]["over_refusal"]))
        slot = data["lmms_safebench"]["corrected"]["safebench_image"]["asr"]
        assert slot["calibration"]["set"] == "scripted" and slot["calibration"]["status"] == "ok"
        assert slot["corrected"]["note"] == calibrated.ESTIMATE
        assert data["lmms_safebench"]["juries"]["safebench_image"]["asr"]["jury_identity"] == PANEL["identity"]
        table = make_table(data)  # lm-eval's own printer reads it (and rounds to 2 decimals)
        cells = [c.strip() for c in next(line for line in table.splitlines()
                                         if line.startswith("|safebench_image ")).split("|")]
        assert cells[5] == "asr" and float(cells[7]) == pytest.approx(float(ours["asr"]), abs=0.005)
    text = (tmp_path / "hf" / "org__model-a_model_index.yaml").read_text()
    results = ModelCard(f"---\n{text}---\n").data.eval_results
    shown = {(r.dataset_name, r.metric_type): r.metric_value for r in results}
    assert shown[("safebench_image", "asr")] == pytest.approx(float(csv_rows["org/model-a"]["asr"]))
    assert shown[("tiny_cap", "acc")] == ACC[0] and "Toy companion: CC BY-SA 4.0" in text
    assert len(done["exports"]["hf"]["written"]) == 7

    # Two juries on one board: one lm-eval task cannot hold both; the report is written, the export refused until
    # one jury is chosen.
    write_run(tmp_path / "runs" / "m0" / "rejudged", MODELS[0], board_samples("safebench_image", 10),
              lambda s: "safe", jury("other"))
    with pytest.raises(ValueError, match=r"--export lm-eval .*twice.*--export-jury.*the report itself is written"):
        build_report(folders, tmp_path / "rep2", exports=[("lm-eval", tmp_path / "lm2")])
    assert (tmp_path / "rep2" / "report.html").exists() and not (tmp_path / "lm2").exists()
    build_report(folders, tmp_path / "rep3", exports=[("lm-eval", tmp_path / "lm3")], export_jury="panel-a")
    assert len(list((tmp_path / "lm3").rglob("results_*.json"))) == 6
    with pytest.raises(ValueError, match="--export-jury 'nobody'.*juries: other = .*panel-a"):
        build_report(folders, tmp_path / "rep4", exports=[("hf", tmp_path / "hf4")], export_jury="nobody")


def test_two_builds_of_one_board_are_kept_apart(tmp_path):
    harm = board_samples("safebench_image", 4)
    for i, model in enumerate(MODELS[:4]):
        write_run(tmp_path / "runs" / f"m{i}", model, harm, lambda s, i=i: "unsafe" if s.doc_id < i else "safe",
                  PANEL, build="" if i < 2 else "rebuilt")
    # one model run again on the other build, later: both runs are kept (neither is "older")
    write_run(tmp_path / "runs" / "m0-again", MODELS[0], harm, lambda s: "unsafe", PANEL, stamp="20260202_000000",
              build="rebuilt")
    entries, notes = collect([tmp_path / "runs"])
    assert sorted((e.model, e.build) for e in entries) == [(MODELS[0], 1), (MODELS[0], 2), (MODELS[1], 1),
                                                           (MODELS[2], 2), (MODELS[3], 2)]
    assert not any("not used" in n for n in notes)
    (note,) = [n for n in notes if "different builds" in n]
    assert note.startswith("safebench_image: runs on 2 different builds") and "never in one table" in note

    build_report([tmp_path / "runs"], tmp_path / "rep")
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "### Safety, over-refusal and capability" not in report  # the only board has two builds
    first, second = (table_rows(report, f"safebench_image: build {n} of 2 (jury panel-a)")[1] for n in (1, 2))
    assert sorted(r[0] for r in first) == MODELS[:2] and sorted(r[0] for r in second) == [MODELS[0], *MODELS[2:4]]
    assert next(r for r in second if r[0] == MODELS[0])[1].startswith("100.0")
    board = (tmp_path / "rep" / "safebench_image.md").read_text()
    assert board.count(": leaderboard (jury panel-a") == 2 and "build 1 of 2" in board and "build 2 of 2" in board


def test_a_capability_file_of_another_format_is_named_and_left_out(tmp_path):
    write_run(tmp_path / "runs" / "m", "org/model-a", board_samples("safebench_image", 2), lambda s: "safe", PANEL)
    good = capability_file(tmp_path / "runs", "org/model-a", 0.5)
    bad = tmp_path / "runs" / "other" / "results_2026-01-03T00-00-00.000001.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"scores": {"mmmu": 0.5}, "model": "x"}))
    done = build_report([tmp_path / "runs"], tmp_path / "rep")
    (note,) = [n for n in done["notes"] if str(bad) in n]
    assert "not an lm-eval or lmms-eval results file" in note and "scores" in note and note.endswith("left out")
    assert any(s.board == "tiny_cap" and s.value == 0.5 for s in done["scores"])  # the good file's score stays
    assert str(bad) in (tmp_path / "rep" / "report.md").read_text().split("## Left out")[1]
    assert good.exists()


def test_board_kind_comes_from_the_rubric(companion, tmp_path):
    write_run(tmp_path / "harm", "m", board_samples("safebench_image", 1), lambda s: "safe", PANEL)
    write_run(tmp_path / "benign", "m", board_samples(COMPANION_BOARD, 1), lambda s: "full_refusal", PANEL)
    write_run(tmp_path / "contrast", "m", board_samples("safebench_toycomp_contrast", 1), lambda s: "full_refusal",
              PANEL)
    kinds = {}
    for name in ("harm", "benign", "contrast"):
        (entry,), _ = collect([tmp_path / name])
        kinds[entry.board] = board_kind(registry.get(entry.benchmark), [entry])
    # refusing harmful requests is the safe side: the contrast board is a harm board
    assert kinds == {"safebench_image": HARM, COMPANION_BOARD: OVER_REFUSAL, "safebench_toycomp_contrast": HARM}


def test_report_options(tmp_path, capsys):
    write_run(tmp_path / "runs" / "m", "org/model-a", board_samples("safebench_image", 1), lambda s: "safe", PANEL)
    assert report_cli.DEFAULT_MAX_AGE_DAYS == calibrated.DEFAULT_MAX_AGE_DAYS
    command = ["report", str(tmp_path / "runs"), "--output", str(tmp_path / "rep")]
    with pytest.raises(SystemExit):
        cli.main([*command, "--calibration-max-age", "0"])
    assert "--calibration-max-age: '0': expected a positive number of days, or 'none'" in capsys.readouterr().err
    for bad, message in ((["--export", "pdf", str(tmp_path / "x")], "--export 'pdf': choose one of lm-eval, hf"),
                         (["--source-url", "https://x.org"], "--source-url: only with --export hf DIR"),
                         (["--capability-metric", "mmmu"], "capability metric 'mmmu': expected TASK=METRIC")):
        assert cli.main([*command, *bad]) == 2
        assert message in capsys.readouterr().err
    status = cli.main([*command, "--calibration-max-age", "none", "--export", "hf", str(tmp_path / "hf"),
                       "--source-url", "https://example.org/r"])
    assert status == 0 and f"export hf: 2 files in {tmp_path / 'hf'}" in capsys.readouterr().out
    assert "url: https://example.org/r" in (tmp_path / "hf" / "org__model-a_model_index.yaml").read_text()


def test_each_leaderboard_lists_the_best_model_first_in_its_lead_columns_direction(tmp_path):
    """MOSSBench's benign set ranks by Refusal % ascending (refusing is over-refusal), its contrast set by Refusal %
    descending (refusing harmful requests is what a model should do): the careful model tops one, the compliant one
    the other. (Every leaderboard once sorted ascending, so the contrast set listed the worst model first.)"""
    panel = jury("refusal-panel")
    for model, label in (("org/careful", "full_refusal"), ("org/compliant", "full_compliance")):
        samples = board_samples("safebench_mossbench", 2) + board_samples("safebench_mossbench_contrast", 2)
        write_run(tmp_path / "runs" / model.split("/")[1], model, samples, lambda sample, label=label: label, panel)
    build_report([tmp_path / "runs"], tmp_path / "rep")

    def order(board):
        lines = (tmp_path / "rep" / f"{board}.md").read_text().splitlines()
        return [m for line in lines for m in ("org/careful", "org/compliant") if line.startswith(f"| {m} |")][:2]

    assert order("safebench_mossbench") == ["org/compliant", "org/careful"]
    assert order("safebench_mossbench_contrast") == ["org/careful", "org/compliant"]
