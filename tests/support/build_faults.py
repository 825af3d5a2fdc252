"""`lmms-safebench build` as a command line and a small MM-SafetyBench upstream folder, for the build tests."""

import os
import subprocess
from pathlib import Path

from helpers import (
    BIN,
    write_mmsb_source,
)

CLI = str(BIN / "lmms-safebench")


def build(*args, env=None):
    return subprocess.run([CLI, "build", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def mmsb_upstream(root: Path) -> tuple[Path, list]:
    """A small MM-SafetyBench upstream folder under root (3 questions per scenario) and its ids."""
    ids = write_mmsb_source(root / "upstream", per_scenario=3)
    return root / "upstream", ids


