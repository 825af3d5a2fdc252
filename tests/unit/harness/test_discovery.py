"""Task discovery degrades safely: the lmms-eval it is tested with is patched without a word; a TaskManager whose
patched methods changed (as a newer lmms-eval's may) is left alone with ONE warning naming the explicit flag, and that
flag still finds the tasks. A generated benchmark made by an older release (whose utils.py imports modules that are
gone) loads again. Everything runs in process, through the import hook a ``.pth`` line installs."""

import importlib.util
import textwrap

import lmms_eval
import pytest
from loguru import logger

from lmms_safebench import cli, paths
from lmms_safebench.benchmarks.safebench.family import tasks as safebench_tasks
from lmms_safebench.data import store
from lmms_safebench.generate.output import TaxCategory, TaxScenario, taxonomy_to_dict, write_manifest, write_tasks
from lmms_safebench.harness import discovery, taskindex
from lmms_safebench.harness.taskwriter import support_files
from lmms_safebench.scoring import metrics

# Newer lmms-eval TaskManagers, as they might change. The one that still indexes folders does so with lmms-eval's own
# per-folder indexer, so the flag is tested against the real indexing code.
CHANGED = {
    "no initialize_tasks": """
        class TaskManager:
            def __init__(self, verbosity="INFO", include_path=None):
                self.all_tasks = []
    """,
    "another signature": """
        from lmms_eval.tasks import TaskManager as Released


        class TaskManager(Released):
            def initialize_tasks(self, include_path=None, include_defaults=True, model_name=None):
                paths = [include_path] if isinstance(include_path, str) else list(include_path or [])
                index = {}
                for path in paths:
                    index = {**self._get_task_and_group(path), **index}
                return index
    """,
    "a renamed indexer": """
        from lmms_eval.tasks import TaskManager as Released


        class TaskManager(Released):
            def initialize_tasks(self, include_path=None, include_defaults=True):
                return {}

            _get_task_and_group = None
    """,
}


@pytest.fixture
def warnings(monkeypatch):
    monkeypatch.setattr(discovery, "_warned", set())  # a fresh process as far as "once" goes
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="WARNING")
    yield lines
    logger.remove(sink)


