"""One invocation of a generator: the run model, the stage lists and the exit-code policy every generator shares.

A generator's ``main``:

1. reads its options and config and checks what it can before the disk is touched (:func:`parse_stages` reads
   ``--stages`` and ``--redo`` against the generator's stage list);
2. opens the run (:meth:`Run.open`): the benchmark folder is locked, made ready (new, resumed or restarted:
   :func:`.output.prepare`) and its workspace opened;
3. runs its stages through :meth:`Run.stage` (items on the workspace's thread pool, resumable; an item that raises
   is a problem of the stage with its failure code, kept in ``work/failures.json``) and names what the written
   benchmark lacks with :meth:`Run.problem`;
4. returns what :meth:`Run.execute` returns, which is the same policy for every generator:

====  ===========================================================================================================
0     everything was built
1     something was left out, or a scenario is short of what was asked (each named: :func:`exit_status`)
2     an error: bad configuration or input, an output folder that is not this generator's (a
      :class:`~lmms_safebench.errors.SafebenchError`, which the command line prints)
130   interrupted (Ctrl-C): every finished item and model call is kept; the same command resumes
====  ===========================================================================================================

A stage may end the run early on purpose with :class:`Stop` (its message and status: 0 after writing a taxonomy
to review, 1 when an earlier step is incomplete).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ...errors import ConfigError, SafebenchError
from ..media.image import ImageBackend, image_backend
from ..media.speech import SpeechBackend, speech_backend
from .llm import TextLLM, make_limiter
from .output import config_digest
from .problems import LEFT_OUT, Problem
from .workspace import StageResult, Workspace

OK, LEFT_SOMETHING_OUT, INTERRUPTED = 0, 1, 130
_MAX_LINES = 40  # problems printed; all of them are in the manifest and data card


class Stop(Exception):
    """The run stops here on purpose (a taxonomy to review) or because an earlier step is incomplete."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def parse_stages(value: str | None, names: tuple[str, ...], option: str = "--stages",
                 empty: bool = False) -> tuple[str, ...]:
    """The stages a comma-separated ``value`` names, in pipeline order (``names``); None: every stage. An unknown
    name is a ConfigError naming the option and the choices; so is an empty list, unless ``empty`` allows one."""
    if value is None:
        return names
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in names]
    if unknown or not (chosen or empty):
        raise ConfigError(f"{option} {value!r}: unknown stage(s) {unknown}; choose from {','.join(names)}")
    return tuple(name for name in names if name in chosen)


def exit_status(problems: list[Problem]) -> int:
    """1 when a problem left something out or a scenario is short (notes aside), else 0."""
    return LEFT_SOMETHING_OUT if any(p.blocking for p in problems) else OK


