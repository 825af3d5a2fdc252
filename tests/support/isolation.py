"""The environment every test runs in (conftest's autouse fixture), also for a harness run that a module's tests
share (a module-scoped fixture runs before any test's own isolation): its own data and cache folders, offline, no
network but loopback, and no inherited jury."""

from pathlib import Path

import pytest

CLEARED = ("SAFEBENCH_JURY", "SAFEBENCH_JUDGE_MODEL", "SAFEBENCH_JUDGE_BASE_URL", "SAFEBENCH_JUDGE_API_KEY",
           "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "SAFEBENCH_RETRY_ABSTAINED",
           "SAFEBENCH_JUDGE_CACHE", "SAFEBENCH_PREDICT_ONLY", "LMMS_EVAL_PLUGINS")


def isolate(env: pytest.MonkeyPatch, root: Path) -> None:
    """Point ``env`` (a MonkeyPatch) at folders under ``root`` and clear what a jury or harness would inherit."""
    for name in CLEARED:
        env.delenv(name, raising=False)
    env.setenv("SAFEBENCH_DATA", str(root / "data"))
    env.setenv("SAFEBENCH_CACHE", str(root / "cache"))
    env.setenv("HF_DATASETS_CACHE", str(root / "hf_datasets"))
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "SAFEBENCH_OFFLINE"):
        env.setenv(name, "1")
    env.setenv("NO_PROXY", "127.0.0.1,localhost")
    # The built-in local jury is the default on a CUDA machine; tests that expect "no jury" must not see one.
    env.setenv("CUDA_VISIBLE_DEVICES", "")
