"""A newcomer's first run: a run that cannot start ends with what to do; the printed table stays readable.

Every cause of a run that cannot start (no jury, data not built, a local juror model that is not there) takes one
path, the task hooks' ``CannotStart``: it is checked here in process, through the hooks the harnesses call
(``process_docs`` for lmms-eval, ``custom_dataset`` and lm-eval's task loading for lm-eval). What the real lmms-eval
CLI then does with it (a non-zero exit, the message said once and last, no traceback, no results file) is seen once,
for the missing jury, in tests/e2e/test_e2e_first_run.py."""

import argparse
import json
import re
from types import SimpleNamespace

import pytest
from helpers import UNSAFE_MARK, marker_judge, write_mmsb_source, write_safebench_release
from inprocess import judge_board
from loopback import LoopbackServer

from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.errors import ConfigError, SafebenchError
from lmms_safebench.harness import hooks, table, taskindex
from lmms_safebench.scoring import metrics


def test_lm_eval_stops_at_the_first_task_with_the_message(tmp_path):
    from lm_eval.tasks import TaskManager, get_task_dict

    from lmms_safebench.harness.discovery import lm_eval_tasks_dir

    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

    build_mod.build(source=str(tmp_path / "upstream"))
    manager = TaskManager(include_path=str(lm_eval_tasks_dir()), include_defaults=False)
    with pytest.raises(hooks.CannotStart) as stopped:
        get_task_dict(["safebench_mmsb_tiny_text"], manager)
    assert isinstance(stopped.value.__cause__, ConfigError)
    assert str(stopped.value).startswith("lmms-safebench cannot start this task: No CUDA GPU was found")
    assert "SAFEBENCH_JUDGE_MODEL" in str(stopped.value)


def lmms_eval_dataset(task: str) -> SimpleNamespace:
    """What lmms-eval hands a task's ``process_docs``: the YAML's placeholder dataset, named by its ``dataset_name``
    (``<benchmark>.<selector>``, read from the task's own YAML)."""
    info = taskindex.index()[0][task]
    return SimpleNamespace(info=SimpleNamespace(config_name=f"{info.benchmark}.{info.selector}"))


def stops_before_inference(task: str) -> list[hooks.CannotStart]:
    """What each harness's document hook raised for ``task`` (lmms-eval's, then lm-eval's). Both stop the run
    before any model is asked: the documents the model would be asked about never come back."""
    dataset = lmms_eval_dataset(task)
    stopped = []
    for load in (lambda: hooks.process_docs(dataset), lambda: hooks.custom_dataset(dataset.info.config_name)):
        with pytest.raises(hooks.CannotStart) as raised:
            load()
        stopped.append(raised.value)
    return stopped


def cannot_start_because(cause: str, tmp_path, monkeypatch) -> tuple[str, str]:
    """Set up one cause of a run that cannot start; ``(task, the words that name what to do)``."""
    if cause == "data":  # a jury, but the data is not built (and tests are offline, so the task cannot build it)
        monkeypatch.setenv("SAFEBENCH_JURY", "heuristic")
        return "safebench_mmsb_tiny_typo_02_hate_speech", "lmms-safebench build mmsafetybench"
    from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    build_mod.build(source=str(tmp_path / "upstream"))
    # The local jury, its guard model a folder that is not there: loading it fails before inference.
    monkeypatch.setenv("SAFEBENCH_JURY", "local-single")
    monkeypatch.setenv("SAFEBENCH_LOCAL_GUARD_MODEL", str(tmp_path / "no-guard-here"))
    return "safebench_mmsb_tiny_typo_01_illegal_activity", "cannot load transformers juror model"


@pytest.mark.parametrize("cause", ["data", "local-model"])
def test_a_task_that_cannot_start_stops_the_run_with_what_to_do(tmp_path, monkeypatch, cause):
    """The causes other than a missing jury (whose real lmms-eval run is tests/e2e/test_e2e_first_run.py): each
    ends in the same ``CannotStart`` the real run turns into its exit, with the cause's own message."""
    task, words = cannot_start_because(cause, tmp_path, monkeypatch)
    for stopped in stops_before_inference(task):
        # A SystemExit, not an Exception: lmms-eval would retry an Exception five times and exit 0.
        assert isinstance(stopped, SystemExit) and not isinstance(stopped, Exception)
        assert isinstance(stopped.__cause__, SafebenchError)
        assert str(stopped) == f"lmms-safebench cannot start this task: {stopped.__cause__}"
        assert words in str(stopped)
        if cause == "local-model":
            assert "no-guard-here" in str(stopped)


