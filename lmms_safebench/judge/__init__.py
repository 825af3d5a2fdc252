"""``lmms-safebench judge``: judge the answers a run logged, without running the model again.

Input: the folders ``lmms-eval --log_samples`` (also with ``--predict_only``) or lm-eval write, for
any task of this package (official or generated). Each logged sample becomes a
:class:`~lmms_safebench.benchmarks.base.CaseSpec` through its benchmark's adapter, from the document
when the log keeps it (lm-eval), from the ``case`` record an inline verdict carries, or else from the
local dataset (the task's YAML names its slice; the log's ``doc_id`` picks the row, checked against the
logged document fingerprint). When a benchmark's jury is shown the document's pictures and has a juror whose model
takes images, its samples always take the local route (no log keeps a picture), so its jurors get the very images the
inline run gave them, or the sample is unjudged (``no_images``); a text jury reads no picture.
Verdicts and metrics go through the very functions the tasks use
(:func:`~lmms_safebench.harness.hooks.judge_case`, the adapters' metric tables, the group rule), so an inline run and a
re-judge of its log with the same jury give the same numbers. Every finished juror call is in the cache at once, so an
interrupted re-judge resumes where it stopped.

The parts: :mod:`.samples` (logged samples -> cases), :mod:`.results` (numbers and files); here, the juries and
the command's flow.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from loguru import logger
from tqdm import tqdm

from ..benchmarks import registry
from ..errors import SafebenchError
from ..harness import hooks, outputs
from ..harness.hooks import same_document  # noqa: F401  (judge's document rule, also used by select)
from ..jury import runtime
from ..jury.config import resolve_jury_config
from ..jury.engine import Jury
from ..llm.limits import EndpointLimiter
from ..scoring import agreement
from .results import compute_results, output_folders, write_run  # noqa: F401  (re-exported)
from .samples import NO_CASE, Saved, read_samples

# ------------------------------------------------------------------------------------------ judging

class Juries:
    """The jury of each default protocol (each benchmark names its own: ``single`` or ``jury``), or one
    jury for all when ``spec`` names one. Calls in flight are limited in total (``max_in_flight``) and per
    endpoint (adaptive, up to ``endpoint_limit`` when given), by limits all the juries share."""

    def __init__(self, spec: str | None, max_in_flight: int, endpoint_limit: int | None):
        self.spec, self.max_in_flight, self.endpoint_limit = spec, max_in_flight, endpoint_limit
        self.limiter = EndpointLimiter(max_in_flight)
        self._juries: dict[str, Jury] = {}
        self._lock = threading.Lock()

    def for_protocol(self, protocol: str) -> Jury:
        with self._lock:
            if protocol not in self._juries:
                config = resolve_jury_config(protocol, self.spec)
                if self.endpoint_limit:
                    jurors = tuple(j.model_copy(update={"max_in_flight": self.endpoint_limit}) for j in config.jurors)
                    config = config.model_copy(update={"jurors": jurors})
                same = next((j for j in self._juries.values() if j.config.identity == config.identity), None)
                self._juries[protocol] = same or Jury(config, runtime.shared_cache(), limiter=self.limiter)
            return self._juries[protocol]

    def sees_images(self, protocol: str) -> bool:
        """Whether the jury of ``protocol`` has a juror whose model takes images (``vision: true``)."""
        return any(juror.vision for juror in self.for_protocol(protocol).config.jurors)

    def all(self) -> list[Jury]:
        return list({id(j): j for j in self._juries.values()}.values())

    def close(self) -> None:
        for jury in self.all():
            jury.close()


def _table(item: Saved) -> dict:
    """The metric table of the sample's task (every metric when the task or its benchmark is unknown)."""
    if item.spec is not None:
        return item.spec.table
    try:
        return registry.get(item.info.benchmark).metric_table(item.info.variant)
    except (AttributeError, KeyError):  # no task info, or a benchmark that is gone
        return hooks.any_table()


def judge_all(saved: list[Saved], juries: Juries, workers: int, progress: bool = True) -> None:
    """Fill ``values`` of every sample; samples are judged concurrently (``workers`` at a time)."""
    for item in saved:
        item.table = _table(item)
        if item.spec is None:
            item.values = hooks.unjudged_values(item.table, item.problem or "no case", "unknown",
                                                item.cause or NO_CASE)
    todo = [item for item in saved if item.spec is not None]
    for protocol in sorted({item.spec.protocol for item in todo}):
        juries.for_protocol(protocol)  # resolve every configuration before the first call: errors come first
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="safebench-judge")
    futures = {pool.submit(hooks.judge_case, item.spec, item.answer, juries.for_protocol(item.spec.protocol)): item
               for item in todo}
    try:
        with tqdm(total=len(todo), desc="Judging", unit="sample", disable=not progress) as bar:
            for future in as_completed(futures):
                futures[future].values = future.result()
                bar.update(1)
    except KeyboardInterrupt:
        # Calls in flight finish and land in the cache; samples not started are dropped.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def judge_folders(inputs: list[str], output: str, jury: str | None = None, concurrency: int = 64,
                  endpoint_limit: int | None = None, progress: bool = True, trust_doc_ids: bool = False) -> dict:
    """Judge every run under ``inputs``; returns a summary (written paths, per-status counts, unjudged
    samples by cause, problems, accounting)."""
    runs = [run for folder in inputs for run in _runs(folder)]
    juries = Juries(jury, concurrency, endpoint_limit)
    try:
        # A vision juror is shown the documents' pictures, read from the local data; a text jury reads none.
        saved, foreign = read_samples(runs, trust_doc_ids, juries.sees_images)
        if not saved:
            raise SafebenchError(f"no samples of lmms-safebench tasks under {', '.join(inputs)} "
                                 f"({len(foreign)} sample file(s) of other tasks)")
        runs = [run for run in runs if any(item.run is run for item in saved)]
        problems = [item.problem for item in saved if item.problem]
        for problem in problems:
            logger.warning(f"cannot judge {problem}")
        start = time.perf_counter()
        judge_all(saved, juries, workers=concurrency, progress=progress)
        seconds = time.perf_counter() - start
        stamp = time.strftime("%Y%m%d_%H%M%S")
        written = [write_run(run, [s for s in saved if s.run is run], folder, juries, stamp, seconds)
                   for run, folder in zip(runs, output_folders(runs, Path(output)), strict=True)]
        accounting = {j.config.name: j.accounting() for j in juries.all()}
    finally:
        juries.close()
    verdicts = [item.values["jury"] for item in saved]
    counts = {status: sum(1 for v in verdicts if v["status"] == status)
              for status in ("judged", "unjudged", "inference_failed")}
    return {"written": written, "samples": len(saved), "counts": counts,
            "unjudged_causes": agreement.unjudged_causes(verdicts), "problems": problems, "foreign": foreign,
            "seconds": seconds, "accounting": accounting, "endpoints": juries.limiter.report()}


def _runs(folder: str) -> list[outputs.Run]:
    path = Path(folder)
    if not path.exists():
        raise SafebenchError(f"{folder}: no such folder")
    runs = [run for run in outputs.find_runs(path) if run.samples]
    if not runs:
        raise SafebenchError(f"{folder}: no per-sample files (lmms-eval/lm-eval write them with --log_samples)")
    return runs
