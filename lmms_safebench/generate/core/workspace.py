"""A generation run's work folder: resumable stages, item by item, concurrent, with progress bars.

One run at a time per benchmark folder: :meth:`Workspace.open` takes an exclusive lock on the folder
(:class:`FolderLock`, ``<benchmark folder>/.lock``) before it looks at or deletes anything there, and the
workspace holds it until :meth:`Workspace.close` or the process ends; a second run on the same folder is refused
with the holder's pid, host and start time.

``<benchmark folder>/work/`` holds everything a rerun needs to pick up where a run stopped:

- ``<stage>.jsonl``: one line per finished item (``{"id": ..., ...}``), appended and flushed as each item
  finishes; an item is done when its line is there (the last line of an id wins, so a stage can be redone);
- ``failures.json``: per stage, the items whose work raised in the stage's latest run, each a
  :class:`~.problems.Problem` with its failure code (so a later run that does not run the stage still says why
  an item is missing);
- ``calls.sqlite``: every finished model call (:class:`~lmms_safebench.llm.cache.CallCache`);
- ``ledger.json``: calls, tokens, cost and time per stage;
- media files the stages write (images, audio), each written before its item's line.

:meth:`Workspace.run` runs a stage's pending items on a thread pool; an item that raises is recorded as a
problem of the stage (named by item id, with the failure code of :mod:`.problems`) and the others go on. Ctrl-C
stops after the items in flight.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from loguru import logger
from tqdm import tqdm

from ...errors import DataError
from ...llm.cache import CallCache
from .ledger import Ledger
from .output import LOCK_FILE, atomic_write, prepare
from .problems import Problem, failure_of


class FolderLock:
    """An exclusive lock on a benchmark folder (``fcntl.flock`` on ``<folder>/.lock``), for one run.

    The kernel drops the lock with the process's file descriptor, so a killed run never leaves the folder locked
    (a stale ``.lock`` file is simply taken over). The holder writes its pid, host and start time into the file,
    so that a refused run can say who holds the folder. :meth:`release` removes the file while still holding the
    lock, and a run that locked a file removed meanwhile tries again on the new one: never two holders."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._created = not self.folder.exists()  # an empty folder made only for the lock goes with it
        while True:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise DataError(f"{self.folder}: cannot create the benchmark folder ({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(os.pread(fd, 4096, 0))
                os.close(fd)
                raise DataError(f"{self.folder} is in use by another run ({holder}); wait for it to finish, or stop "
                                "that process, then run again") from None
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)  # the holder released and removed the file between our open and our lock: again
        self._fd: int | None = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
        if self._created:
            try:
                self.folder.rmdir()
            except OSError:  # the run wrote something: the folder stays
                pass

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(raw: bytes) -> str:
    try:
        info = json.loads(raw.decode("utf-8"))
        return f"pid {info['pid']} on host {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "a process that has not written its details yet"


@dataclass
class StageResult:
    stage: str
    done: int = 0  # items finished in this run
    skipped: int = 0  # items already done by an earlier run
    problems: list[Problem] = field(default_factory=list)  # the items that failed (where: the stage; code)