def test_unbuilt_data_is_built_by_the_task_or_named_in_the_error(tmp_path, monkeypatch):
    """MM-SafetyBench's data, not built: offline, the task names the command that builds it; online (its GitHub
    source a file:// mirror), the task's own document hook builds it and the run goes on, judged as usual."""
    commit = "b80eedea3db312c09ded2082813390f68e750ef3"
    mirror = tmp_path / "raw"
    write_mmsb_source(mirror / "isXinLiu" / "MM-SafetyBench" / commit, per_scenario=2)
    task = "safebench_mmsb_tiny_typo_02_hate_speech"
    monkeypatch.setenv("SAFEBENCH_JURY", "heuristic")
    monkeypatch.setenv("SAFEBENCH_GITHUB_RAW", mirror.as_uri())
    with pytest.raises(hooks.CannotStart, match="lmms-safebench build mmsafetybench"):
        hooks.process_docs(lmms_eval_dataset(task))  # offline, as every test starts: the mirror is not asked
    for name in ("SAFEBENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "")
    docs = hooks.process_docs(lmms_eval_dataset(task))
    assert len(docs) == 1  # the tiny subset: one question of the scenario, the one request the model gets
    logged, results = judge_board("safebench_mmsb_tiny_typo", lambda info, doc_id, doc: "Sure, step one: ...")
    assert [values["jury"]["case"]["question"] for values in logged[task]] == [docs[0]["question"]]
    assert results[task]["jury,none"]["heuristic"] is True


# ----------------------------------------------------------------------------------------- the printed table

def minibench_results(tmp_path, monkeypatch) -> dict:
    """A results dict as the harnesses build it, from the real hooks, panel jury and aggregations:
    MiniBench image (10 scenarios, five jurors that deliberate), and its group."""
    from lmms_safebench.benchmarks.safebench import data as sb_build

    write_safebench_release(tmp_path / "release", queries=2, scenarios=sb.SCENARIOS[:10], mini=True)
    sb_build.build(source=str(tmp_path / "release"), subset="mini")
    adapter = registry.get("safebench")
    docs = adapter.load_docs(adapter.parse("image.mini.default.all"))
    values: dict[str, list] = {}
    with LoopbackServer(marker_judge) as judge:
        monkeypatch.setenv("SAFEBENCH_JURY", "panel")
        monkeypatch.setenv("SAFEBENCH_JUDGE_MODEL", "a-judge-model-with-a-rather-long-name")
        monkeypatch.setenv("SAFEBENCH_JUDGE_BASE_URL", judge.base_url)
        for n, doc in enumerate(docs):
            answer = f"Sure. {UNSAFE_MARK}" if n % 3 == 0 else "I can't help with that."
            for name, value in hooks.process_results(doc, [answer]).items():
                values.setdefault(name, []).append(value)
    row = {"alias": "safebench_mini_image"}
    for name, (aggregate, _) in registry.get("safebench").metric_table("image.mini.default").items():
        row[f"{name},none"] = aggregate(values[name])
        row[f"{name}_stderr,none"] = "N/A"
    group = {"alias": "safebench_mini", **{key: metrics.combine([value]) if not key.endswith("_stderr,none")
                                           else value for key, value in row.items() if key != "alias"}}
    return {"results": {"safebench_mini_image": row, "safebench_mini": group},
            "groups": {"safebench_mini": dict(group)},
            "versions": {"safebench_mini_image": 1, "safebench_mini": 1},
            "n-shot": {"safebench_mini_image": 0, "safebench_mini": 0},
            "higher_is_better": {"safebench_mini_image": {}, "safebench_mini": {}}}


def test_the_printed_table_is_short_and_the_results_file_keeps_the_records(tmp_path, monkeypatch):
    import lm_eval.utils
    import lmms_eval.utils

    table.install()
    results = minibench_results(tmp_path, monkeypatch)
    jury = results["results"]["safebench_mini_image"]["jury,none"]
    assert len(jury["per_juror"]) == 5 and len(results["results"]["safebench_mini_image"]["by_scenario,none"]) == 10
    assert len(str(dict(jury))) > 500  # what the table printed before
    def dumped(value):
        return json.dumps(value, sort_keys=True, default=lmms_eval.utils.handle_non_serializable)

    before = dumped(results)
    printed = "\n".join([lmms_eval.utils.make_table(results), lmms_eval.utils.make_table(results, "groups"),
                         lm_eval.utils.make_table(results), lm_eval.utils.make_table(results, "groups")])
    assert max(len(line) for line in printed.splitlines()) <= 160, printed
    assert f"panel: {jury['calls']} calls, 0 cached" in printed and "10 scenarios" in printed
    # The results dict, and the file the harness writes from it, keep every record whole.
    assert dumped(results) == before
    saved = json.loads(before)
    assert dumped(saved["results"]["safebench_mini_image"]["jury,none"]) == dumped(dict(jury))
    assert set(saved["results"]["safebench_mini"]["by_scenario,none"]) == {s.slug for s in sb.SCENARIOS[:10]}
    # A heuristic jury says so in its line too.
    heuristic = {"identities": ["d56c4dc87e3f8395"], "name": "heuristic", "heuristic": True, "calls": 13,
                 "cache_hits": 0, "unjudged_causes": {"transport": 2}, "left_out": ["typo/01_illegal_activity"]}
    assert table.summary("jury", heuristic) == ("heuristic (not an LLM judge): 13 calls, 0 cached, 2 unjudged, "
                                                "1 left out")


# ----------------------------------------------------------------------------------------- help texts

def every_parser(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from every_parser(sub, (*path, name))


def test_every_help_text_names_its_command_and_has_no_sphinx_markup():
    from lmms_safebench.cli import build_parser

    seen = []
    for path, parser in every_parser(build_parser()):
        text = parser.format_help()
        usage = "usage: lmms-safebench " + (" ".join(path) + " " if path else "")
        assert text.startswith(usage), text[:300]
        assert "``" not in text and not re.search(r":[a-z]+:`", text), text
        seen.append(" ".join(path))
    assert {"generate safebench", "generate mmsafetybench", "generate vlsafety", "select", "jury check"} <= set(seen)
