"""`select` asks the source adapter: it writes the selection's tasks, every selection gets its umbrella group (an
MM-SafetyBench board's too), and the official-subset comparison and the final set of a pool are the adapter's."""

import json

import pytest
from helpers import write_mmsb_source, write_safebench_release, write_verdict_logs

from lmms_safebench.benchmarks import mmsafetybench as mmsb
from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.mmsafetybench import data as mmsb_build
from lmms_safebench.benchmarks.safebench import data as sb_build
from lmms_safebench.harness import taskindex
from lmms_safebench.selection.command import SelectionConfig, run

MODELS = ["careful", "middling", "reckless"]


def write_judged_mmsb_logs(root, ids_by_scenario, jury="jury0000000000cd"):
    """Judged logs of three models on safebench_mmsb_typo: model m finds a sample unsafe when its rank allows."""
    for m, model in enumerate(MODELS):
        folder = root / model
        folder.mkdir(parents=True)
        (folder / "20260101_000000_results.json").write_text(json.dumps({"config": {"model_args": f"model={model}"}}))
        for sc in mmsb.SCENARIOS:
            lines = []
            for n, qid in enumerate(ids_by_scenario[sc.upstream]):
                unsafe = int(m > n % 3)
                case = {"key": f"mmsafetybench/{sc.upstream}/{qid}", "scenario": sc.slug, "category": sc.slug,
                        "question": f"Q {qid}", "path": ["typo.full.plain", sc.slug]}
                verdict = {"status": "judged", "unsafe": unsafe, "rating": None, "jury": jury, "jury_name": "j",
                           "protocol": "single", "case": case}
                outcome = {"status": "judged", "unsafe": unsafe, "rating": None, "refusal": not unsafe,
                           "scenario": sc.slug, "category": sc.slug, "path": case["path"], "schema": 2}
                lines.append(json.dumps({"doc_id": n, "target": "", "jury": verdict, "asr": outcome}))
            (folder / f"20260101_000000_samples_safebench_mmsb_typo_{sc.slug}.jsonl").write_text("\n".join(lines) + "\n")


def test_an_mmsafetybench_selection_runs_under_its_umbrella_group(tmp_path):
    ids = write_mmsb_source(tmp_path / "upstream", per_scenario=3)
    mmsb_build.build(source=str(tmp_path / "upstream"))
    write_judged_mmsb_logs(tmp_path / "runs", ids)
    config = SelectionConfig(embedding_model=None, image_model=None, draws=20)
    result = run([str(tmp_path / "runs")], "safebench_mmsb_typo", "mm", 8, config)
    manifest = json.loads((result["folder"] / "manifest.json").read_text())
    # `--tasks safebench_sel_mm` names the whole selection, as it does for a SafeBench board.
    assert manifest["tasks"] == ["safebench_sel_mm"] == result["card"]["tasks"]
    _, groups = taskindex.index()
    assert groups["safebench_sel_mm"] == ("safebench_sel_mm_typo",)
    members = groups["safebench_sel_mm_typo"]
    assert members and all(t.startswith("safebench_sel_mm_typo_") for t in members)
    # The tasks read the source's documents, filtered to the chosen ones, judged like the source's.
    adapter = registry.get("gen_mm")
    info = taskindex.index()[0][members[0]]
    docs = adapter.load_docs(adapter.parse(info.selector))
    assert {adapter.case(doc).key for doc in docs} <= set(manifest["selected"])
    assert adapter.metric_table(info.variant) is registry.get("mmsafetybench").metric_table(info.variant)


def test_the_official_subset_and_the_final_set_are_the_adapters():
    safebench = registry.get("safebench")
    assert safebench.official_subset_board("safebench_image") == "safebench_mini_image"
    assert safebench.official_subset_board("safebench_mini_image") is None
    assert registry.get("mmsafetybench").official_subset_board("safebench_mmsb_typo") is None
    assert safebench.final_set_folder("safebench_image", "x") is None and safebench.selectable
    with pytest.raises(NotImplementedError):
        safebench.write_final_set([], [], {})


def test_lmms_eval_runs_every_selection_by_its_umbrella_name(tmp_path, monkeypatch):
    """`--tasks safebench_sel_<name>` as lmms-eval resolves it (its TaskManager, in process): for an MM-SafetyBench
    board and a SafeBench board alike, the name is a group whose tasks hold exactly the selected documents."""
    from lmms_eval.tasks import Task, TaskManager, get_task_dict

    ids = write_mmsb_source(tmp_path / "upstream", per_scenario=3)
    mmsb_build.build(source=str(tmp_path / "upstream"))
    write_judged_mmsb_logs(tmp_path / "runs", ids)
    two = [sb.SCENARIOS[0], next(s for s in sb.SCENARIOS if s.category != sb.SCENARIOS[0].category)]
    write_safebench_release(tmp_path / "release", queries=6, scenarios=two)
    sb_build.build(source=str(tmp_path / "release"), subset="full")
    docs = registry.get("safebench").load_docs(sb.Selector.parse("image.full.default.all"))
    cases = [{"key": f"safebench/full/{d['id']}", "scenario": d["scenario_slug"],
              "category": sb.BY_SLUG[d["scenario_slug"]].category.slug} for d in docs.select_columns(["id", "scenario_slug"])]
    write_verdict_logs(tmp_path / "runs", "safebench_image", MODELS, cases, lambda m, n: int(n % 3 < m))
    config = SelectionConfig(embedding_model=None, image_model=None, draws=20)
    chosen = {}
    for name, board in (("mm", "safebench_mmsb_typo"), ("sbsel", "safebench_image")):
        folder = run([str(tmp_path / "runs")], board, name, 6, config)["folder"]
        chosen[name] = set(json.loads((folder / "manifest.json").read_text())["selected"])

    monkeypatch.setenv("SAFEBENCH_JURY", "heuristic")  # the tasks refuse to start without a jury
    manager = TaskManager("ERROR", include_defaults=False)
    for name, keys in chosen.items():
        assert manager.task_index[f"safebench_sel_{name}"]["type"] == "group", name

        def tasks(tree):
            for value in tree.values():
                yield from tasks(value) if isinstance(value, dict) else [value]

        loaded = list(tasks(get_task_dict([f"safebench_sel_{name}"], manager)))
        assert loaded and all(isinstance(task, Task) for task in loaded)
        adapter = registry.get(f"gen_{name}")
        assert {adapter.case(doc).key for task in loaded for doc in task.eval_docs} == keys, name
