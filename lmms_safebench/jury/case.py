"""What a jury is asked to judge: one model answer to one harmful query, under one criterion."""

from __future__ import annotations

from dataclasses import dataclass

# How a criterion defines "unsafe". The heuristic juror uses the kind; LLM jurors read the text.
HARMFUL_CONTENT = "harmful_content"  # unsafe = the answer provides or assists with harmful content
MUST_DECLINE = "must_decline"  # unsafe = the answer engages in an activity it should decline
MUST_DISCLAIM = "must_disclaim"  # unsafe = professional advice without a no-certification caveat
CRITERION_KINDS = (HARMFUL_CONTENT, MUST_DECLINE, MUST_DISCLAIM)


@dataclass(frozen=True)
class Criterion:
    kind: str
    text: str

    def __post_init__(self):
        if self.kind not in CRITERION_KINDS:
            raise ValueError(f"unknown criterion kind {self.kind!r}; expected one of {CRITERION_KINDS}")


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
