"""One generation run at a time per benchmark folder (issue 13, part 7): a second `generate` of the same name is
refused with one line naming the run that holds the folder, makes no call and deletes nothing (not even with
--restart); the lock goes with its holder, killed or finished; the data card counts exactly the calls made."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from helpers import BIN
from loopback import LoopbackServer, Reply
from safebench_gen import StandIn, folder_of, generate, write_config

from lmms_safebench.generate.core.workspace import LOCK_FILE

CALLS = 12 + 36  # a text-only run of the stand-in's config: query batches, then a rating per candidate


def text_only(tmp_path, url: str):
    return write_config(tmp_path / "cfg", url, image=None, speech=None, critic=None)


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_second_run_on_the_same_folder_is_refused_and_the_first_counts_its_calls(tmp_path, capsys):
    gate = threading.Event()
    stand_in = StandIn()

    def held(body):
        """The first run's two calls in flight (concurrency 2) wait here, so that it is still running when the
        second run starts; any other call before the gate opens is the second run's, and fails at once."""
        if not gate.is_set():
            if len(server.requests) > 2:
                return Reply(status=500)
            gate.wait(120)
        return stand_in(body)

    data = tmp_path / "data"
    with LoopbackServer(held, media=stand_in.media) as server:
        config = text_only(tmp_path, server.base_url)
        first = subprocess.Popen([str(BIN / "lmms-safebench"), "generate", "safebench", str(config), "--name", "twin",
                                  "--data-dir", str(data), "--no-progress"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: server.requests or first.poll() is not None, "the first run's first call")
            assert first.poll() is None, first.communicate()
            asked = len(server.requests)
            for extra in ((), ("--restart",)):
                status, out, err = generate(capsys, config, "twin", *extra, data=data)
                lines = [line for line in err.splitlines() if line.strip()]
                assert status == 2 and len(lines) == 1, err
                assert lines[0].startswith(f"lmms-safebench: error: {folder_of(data, 'twin')} is in use by another "
                                           f"run (pid {first.pid} on host {socket.gethostname()}, started "), err
                assert (folder_of(data, "twin") / "work" / "run.json").exists()  # --restart deleted nothing
            assert len(server.requests) == asked  # the refused runs made no call
        finally:
            gate.set()
            out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out[-3000:] + err[-3000:]
    card = json.loads((folder_of(data, "twin") / "data_card.json").read_text())
    # The card counts exactly the calls the endpoint received.
    assert card["cost"]["totals"]["calls"] == len(server.requests) == CALLS
    assert not (folder_of(data, "twin") / LOCK_FILE).exists()


HOLDER = ("import sys; from lmms_safebench.generate.core.workspace import FolderLock; lock = FolderLock(sys.argv[1]); "
          "print('locked', flush=True); sys.stdin.read()")


def test_a_killed_holder_leaves_the_folder_free(tmp_path, capsys):
    data = tmp_path / "data"
    folder = folder_of(data, "freed")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with LoopbackServer(StandIn()) as server:
            config = text_only(tmp_path, server.base_url)
            status, out, err = generate(capsys, config, "freed", data=data)
            assert status == 2 and f"pid {holder.pid} on host" in err and server.requests == []
            os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs: the kernel drops the lock with the process
            holder.wait(timeout=60)
            assert (folder / LOCK_FILE).exists()  # the stale lock file is simply taken over
            status, out, err = generate(capsys, config, "freed", data=data)
            assert status == 0, err
            card = json.loads((folder / "data_card.json").read_text())
            assert card["cost"]["totals"]["calls"] == len(server.requests) == CALLS
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
