"""The run model every generator shares (lmms_safebench.generate.core): item failures kept with typed codes and
named by later runs, stage lists read once, one problem type and one exit-code policy, the folder always released."""

from __future__ import annotations

import json

import pytest

from lmms_safebench.errors import ConfigError, DataError
from lmms_safebench.generate.core.config import parse
from lmms_safebench.generate.core.output import LOCK_FILE
from lmms_safebench.generate.core.problems import (
    ERROR,
    MEDIA_FAILED,
    NOTE,
    REFUSED,
    SHORT,
    UNREACHABLE,
    MediaFailed,
    Problem,
    Refused,
    Unreachable,
)
from lmms_safebench.generate.core.run import Run, Stop, exit_status, parse_stages
from lmms_safebench.generate.core.workspace import Workspace
from lmms_safebench.generate.mmsafetybench.config import MMSBGenConfig


def _fail(exc: Exception):
    def work():
        raise exc

    return work


def test_an_items_failure_is_kept_with_its_code_and_named_by_a_later_run(tmp_path):
    ws = Workspace(tmp_path / "bench")
    todo = {"ok": lambda: {"value": 1}, "refused": _fail(Refused("the model refused all 3 phrasings")),
            "down": _fail(Unreachable("the writer could not be reached (503)", shown="CallFailed")),
            "garbage": _fail(MediaFailed("the image backend returned 3 bytes that are not a picture")),
            "bug": _fail(KeyError("boom"))}
    result = ws.run("stage", todo, concurrency=2, progress=False)
    codes = {p.id: (p.code, p.what) for p in result.problems}
    assert result.done == 1 and all(p.where == "stage" for p in result.problems)
    assert codes == {"refused": (REFUSED, "Refused: the model refused all 3 phrasings"),
                     "down": (UNREACHABLE, "CallFailed: the writer could not be reached (503)"),
                     "garbage": (MEDIA_FAILED, "ValueError: the image backend returned 3 bytes that are not a picture"),
                     "bug": (ERROR, "KeyError: 'boom'")}
    ws.close()
    # A later run (here: another process's workspace on the same folder) reads them back without the message text.
    again = Workspace(tmp_path / "bench")
    assert {key: p.code for key, p in again.failures("stage").items()} == {key: c for key, (c, _) in codes.items()}
    # The stage's next run replaces them: what succeeds now is no longer a failure.
    again.run("stage", {**todo, "refused": lambda: {"value": 2}}, concurrency=1, progress=False)
    assert sorted(again.failures("stage")) == ["bug", "down", "garbage"] and "refused" in again.items("stage")
    again.clear("stage")
    assert again.failures("stage") == {} and again.items("stage") == {}
    assert json.loads((tmp_path / "bench" / "work" / "failures.json").read_text()) == {"stage": []}
    again.close()


def test_stage_lists_are_read_in_pipeline_order_and_bad_names_are_named():
    stages = ("taxonomy", "queries", "write")
    assert parse_stages(None, stages) == stages
    assert parse_stages(" write , taxonomy", stages) == ("taxonomy", "write")
    assert parse_stages("", stages, "--redo", empty=True) == ()
    with pytest.raises(ConfigError, match=r"--stages 'queries,dance': unknown stage\(s\) \['dance'\]; choose from "
                                          r"taxonomy,queries,write"):
        parse_stages("queries,dance", stages)
    with pytest.raises(ConfigError, match="--stages ' , '"):
        parse_stages(" , ", stages)


def test_one_problem_type_one_line_and_one_exit_policy():
    left_out = Problem("images", "failed: boom", id="q1", field="image", scenario="fraud")
    short = Problem("scoring", "2 of 4 queries (not padded)", scenario="fraud", kind=SHORT)
    note = Problem("images", "the critic could not judge the picture", id="q2", scenario="fraud", kind=NOTE)
    assert str(left_out) == "LEFT OUT images, id 'q1', field 'image': failed: boom"
    assert str(short) == "SHORT scoring, scenario 'fraud': 2 of 4 queries (not padded)"  # nothing narrower named
    assert str(note) == "NOTE images, id 'q2': the critic could not judge the picture"
    assert exit_status([note]) == 0 and exit_status([note, short]) == 1 and exit_status([left_out]) == 1
    assert list(left_out.to_dict()) == ["where", "what", "id", "field", "scenario", "kind"]  # no failure code
    assert Problem.from_dict({**left_out.to_dict(), "code": UNREACHABLE}).code == UNREACHABLE


def test_the_run_applies_one_exit_policy_and_always_releases_the_folder(tmp_path, capsys):
    config = parse({"concurrency": 2}, MMSBGenConfig)
    folder = tmp_path / "bench"

    def run_with(body) -> int:
        run, _ = Run.open("kind", "bench", folder, config, progress=False)
        return run.execute(lambda: body(run))

    def left_something_out(run: Run) -> int:
        run.problem("write", "no query to write", scenario="fraud")
        return run.status()

    def interrupted(run: Run) -> int:
        run.problem("queries", "not done yet (run the queries stage)", id="fraud/000", scenario="fraud")
        raise KeyboardInterrupt

    def stopped(run: Run) -> int:
        raise Stop("wrote taxonomy.yaml; review it", 0)

    def broken(run: Run) -> int:
        raise DataError("nothing to write")

    assert run_with(left_something_out) == 1
    assert run_with(interrupted) == 130
    err = capsys.readouterr().err
    assert "LEFT OUT queries, id 'fraud/000'" in err and "run the same command again to resume" in err
    assert run_with(stopped) == 0 and "review it" in capsys.readouterr().out
    with pytest.raises(DataError, match="nothing to write"):
        run_with(broken)
    assert not (folder / LOCK_FILE).exists()  # released after every outcome: the next run takes the folder
    run, state = Run.open("kind", "bench", folder, config, progress=False)
    assert state == "resume"
    run.close()
    with pytest.raises(DataError, match="holds a 'kind' benchmark, not 'other'"):
        Run.open("other", "bench", folder, config)
