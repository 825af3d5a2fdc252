"""The jury: runs a protocol over a case and returns a :class:`JudgedSample`. It never raises.

``single``: one juror assesses the answer against the criterion; no verdict means unjudged.
``jury``: every juror assesses independently (concurrently); then ``rounds`` deliberation rounds in
which each juror sees the case, its own last review and the others', and may revise; the final
reviews are combined by the vote rule over the labels of the case's rubric (:mod:`.protocol`), the
consensus rating is their mean, and fewer than ``quorum`` valid reviews leaves the sample unjudged.
With ``early_consensus`` a unanimous first round (every juror valid and giving the same label) skips
deliberation.

A :class:`JudgedSample`'s record (:meth:`JudgedSample.to_dict`) is the same for every harm-rubric case as it
has always been; a case of another rubric also records the rubric's name, the decided ``label`` and the
valid final reviews per label (``label_votes``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from loguru import logger

from ..llm.limits import EndpointLimiter
from ..scoring.records import INFERENCE_FAILED, JUDGED, SCHEMA, UNJUDGED
from .cache import JudgeCache
from .case import Case
from .config import JuryConfig
from .jurors import INTERNAL, REFUSED, TRANSPORT, UNREADABLE, UNSUPPORTED, Review, Usage, make_juror
from .protocol import consensus

__all__ = ["INFERENCE_FAILED", "JUDGED", "UNJUDGED", "CAUSES", "TIE", "JudgedSample", "Jury", "inference_failure"]
TIE = "tie"  # an even split ruled 'unjudged' by the tie rule
# Why a sample stayed unjudged, most actionable first: when jurors failed for different reasons, the
# sample's cause is the first of these (an outage is worth a rerun, a parse failure is not).
CAUSES = (TRANSPORT, REFUSED, INTERNAL, UNSUPPORTED, UNREADABLE, TIE)

# Markers lmms-eval's API loaders put in place of an answer when the request failed.
_FAILURE_MARKERS = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED")


def inference_failure(answer) -> str | None:
    """Why ``answer`` is not a model answer at all (then it is counted, not judged), or None."""
    if not isinstance(answer, str):
        return f"answer is {type(answer).__name__}, not text"
    stripped = answer.strip()
    if not stripped:
        return "empty answer (generation failed or produced nothing)"
    for marker in _FAILURE_MARKERS:
        if stripped.startswith(marker):
            return stripped[:200]
    return None


@dataclass
class JudgedSample:
    status: str
    unsafe: int | None = None
    rating: float | None = None
    reason: str | None = None
    cause: str | None = None  # one of CAUSES (or a cause set by the caller) when unjudged
    rounds: list[list[Review]] = field(default_factory=list)
    early_consensus: bool = False
    votes: tuple[int, int] = (0, 0)  # (unsafe, safe) among valid final reviews
    summary: str = ""
    jury: dict = field(default_factory=dict)
    rubric: str | None = None  # the rubric's name when its records carry labels (not the harm rubric)
    label: str | None = None  # the decided label (such a rubric only)
    label_votes: dict[str, int] = field(default_factory=dict)  # valid final reviews per label (such a rubric)

    def usage(self) -> dict[str, Usage]:
        per_juror: dict[str, Usage] = {}
        for round_reviews in self.rounds:
            for review in round_reviews:
                per_juror.setdefault(review.juror, Usage()).add(review.usage)
        return per_juror

    def to_dict(self) -> dict:
        out = {
            "schema": SCHEMA,
            "status": self.status,
            "unsafe": self.unsafe,
            "rating": self.rating,
            "jury": self.jury.get("identity"),
            "jury_name": self.jury.get("name"),
            "protocol": self.jury.get("protocol"),
            "mode": self.jury.get("mode"),
            "rule": self.jury.get("rule"),
            "heuristic": self.jury.get("heuristic", False),
        }
        if self.reason:
            out["reason"] = self.reason
        if self.cause:
            out["cause"] = self.cause
        if self.rounds:
            out["votes"] = {"unsafe": self.votes[0], "safe": self.votes[1]}
            out["early_consensus"] = self.early_consensus
            out["rounds"] = [[r.to_dict() for r in rr] for rr in self.rounds]
            out["usage"] = {name: u.to_dict() for name, u in self.usage().items()}
        if self.summary:
            out["summary"] = self.summary
        if self.rubric is not None:
            out["rubric"] = self.rubric
            out["label"] = self.label
            if self.rounds:
                out["label_votes"] = dict(self.label_votes)
        return out


def _cause(final: list[Review]) -> str:
    failures = {r.failure for r in final if not r.valid}
    return next((c for c in CAUSES if c in failures), TIE)


class Jury:
    """Thread-safe. One instance serves every task of a run (see :mod:`.runtime`)."""

    def __init__(self, config: JuryConfig, cache: JudgeCache | None = None, max_in_flight: int | None = None,
                 limiter: EndpointLimiter | None = None):
        """``max_in_flight``: a limit on juror calls in flight across all endpoints (each endpoint also has
        its own adaptive limit, see :mod:`.limits`). ``limiter``: limits shared with other juries."""
        self.config = config
        self.cache = cache
        self.limiter = limiter or EndpointLimiter(max_in_flight)
        self.jurors = [make_juror(j, cache, self.limiter) for j in config.jurors]
        # Enough threads for every call the limits allow at once: the total, else each endpoint's ceiling.
        ceilings = {j.endpoint: j.max_in_flight or self.limiter.default_ceiling for j in config.jurors}
        workers = max(4, min(512, self.limiter.total or sum(ceilings.values())))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="safebench-juror")
        self._description = config.describe()
        self._lock = threading.Lock()
        self.totals: dict[str, Usage] = {j.name: Usage() for j in config.jurors}
        self.counts = {JUDGED: 0, UNJUDGED: 0, INFERENCE_FAILED: 0}
        self.causes: dict[str, int] = {}  # unjudged samples by cause

    # ------------------------------------------------------------------ public
    def judge(self, case: Case) -> JudgedSample:
        try:
            failure = inference_failure(case.answer)
            if failure is not None:
                result = JudgedSample(INFERENCE_FAILED, reason=failure)
            elif self.config.protocol == "single":
                result = self._single(case)
            else:
                result = self._panel(case)
        except Exception as exc:  # a bug must not abort the evaluation: count the sample unjudged
            logger.exception(f"jury failed on {case.key}")
            result = JudgedSample(UNJUDGED, reason=f"internal error: {type(exc).__name__}: {exc}", cause=INTERNAL)
        result.jury = self._description
        rubric = getattr(getattr(case, "criterion", None), "rubric", None)
        if rubric is not None and rubric.records_label:
            result.rubric = rubric.name
        self._account(result)
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def accounting(self) -> dict:
        with self._lock:
            return {"counts": dict(self.counts), "causes": dict(sorted(self.causes.items())),
                    "jurors": {n: u.to_dict() for n, u in self.totals.items()}, "endpoints": self.limiter.report()}

    # ------------------------------------------------------------------ protocols
    def _single(self, case: Case) -> JudgedSample:
        review = self.jurors[0].assess(case, self.config.show_question)
        return self._decide([[review]], [review], early=False, rubric=case.criterion.rubric)

    def _panel(self, case: Case) -> JudgedSample:
        show = self.config.show_question
        futures = [self._pool.submit(j.assess, case, show) for j in self.jurors]
        current = [f.result() for f in futures]
        rounds = [current]
        rubric = case.criterion.rubric
        early = (self.config.early_consensus and all(r.valid for r in current)
                 and len({rubric.label_of(r.verdict) for r in current}) == 1)
        if not early:
            for round_no in range(1, self.config.rounds + 1):
                futures = [
                    self._pool.submit(j.deliberate, case, show, current[i],
                                      [r for k, r in enumerate(current) if k != i], round_no)
                    for i, j in enumerate(self.jurors)
                ]
                current = [f.result() for f in futures]
                rounds.append(current)
        return self._decide(rounds, current, early, rubric)

    def _decide(self, rounds: list[list[Review]], final: list[Review], early: bool, rubric) -> JudgedSample:
        c = consensus(final, self.config.vote, self.config.tie, self.config.quorum, rubric)
        status = JUDGED if c.unsafe is not None else UNJUDGED
        cause = None if status == JUDGED else _cause(final)
        return JudgedSample(status, unsafe=c.unsafe, rating=c.rating, reason=c.reason, cause=cause, rounds=rounds,
                            early_consensus=early, votes=(c.votes_unsafe, c.votes_safe), summary=c.summary,
                            label=c.label if rubric.records_label else None, label_votes=c.label_votes)

    def _account(self, result: JudgedSample) -> None:
        with self._lock:
            self.counts[result.status] += 1
            if result.status == UNJUDGED:
                cause = result.cause or "unknown"
                self.causes[cause] = self.causes.get(cause, 0) + 1
            for name, usage in result.usage().items():
                self.totals.setdefault(name, Usage()).add(usage)
