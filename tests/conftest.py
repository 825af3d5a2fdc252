import os
import signal
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
# Shared fixtures and helpers live in tests/support/ and are imported by name (`from helpers import ...`); test modules
# are imported by pytest (importlib mode) and never by each other (tests/unit/test_layout.py checks both).
sys.path.insert(0, str(TESTS / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "utils"))  # tooling that does not ship: loopback.py

# Offline from the start: datasets, huggingface_hub and transformers read these once, when first imported, which
# for many test modules is at collection, before the per-test fixture below sets them (a library that thinks it is
# online then waits on the network it cannot reach: 45 s in the lm-eval run of tests/unit/report/).
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_name] = "1"

from isolation import isolate  # noqa: E402

from lmms_safebench.jury import runtime  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """The folder says the kind: everything under tests/e2e/ starts a real lmms-eval, lm-eval or pip process and is
    marked `e2e` here (never per test), so `pytest -m "not e2e"` runs the unit and integration tests."""
    e2e = TESTS / "e2e"
    for item in items:
        if item.path.is_relative_to(e2e):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own data and cache folders, no network but loopback, no inherited jury, and Ctrl-C as
    Python sets it up."""
    isolate(monkeypatch, tmp_path)
    # Ctrl-C tests send SIGINT to this process (a stage's n-th request) or to a child it starts. A test run once
    # failed four of them in one xdist worker, the run (and a child) going on as if SIGINT were blocked or ignored:
    # a library an earlier test loaded in that worker can leave it so (a resource tracker blocks SIGINT around its
    # spawn; an ignored signal and the blocked mask are inherited by children). Each test starts unblocked, with
    # Python's own handler.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory):
    from tiny_models import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("models") / "tiny-llava")


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    from tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-lm")


@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory):
    from tiny_models import build_tiny_sd3

    return build_tiny_sd3(tmp_path_factory.mktemp("models") / "tiny-sd3")


@pytest.fixture(scope="session")
def tiny_vits(tmp_path_factory):
    from tiny_models import build_tiny_vits

    return build_tiny_vits(tmp_path_factory.mktemp("models") / "tiny-vits")


@pytest.fixture(scope="session")
def tiny_sentence_model(tmp_path_factory):
    from tiny_models import build_tiny_sentence_transformer

    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("models") / "tiny-sentence-model")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    from tiny_models import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


# Fixtures used by tests in more than one module; what they build lives in tests/support/.
@pytest.fixture
def mmsb_source(tmp_path):
    from build_faults import mmsb_upstream

    return mmsb_upstream(tmp_path)


@pytest.fixture
def pool(tmp_path):
    from selection_pool import planted_pool

    return planted_pool(tmp_path)


@pytest.fixture
def agents():
    from vlsafety_gen import agent_servers

    with agent_servers() as running:
        yield running