class Run:
    """One invocation of a generator: its config, the locked work folder, the models, and what it found wrong.

    Thread-safe where stages call it from their items (:meth:`llm`, :meth:`problem`, :meth:`count`)."""

    def __init__(self, kind: str, name: str, config, ws: Workspace, progress: bool = True):
        self.kind, self.name, self.config, self.ws, self.progress = kind, name, config, ws, progress
        self.started = time.perf_counter()
        self.problems: list[Problem] = []
        self.counts: dict[str, dict[str, int]] = {}  # per scenario (or stage): counts for the data card
        self.summary: list[str] = []  # lines printed when the run ends
        self.results: dict[str, StageResult] = {}  # the stages run by this invocation
        self.limiter = make_limiter()  # calls in flight per endpoint, shared by every model of the run
        self._llms: dict[str, TextLLM] = {}
        self._media: dict[str, ImageBackend | SpeechBackend] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, kind: str, name: str, folder: Path, config, restart: bool = False,
             progress: bool = True) -> tuple["Run", str]:
        """The run, with ``folder`` locked and ready (:meth:`.workspace.Workspace.open`), and ``"new"``,
        ``"resume"`` or ``"restart"``. ``kind`` is what the folder records: another kind of run is refused."""
        ws, state = Workspace.open(folder, kind, config_digest(config), restart)
        return cls(kind, name, config, ws, progress), state

    @property
    def folder(self) -> Path:
        return self.ws.folder

    # -------------------------------------------------------------- models
    def llm(self, role: str, spec) -> TextLLM:
        """The run's model for ``role`` (made once; every stage asking for the role shares it)."""
        with self._lock:  # stages ask for their models from worker threads
            if role not in self._llms:
                self._llms[role] = TextLLM(spec, self.ws.cache, self.ws.ledger, self.limiter, role=role)
            return self._llms[role]

    def image_backend(self, spec) -> ImageBackend:
        """The run's image backend (made once, before a stage's threads start: an in-process model loads once)."""
        with self._lock:
            if "image" not in self._media:
                self._media["image"] = image_backend(spec, self.limiter)
            return self._media["image"]

    def speech_backend(self, spec) -> SpeechBackend:
        with self._lock:
            if "speech" not in self._media:
                self._media["speech"] = speech_backend(spec, self.limiter)
            return self._media["speech"]

    # -------------------------------------------------------------- stages
    def stage(self, stage: str, todo: dict[str, Callable[[], dict | None]], desc: str | None = None,
              concurrency: int | None = None, current: Callable[[str, dict], bool] | None = None) -> StageResult:
        """Run ``todo`` (``{item id: work}``) on the workspace (:meth:`.workspace.Workspace.run`), at most
        ``concurrency`` items at once (default: the config's ``concurrency``)."""
        result = self.ws.run(stage, todo, concurrency or self.config.concurrency, desc or stage, self.progress,
                             current)
        self.results[stage] = result
        return result

    def why_missing(self, stage: str, item: str, run_with: str | None = None) -> str:
        """Why a stage's item has no result: its failure in the stage's latest run, or that it was not run (by the
        stage ``run_with``, when the workspace stage is part of another one)."""
        failed = self.ws.failures(stage).get(item)
        return (f"failed: {failed.what} (a rerun tries it again)" if failed
                else f"not done yet (run the {run_with or stage} stage)")

    # -------------------------------------------------------------- what was found
    def problem(self, where: str, what: str, id: str | None = None, field: str | None = None,
                scenario: str | None = None, kind: str = LEFT_OUT, code: str | None = None) -> None:
        with self._lock:
            self.problems.append(Problem(where, what, id, field, scenario, kind, code))

    def count(self, scenario: str, key: str, amount: int = 1) -> None:
        with self._lock:
            counts = self.counts.setdefault(scenario, {})
            counts[key] = counts.get(key, 0) + amount

    def rel(self, path: Path) -> str:
        """``path`` relative to the benchmark folder (as manifests and provenance name files)."""
        return path.relative_to(self.folder).as_posix()

    def status(self) -> int:
        return exit_status(self.problems)

    def report(self) -> None:
        """Every problem, one line each on stderr (the first few dozen; all of them are in the manifest and data
        card)."""
        lines = [str(p) for p in self.problems]
        for line in lines[:_MAX_LINES]:
            print(line, file=sys.stderr)
        if len(lines) > _MAX_LINES:
            print(f"... and {len(lines) - _MAX_LINES} more (all under 'problems' in manifest.json and data_card.md)",
                  file=sys.stderr)

    # -------------------------------------------------------------- the policy
    def execute(self, body: Callable[[], int]) -> int:
        """``body()``'s status under the exit-code policy of the module docstring; the run is closed after, always
        (the folder's lock released)."""
        try:
            return body()
        except KeyboardInterrupt:
            self.report()
            print("interrupted: every finished item and model call is saved; run the same command again to resume",
                  file=sys.stderr)
            return INTERRUPTED
        except Stop as stop:
            self.report()
            print(str(stop), file=sys.stderr if stop.status else sys.stdout)
            return stop.status
        except SafebenchError:
            self.report()
            raise
        finally:
            self.close()

    def close(self) -> None:
        self.ws.close()
