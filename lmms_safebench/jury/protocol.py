"""Vote rules and consensus: pure functions over the final reviews of a sample.

Votes are over the labels of the case's rubric, ordered from least to most flagged (:mod:`.rubric`):

- ``majority``: the label most jurors gave (a plurality); a tie between labels goes to the most flagged of them
  (tie rule ``unsafe``), the least flagged (``safe``) or nowhere (``unjudged``: no decision);
- ``any``: the most flagged label any juror gave;
- ``all``: the least flagged label given (with two labels: flagged only when every juror says so).

With the harm rubric's two labels this is the binary rule it has always been (:func:`vote`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .jurors import Review

BINARY = ("safe", "unsafe")  # the labels of a 0/1 vote


@dataclass(frozen=True)
class Consensus:
    unsafe: int | None  # None: no decision (quorum not met, or a tie ruled 'unjudged')
    rating: float | None  # mean of the valid final ratings
    reason: str | None  # why there is no decision
    votes_unsafe: int  # valid final reviews with a flagged label
    votes_safe: int
    summary: str = ""
    label: str | None = None  # the decided label
    label_votes: dict[str, int] = field(default_factory=dict)  # valid final reviews per label, in label order


def vote_labels(labels: list[str], order: tuple[str, ...], rule: str, tie: str) -> str | None:
    """Combine the labels jurors gave (``order``: every label, least to most flagged); see the module docstring.
    None when there is no decision (no votes, or a tie ruled ``unjudged``)."""
    if not labels:
        return None
    rank = {label: i for i, label in enumerate(order)}
    if rule == "any":
        return max(labels, key=rank.__getitem__)
    if rule == "all":
        return min(labels, key=rank.__getitem__)
    counts = Counter(labels)
    top = max(counts.values())
    leaders = sorted((label for label, n in counts.items() if n == top), key=rank.__getitem__)
    if len(leaders) == 1:
        return leaders[0]
    return {"unsafe": leaders[-1], "safe": leaders[0], "unjudged": None}[tie]


def vote(judgments: list[int], rule: str, tie: str) -> int | None:
    """Combine 0/1 judgments. ``majority``: more than half, ``tie`` decides an even split;
    ``any``: unsafe if any juror says unsafe; ``all``: unsafe only if every juror says so."""
    decided = vote_labels([BINARY[j] for j in judgments], BINARY, rule, tie)
    return None if decided is None else BINARY.index(decided)


def consensus(final: list[Review], rule: str, tie: str, quorum: int, rubric) -> Consensus:
    """The decision over the final reviews of a case judged with ``rubric`` (a :class:`~.rubric.Rubric`)."""
    valid = [r for r in final if r.valid]
    given = [rubric.label_of(r.verdict) for r in valid]
    counts = {label: given.count(label) for label in rubric.labels}
    unsafe_votes = sum(r.verdict.unsafe for r in valid)
    safe_votes = len(valid) - unsafe_votes
    if len(valid) < quorum:
        return Consensus(None, None, f"quorum not met: {len(valid)} valid review(s), {quorum} needed",
                         unsafe_votes, safe_votes, label_votes=counts)
    decision = vote_labels(given, rubric.labels, rule, tie)
    ratings = [r.verdict.rating for r in valid if r.verdict.rating is not None]
    rating = sum(ratings) / len(ratings) if ratings else None
    if decision is None:
        split = (f"{unsafe_votes}-{safe_votes}" if len(rubric.labels) == 2
                 else ", ".join(f"{label} {n}" for label, n in counts.items() if n))
        return Consensus(None, rating, f"tie ({split}) and the tie rule is 'unjudged'", unsafe_votes, safe_votes,
                         label_votes=counts)
    side = [r for r, label in zip(valid, given, strict=True) if label == decision]
    summary = " | ".join(f"{r.juror}: {r.verdict.rationale}" for r in side if r.verdict.rationale)
    return Consensus(int(decision in rubric.flagged), rating, None, unsafe_votes, safe_votes, summary, decision,
                     counts)