def import_tasks_module(package_dir):
    """``lmms_eval.tasks`` of ``package_dir`` imported as Python would with discovery installed (the finder the
    ``.pth`` line puts on sys.meta_path), as a new module object: the test process keeps its own lmms_eval."""
    spec = discovery._TasksFinder().find_spec(discovery._TARGET, [str(package_dir)])
    assert isinstance(spec.loader, discovery._LoaderProxy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flag_folder(capsys) -> str:
    """The folder ``--include_path "$(lmms-safebench tasks-dir --harness lmms-eval)"`` passes."""
    capsys.readouterr()
    assert cli.main(["tasks-dir", "--harness", "lmms-eval"]) == 0
    return capsys.readouterr().out.strip()


@pytest.mark.parametrize("change", sorted(CHANGED))
def test_a_changed_task_manager_gets_one_warning_and_the_flag_still_works(change, tmp_path, warnings, capsys):
    package = tmp_path / "lmms_eval"
    (package / "tasks").mkdir(parents=True)
    (package / "tasks" / "__init__.py").write_text(textwrap.dedent(CHANGED[change]))
    module = import_tasks_module(package)
    import_tasks_module(package)  # imported again (another interpreter would warn again; this one does not)

    assert len(warnings) == 1, warnings
    assert discovery.INCLUDE_FLAG in warnings[0] and "discovery is off" in warnings[0]
    assert discovery.INCLUDE_FLAG == '--include_path "$(lmms-safebench tasks-dir --harness lmms-eval)"'
    method = getattr(module.TaskManager, "initialize_tasks", None)
    assert not getattr(method, discovery._PATCHED_FLAG, False)  # left as lmms-eval wrote it
    if change == "another signature":
        assert "takes (self, include_path, include_defaults, model_name)" in warnings[0]
        assert module.TaskManager("ERROR").all_tasks == []  # no package task without the flag: not patched
        found = module.TaskManager("ERROR", include_path=flag_folder(capsys)).all_tasks
        assert {"safebench_mmsb_tiny_typo", "safebench_image", "safebench_mini_text"} <= set(found)
    assert len(warnings) == 1


def test_the_tested_lmms_eval_is_patched_without_a_warning_and_a_failing_discovery_falls_back(warnings, monkeypatch):
    module = import_tasks_module(lmms_eval.__path__[0])  # this environment's lmms-eval, a release setup.cfg admits
    assert getattr(module.TaskManager.initialize_tasks, discovery._PATCHED_FLAG) is True
    assert "safebench_mmsb_tiny_typo" in module.TaskManager("ERROR", include_defaults=False).all_tasks
    assert warnings == []

    def broken(harness=""):
        raise OSError("the data folder went away")

    monkeypatch.setattr(discovery, "generated_tasks_dirs", broken)
    manager = module.TaskManager("ERROR", include_path=str(discovery.lmms_eval_tasks_dir()),
                                  include_defaults=False)
    assert "safebench_mmsb_tiny_typo" in manager.all_tasks  # lmms-eval indexes what it was asked for
    assert module.TaskManager("ERROR", include_defaults=False).all_tasks == []
    assert len(warnings) == 1 and "OSError: the data folder went away" in warnings[0]
    assert discovery.INCLUDE_FLAG in warnings[0]


# The utils.py that `lmms-safebench generate` wrote into every generated task folder before this release.
OLD_UTILS = '''\
"""Thin hooks for the tasks in this folder (written by lmms-safebench generate; do not edit by hand).

lmms-eval and lm-eval re-execute this file for every ``!function`` reference, so it only re-exports the
generic hooks; all state (the jury, its cache, loaded data) lives in the ``lmms_safebench`` library.
"""

from lmms_safebench import hooks as _hooks
from lmms_safebench.metrics import combine, task_aggregations  # noqa: F401  (combine: the group YAMLs' aggregation)

process_docs = _hooks.process_docs  # lmms-eval
load_docs = _hooks.custom_dataset  # lm-eval
doc_to_visual = _hooks.doc_to_visual
doc_to_text = _hooks.doc_to_text
doc_to_messages = _hooks.doc_to_messages
doc_to_target = _hooks.doc_to_target  # the document's fingerprint, logged as `target`
process_results = _hooks.process_results

# One aggregation per metric of the templates' metric_list.
globals().update(task_aggregations())
'''
HAND_WRITTEN = "from lmms_safebench.harness.hooks import *  # noqa: F403  (mine: hooks of my own may follow)\n"
TAXONOMY = [TaxCategory("finance", "FI", "Finance", "money matters", (TaxScenario("loan_fraud", "Loan Fraud"),))]


def generated(name: str, utils: str):
    folder = paths.data_dir() / "generated" / name
    folder.mkdir(parents=True)
    write_manifest(folder, {"benchmark": f"gen_{name}", "family": "safebench", "name": name, "title": name,
                            "taxonomy": taxonomy_to_dict(TAXONOMY)})
    write_tasks(folder, safebench_tasks(name, f"Bench {name}", TAXONOMY, ["text"]))
    for harness in ("lmms_eval", "lm_eval"):
        (folder / "tasks" / harness / "utils.py").write_text(utils)
    return folder


def test_a_generated_folder_of_an_older_release_is_brought_up_to_date_and_loads(warnings, monkeypatch):
    from lmms_eval import utils as lmms_eval_utils
    from lmms_eval.tasks import TaskManager  # patched by discovery, as in every interpreter of this environment

    old = generated("old", OLD_UTILS)
    mine = generated("mine", HAND_WRITTEN)
    manager = TaskManager("ERROR", include_defaults=False)
    # Its config read as lmms-eval reads it to build the task, which imports utils.py for every `!function`: the old
    # file imported lmms_safebench.hooks, which is gone.
    config = lmms_eval_utils.load_yaml_config(manager.task_index["safebench_gen_old_text_loan_fraud"]["yaml_path"],
                                              mode="full")
    assert config["process_results"].__module__ == "lmms_safebench.harness.hooks"
    assert config["metric_list"][0]["aggregation"] is metrics.asr
    for harness in ("lmms_eval", "lm_eval"):
        expected = support_files("lmms-safebench generate", "gen_old", lmms_eval=harness == "lmms_eval")["utils.py"]
        assert (old / "tasks" / harness / "utils.py").read_text() == expected, harness
        assert (mine / "tasks" / harness / "utils.py").read_text() == HAND_WRITTEN  # not generated: the user's
    assert not list(old.rglob("*.part")) and warnings == []
    assert "safebench_gen_old_text_loan_fraud" in taskindex.index()[0]

    # A folder whose old file cannot be rewritten is left out, named, and the rest loads.
    stuck = generated("stuck", OLD_UTILS)

    def read_only(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store, "atomic_write", read_only)
    tasks = TaskManager("ERROR", include_defaults=False).all_tasks
    assert "safebench_gen_old_text" in tasks and not any(t.startswith("safebench_gen_stuck") for t in tasks)
    assert len(warnings) == 1 and repr(str(stuck)) in warnings[0]
    assert "tasks/lmms_eval/utils.py was written by an older lmms-safebench" in warnings[0]
    assert "PermissionError" in warnings[0] and (stuck / "tasks" / "lmms_eval" / "utils.py").read_text() == OLD_UTILS
