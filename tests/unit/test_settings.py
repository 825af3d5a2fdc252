"""Settings are read from the environment in one place, validated there, and bad values name the variable."""

import re
from pathlib import Path

import pytest

import lmms_safebench
from lmms_safebench import settings
from lmms_safebench.errors import ConfigError
from lmms_safebench.harness import hooks

PACKAGE = Path(lmms_safebench.__file__).parent
# settings.py reads the environment; harness/discovery.py runs at interpreter start and must not import the library;
# llm/client.py reads API key values by name at request time.
ALLOWED = {"settings.py", "harness/discovery.py", "llm/client.py"}


def test_no_other_module_reads_the_environment():
    readers = []
    for path in PACKAGE.rglob("*.py"):
        relative = str(path.relative_to(PACKAGE))
        if relative not in ALLOWED and re.search(r"os\.environ|os\.getenv", path.read_text()):
            readers.append(relative)
    assert readers == []


@pytest.mark.parametrize("variable, value", [
    ("SAFEBENCH_PROMPT_MODE", "fancy"), ("SAFEBENCH_AUDIO_FORMAT", "mp3"), ("SAFEBENCH_JUDGE_CACHE", "maybe"),
    ("SAFEBENCH_RETRY_ABSTAINED", "2"), ("SAFEBENCH_OFFLINE", "sure"), ("SAFEBENCH_PREDICT_ONLY", "perhaps"),
])
def test_a_bad_value_is_an_error_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}={value!r}"):
        settings.current()


def test_values_are_typed_and_read_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("SAFEBENCH_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("SAFEBENCH_JUDGE_CACHE", "off")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    now = settings.current()
    assert now.data_dir == tmp_path / "d" and now.judge_cache is False
    assert now.judge_base_url == "http://127.0.0.1:9/v1" and now.judge_api_key_env == "OPENAI_API_KEY"
    monkeypatch.setenv("SAFEBENCH_JUDGE_API_KEY", "k")
    monkeypatch.setenv("SAFEBENCH_JUDGE_BASE_URL", "http://127.0.0.1:8/v1")
    later = settings.current()
    assert later.judge_base_url == "http://127.0.0.1:8/v1" and later.judge_api_key_env == "SAFEBENCH_JUDGE_API_KEY"
    monkeypatch.setenv("HF_HUB_OFFLINE", "whatever")  # read as the Hugging Face stack reads it: not "1"
    monkeypatch.delenv("SAFEBENCH_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    assert settings.current().offline is False


def predict_only_seen_inside(predict_only: bool) -> bool:
    def simple_evaluate(predict_only=False):  # noqa: ARG001  (the harness's own entry point, by name)
        return hooks.predict_only()

    return simple_evaluate(predict_only=predict_only)


def test_predict_only_is_read_from_the_harness_call_not_only_from_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["python"])
    assert predict_only_seen_inside(True) is True  # e.g. simple_evaluate(..., predict_only=True) from Python
    assert predict_only_seen_inside(False) is False
    monkeypatch.setattr("sys.argv", ["lmms-eval", "--predict_only"])
    assert predict_only_seen_inside(False) is False  # the call that builds the tasks decides, not a stale argv
    assert hooks.predict_only() is True  # outside a harness call, the command line


def test_task_discovery_finds_generated_benchmarks_where_the_library_keeps_them(monkeypatch, tmp_path):
    from lmms_safebench.harness.discovery import generated_tasks_dirs

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SAFEBENCH_DATA", " ~/data ")  # as a .env file or a container may set it: not expanded
    folder = tmp_path / "data" / "generated" / "mine" / "tasks" / "lmms_eval"
    folder.mkdir(parents=True)
    (folder.parent.parent / "manifest.json").write_text('{"family": "safebench"}')  # a usable benchmark folder
    assert settings.current().data_dir == tmp_path / "data"
    assert generated_tasks_dirs("lmms_eval") == [folder]
