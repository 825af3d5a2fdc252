"""Task discovery degrades safely: the lmms-eval it is tested with is patched without a word; a TaskManager whose
patched methods changed (as a newer lmms-eval's may) is left alone with ONE warning naming the explicit flag, and that
flag still finds the tasks. Everything runs in process, through the import hook a ``.pth`` line installs."""

import importlib.util
import textwrap

import lmms_eval
import pytest
from loguru import logger

from lmms_safebench import cli
from lmms_safebench.harness import discovery

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
