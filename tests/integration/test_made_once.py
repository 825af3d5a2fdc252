"""tests/support/shared.py: a shared run is made once per session, by one process at a time, and a failed make
leaves nothing a later test would mistake for a finished run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import shared
from shared import made_once


def test_a_folder_is_made_once_and_its_value_read_back(tmp_path_factory):
    calls = []

    def make(folder):
        calls.append(folder)
        (folder / "log.txt").write_text("run")
        return {"requests": ["a", "b"]}

    first = made_once(tmp_path_factory, "once-test", make)
    second = made_once(tmp_path_factory, "once-test", make)
    assert first == second and len(calls) == 1
    assert (first[0] / "log.txt").read_text() == "run" and first[1] == {"requests": ["a", "b"]}


def test_a_make_that_fails_leaves_no_folder_and_the_next_ask_makes_it(tmp_path_factory):
    def broken(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("the harness failed")

    with pytest.raises(RuntimeError, match="the harness failed"):
        made_once(tmp_path_factory, "fails-once", broken)
    folder, value = made_once(tmp_path_factory, "fails-once", lambda f: 7)
    assert value == 7 and not (folder / "half.txt").exists()


ASK = """
import os, sys, time
from pathlib import Path
from shared import made_once

class Factory:  # made_once needs only getbasetemp()
    def getbasetemp(self):
        return Path(sys.argv[1])

def make(folder):
    with open(sys.argv[2], "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    time.sleep(0.5)  # a harness run takes a while: without the lock, the others would start theirs meanwhile
    return os.getpid()

made_once(Factory(), "raced", make)
"""


def test_processes_asking_at_once_make_it_once(tmp_path):
    """Three processes (as xdist workers would be) ask for the same run at the same time: one makes it."""
    out = tmp_path / "makers.txt"
    out.touch()
    env = {**os.environ, "PYTHONPATH": str(Path(shared.__file__).parent)}
    askers = [subprocess.Popen([sys.executable, "-c", ASK, str(tmp_path), str(out)], env=env) for _ in range(3)]
    assert [asker.wait(60) for asker in askers] == [0, 0, 0]
    assert len(out.read_text().split()) == 1
