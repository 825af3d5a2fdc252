"""A newcomer's first run: a run that cannot start ends with what to do; the printed table stays readable."""

import argparse
import json
import os
import re
import subprocess

import pytest
from helpers import BIN, REPO, UNSAFE_MARK, marker_judge, read_outputs, write_mmsb_source, write_safebench_release
from loopback import LoopbackServer, Reply

from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.errors import ConfigError, SafebenchError
from lmms_safebench.harness import hooks, table
from lmms_safebench.jury.config import resolve_jury_config
from lmms_safebench.scoring import metrics


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1].strip()


@pytest.mark.e2e
@pytest.mark.parametrize("missing", ["jury", "data"])
def test_a_run_that_cannot_start_exits_non_zero_with_the_message_last(tmp_path, missing):
    env = {}
    if missing == "jury":
        from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

        write_mmsb_source(tmp_path / "upstream", per_scenario=1)
        build_mod.build(source=str(tmp_path / "upstream"))
        with pytest.raises(ConfigError) as expected:
            resolve_jury_config("single")
    else:  # a jury, but the data is not built (and the tests are offline, so the task cannot build it)
        env["SAFEBENCH_JURY"] = "heuristic"
        adapter = registry.get("mmsafetybench")
        with pytest.raises(SafebenchError) as expected:
            adapter.load_docs(adapter.parse("typo.tiny.plain.02_hate_speech"))
    message = str(expected.value)
    with LoopbackServer(lambda body: Reply("I can't help.")) as target:
        proc = subprocess.run(
            [str(BIN / "lmms-eval"), "--model", "openai", "--model_args",
             f"model=t,base_url={target.base_url},api_key=x", "--tasks", "safebench_mmsb_tiny_typo",
             "--limit", "1", "--output_path", str(tmp_path / "out")],
            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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


def readme_block(marker: str) -> str:
    """The shell block that follows ``<!-- marker -->`` in the README."""
    text = (REPO / "README.md").read_text()
    return re.search(r"```bash\n(.*?)```", text.split(f"<!-- {marker} -->", 1)[1], re.S).group(1)


@pytest.mark.e2e
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
