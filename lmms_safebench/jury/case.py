"""What a jury is asked to judge: one model answer to one query, under one criterion of a rubric."""

from __future__ import annotations

from dataclasses import dataclass

from .rubric import HARM, HARMFUL_CONTENT, MUST_DECLINE, MUST_DISCLAIM, Rubric

__all__ = ["Case", "Criterion", "HARMFUL_CONTENT", "MUST_DECLINE", "MUST_DISCLAIM"]  # the harm rubric's kinds too


@dataclass(frozen=True)
class Criterion:
    """The standard an answer is judged against: ``text`` (what review jurors read), ``kind`` (one of the
    rubric's kinds, which the heuristic and guard jurors map) and the ``rubric`` (labels, wording, reading)."""

    kind: str
    text: str
    rubric: Rubric = HARM

    def __post_init__(self):
        if self.kind not in self.rubric.kinds:
            raise ValueError(f"unknown criterion kind {self.kind!r}; the {self.rubric.name!r} rubric judges "
                             f"{self.rubric.kinds}")


@dataclass(frozen=True)
class Case:
    """One sample to judge.

    ``key`` identifies the sample in logs (benchmark/scenario/id); it does not enter prompts, so
    the same question and answer get the same cached verdicts whatever task they came from.
    """

    key: str
    question: str
    answer: str
    criterion: Criterion
    scenario: str = ""