class Workspace:
    def __init__(self, folder: str | Path, lock: FolderLock | None = None):
        self.folder = Path(folder)
        self.folder_lock = lock or FolderLock(self.folder)
        try:
            self.work = self.folder / "work"
            self.work.mkdir(parents=True, exist_ok=True)
            self.cache = CallCache(self.work / "calls.sqlite")
            self.ledger = Ledger(self.work / "ledger.json")
        except BaseException:
            self.folder_lock.release()
            raise
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, folder: str | Path, kind: str, config_digest: str, restart: bool = False) -> tuple["Workspace", str]:
        """Lock ``folder``, then make it ready for a ``kind`` run (:func:`.output.prepare`: ``"new"``, ``"resume"``
        or ``"restart"``, returned with the workspace). The lock comes first, so that no run resumes, restarts or
        deletes a folder another run is writing."""
        lock = FolderLock(folder)
        try:
            state = prepare(Path(folder), kind, config_digest, restart)
            return cls(folder, lock), state
        except BaseException:
            lock.release()
            raise

    # ------------------------------------------------------------------ items
    def _path(self, stage: str) -> Path:
        return self.work / f"{stage}.jsonl"

    def items(self, stage: str) -> dict[str, dict]:
        """``{id: record}`` of the stage's finished items (a torn last line from a kill is ignored)."""
        path = self._path(stage)
        out: dict[str, dict] = {}
        if not path.exists():
            return out
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and "id" in record:
                    out[str(record["id"])] = record
        return out

    def put(self, stage: str, record: dict) -> None:
        with self._lock:
            lock = self._locks.setdefault(stage, threading.Lock())
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with lock, open(self._path(stage), "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()

    def clear(self, stage: str) -> None:
        """Forget a stage's items and failures (to redo it; its cached calls stay and make the redo free)."""
        self._path(stage).unlink(missing_ok=True)
        self._keep_failures(stage, [])

    def failures(self, stage: str) -> dict[str, Problem]:
        """``{item id: problem}`` of the items that failed in the stage's latest run (:meth:`run`)."""
        return {entry["id"]: Problem.from_dict(entry) for entry in self._all_failures().get(stage, [])}

    def _all_failures(self) -> dict[str, list[dict]]:
        try:
            data = json.loads((self.work / "failures.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _keep_failures(self, stage: str, problems: list[Problem]) -> None:
        with self._lock:
            data = self._all_failures()
            data[stage] = [asdict(p) for p in problems]
            atomic_write(self.work / "failures.json", json.dumps(data, indent=1, ensure_ascii=False))

    def media(self, *parts: str) -> Path:
        path = self.work.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # ------------------------------------------------------------------ running a stage
    def run(self, stage: str, todo: dict[str, Callable[[], dict | None]], concurrency: int,
            desc: str | None = None, progress: bool = True,
            current: Callable[[str, dict], bool] | None = None) -> StageResult:
        """Run ``todo`` (``{item id: work}``) except the items already done. ``work()`` returns the item's
        record (stored with its id) or None (nothing to store); an exception is the item's problem.
        ``current(id, record)``: whether a finished item still fits today's input (False: it is done again)."""
        result = StageResult(stage)
        done = self.items(stage)
        if current is not None:
            done = {item: record for item, record in done.items() if current(item, record)}
        pending = {item: work for item, work in todo.items() if item not in done}
        result.skipped = len(todo) - len(pending)
        start = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(pending) or 1)),
                                  thread_name_prefix=f"generate-{stage}")
        futures = {pool.submit(work): item for item, work in pending.items()}
        recorded: set = set()

        def record(future) -> None:
            recorded.add(future)
            item = futures[future]
            try:
                value = future.result()
            except Exception as exc:  # one item's failure is named; the others go on
                code, what = failure_of(exc)
                logger.warning(f"{stage}: item {item} failed: {what}")
                result.problems.append(Problem(stage, what, id=item, code=code))
                self.ledger.add(stage, items_failed=1)
            else:
                if value is not None:
                    self.put(stage, {"id": item, **value})
                result.done += 1
                self.ledger.add(stage, items_done=1)

        saved = time.perf_counter()
        try:
            with tqdm(total=len(todo), initial=result.skipped, desc=desc or stage, unit="item",
                      disable=not progress) as bar:
                for future in as_completed(futures):
                    record(future)
                    bar.update(1)
                    if time.perf_counter() - saved > 1.0:  # at most once a second: a kill loses only the latest accounts
                        self.ledger.save()
                        saved = time.perf_counter()
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            # Items that were in flight finish; they are saved too, and only the cancelled ones are redone.
            for future in futures:
                if future not in recorded and future.done() and not future.cancelled():
                    record(future)
            raise
        finally:
            self.ledger.add(stage, seconds=time.perf_counter() - start)
            self.ledger.save()
            self._keep_failures(stage, result.problems)
        pool.shutdown(wait=True)
        return result

    def close(self) -> None:
        try:
            self.ledger.save()
            self.cache.close()
        finally:
            self.folder_lock.release()
