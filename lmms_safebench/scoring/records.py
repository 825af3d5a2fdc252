"""The per-sample records a task logs, read back by metrics, ``lmms-safebench judge`` and ``report``.

A harness hands each metric's aggregation the per-sample values ``process_results`` returned, and
``--log_samples`` writes them to disk. Two records travel that way:

- :class:`Outcome`, under every numeric metric (``asr``, ``sri``, ``judged``, ...): what the aggregations
  need, and nothing else.
- :class:`VerdictRecord`, under ``jury``: the full verdict (every juror's review per round, the vote,
  what was spent) and the ``case`` it judged, enough to re-judge the answer without the dataset.

Both are written with a schema version and read back through ``from_dict``, which also accepts the
records of earlier versions, so no caller probes dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA = 2  # 1: records before paths, causes and versions (read with defaults)

JUDGED, UNJUDGED, INFERENCE_FAILED = "judged", "unjudged", "inference_failed"


def _path(value) -> tuple[str, ...]:
    return tuple(str(p) for p in value) if isinstance(value, (list, tuple)) else ()


@dataclass(frozen=True)
class Outcome:
    """One sample's result, as every numeric metric aggregates it."""

    status: str
    """``judged``, ``unjudged`` (no decision: counted, never safe) or ``inference_failed`` (no answer)."""
    unsafe: int | None
    """1 when the jury found the answer unsafe, 0 when safe, None unless judged."""
    rating: float | None
    """Consensus safety rating 1-5 (5 safest) when the jury gave one."""
    refusal: bool | None
    """Whether the answer matches refusal patterns (jury-independent; None when inference failed)."""
    scenario: str
    category: str
    """The report's averaging unit: a SafeBench category, or the scenario itself."""
    path: tuple[str, ...]
    """The scenario's place in the benchmark's tree, from the variant down (see :mod:`lmms_safebench.scoring.tree`)."""
    schema: int = SCHEMA
    label: str | None = None
    """The verdict's label under a rubric whose verdicts record one (None for the harm rubric: ``unsafe`` says it)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Benchmark-specific facts about the sample (a stimulus type, a pair id, a context), from its case."""

    @property
    def unit(self) -> tuple[str, ...]:
        """The path used for aggregation; for records written before paths existed, (category, scenario)."""
        if self.path:
            return self.path
        if self.category and self.category != self.scenario:
            return (self.category, self.scenario)
        return (self.scenario,)

    def to_dict(self) -> dict:
        out = {"status": self.status, "unsafe": self.unsafe, "rating": self.rating, "refusal": self.refusal,
               "scenario": self.scenario, "category": self.category, "path": list(self.path), "schema": self.schema}
        # Written only when set, so the records of harm benchmarks stay what they were.
        if self.label is not None:
            out["label"] = self.label
        if self.tags:
            out["tags"] = dict(self.tags)
        return out

    @classmethod
    def from_dict(cls, data) -> "Outcome":
        if isinstance(data, Outcome):
            return data
        scenario = str(data.get("scenario"))
        tags = data.get("tags")
        return cls(status=str(data.get("status")), unsafe=data.get("unsafe"), rating=data.get("rating"),
                   refusal=data.get("refusal"), scenario=scenario, category=str(data.get("category") or scenario),
                   path=_path(data.get("path")), schema=int(data.get("schema") or 1), label=data.get("label"),
                   tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {})


@dataclass(frozen=True)
class Review:
    """One juror's review in one round, as logged."""

    juror: str
    round: int
    valid: bool
    unsafe: int | None = None
    rating: int | None = None
    rationale: str = ""
    error: str | None = None
    failure: str | None = None
    cached: bool = False
    carried_forward: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> "Review":
        valid = data.get("status") == "ok" and data.get("unsafe") in (0, 1)
        return cls(juror=str(data.get("juror")), round=int(data.get("round") or 0), valid=valid,
                   unsafe=data.get("unsafe") if valid else None, rating=data.get("rating"),
                   rationale=str(data.get("rationale") or ""), error=data.get("error"),
                   failure=data.get("failure"), cached=bool(data.get("cached")),
                   carried_forward=bool(data.get("carried_forward")))


@dataclass(frozen=True)
class VerdictRecord:
    """A logged verdict (``JudgedSample.to_dict()`` plus the ``case`` it judged)."""

    status: str
    unsafe: int | None
    rating: float | None
    jury: str | None
    """The jury's identity (a 16-hex hash of everything that decides verdicts)."""
    jury_name: str | None
    protocol: str | None
    mode: str | None
    rule: str | None
    heuristic: bool
    reason: str | None = None
    cause: str | None = None
    """Why the sample stayed unjudged (see README "Unjudged, and why")."""
    rounds: tuple[tuple[Review, ...], ...] = ()
    usage: dict = field(default_factory=dict)
    case: dict = field(default_factory=dict)
    schema: int = SCHEMA

    @property
    def unit(self) -> str | None:
        """The judged case's scenario path as ``a/b/c`` (None for records without a case path)."""
        path = _path(self.case.get("path"))
        return "/".join(path) if path else None

    @classmethod
    def from_dict(cls, data) -> "VerdictRecord":
        if isinstance(data, VerdictRecord):
            return data
        rounds = tuple(tuple(Review.from_dict(r) for r in round_reviews) for round_reviews in data.get("rounds") or ())
        return cls(status=str(data.get("status")), unsafe=data.get("unsafe"), rating=data.get("rating"),
                   jury=data.get("jury"), jury_name=data.get("jury_name"), protocol=data.get("protocol"),
                   mode=data.get("mode"), rule=data.get("rule"), heuristic=bool(data.get("heuristic")),
                   reason=data.get("reason"), cause=data.get("cause"), rounds=rounds,
                   usage=dict(data.get("usage") or {}), case=dict(data.get("case") or {}),
                   schema=int(data.get("schema") or 1))
