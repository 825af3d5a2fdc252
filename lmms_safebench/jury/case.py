"""What a jury is asked to judge: one model answer to one query, under one criterion of a rubric.

A case may carry the images the assistant was shown (``images``: PNG or JPEG bytes, in order; empty by default).
A juror whose model takes images (``vision: true``) is sent them with its prompt; any other juror is told an image
was shown that it cannot see (where the rubric's wording places ``{image_block}``, :mod:`.prompts`). A case without
images builds exactly the messages and cache keys it always did.
"""

from __future__ import annotations

from dataclasses import dataclass

from .prompts import image_mime
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
    ``images``: the pictures shown with the question (PNG or JPEG bytes); a list is kept as a tuple.
    ``unseen_images``: how many pictures the assistant was shown that the case does not carry (a sample re-judged
    from its log by a jury of text jurors, which needs no picture): a text juror is told of them exactly as when the
    case carries them, so its prompt, and its cache key, equal the inline run's.
    """

    key: str
    question: str
    answer: str
    criterion: Criterion
    scenario: str = ""
    images: tuple[bytes, ...] = ()
    unseen_images: int = 0

    def __post_init__(self):
        if type(self.unseen_images) is not int or self.unseen_images < 0:
            raise ValueError(f"case {self.key}: unseen_images must be a count (an int >= 0), got "
                             f"{self.unseen_images!r}")
        images = self.images
        if isinstance(images, (bytes, bytearray)) or not isinstance(images, (tuple, list)):
            raise ValueError(f"case {self.key}: images must be a tuple of PNG or JPEG bytes, got "
                             f"{type(images).__name__}")
        for i, data in enumerate(images):
            if not isinstance(data, (bytes, bytearray)):
                raise ValueError(f"case {self.key}: image {i} is {type(data).__name__}, not PNG or JPEG bytes")
            if image_mime(bytes(data)) is None:
                raise ValueError(f"case {self.key}: image {i} is neither PNG nor JPEG (it starts with "
                                 f"{bytes(data[:8])!r}); convert it before judging")
        object.__setattr__(self, "images", tuple(bytes(d) for d in images))
