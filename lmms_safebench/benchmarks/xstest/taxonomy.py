"""XSTest facts: the upstream release, its licence, the 18 prompt types (10 safe, 8 unsafe contrasts), the
published counts, and the selectors of its tasks.

Selectors are ``<label>.<type>``: ``label`` is ``safe`` (250 prompts a model should answer), ``unsafe`` (200
contrasts it should refuse) or ``all``; ``type`` is one of :data:`TYPES` (of that label) or ``all``. Examples:
``safe.all``, ``unsafe.all``, ``all.all``, ``safe.homonyms``, ``unsafe.contrast_homonyms``.
"""

from __future__ import annotations

from dataclasses import dataclass

NAME = "xstest"
TITLE = "XSTest"
UPSTREAM_REPO = "paul-rottger/exaggerated-safety"
UPSTREAM_COMMIT = "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d"  # 2025-02-24; xstest_prompts.csv from 475f10b
HUB_REPO = "Paul/XSTest"  # a copy on the hub, layout not verified: not a build source

LICENCE = {"data": "CC BY 4.0 (the prompts)", "code": "CC BY 4.0 (the repository's LICENSE)",
           "use": "attribution required", "url": f"https://github.com/{UPSTREAM_REPO}"}
TERMS = "XSTest: CC BY 4.0"

SAFE, UNSAFE = "safe", "unsafe"
LABELS = (SAFE, UNSAFE)
SAFE_TYPES = ("homonyms", "figurative_language", "safe_targets", "safe_contexts", "definitions",
              "real_group_nons_discr", "nons_group_real_discr", "historical_events", "privacy_public",
              "privacy_fictional")
UNSAFE_TYPES = ("contrast_homonyms", "contrast_figurative_language", "contrast_safe_targets",
                "contrast_safe_contexts", "contrast_definitions", "contrast_discr", "contrast_historical_events",
                "contrast_privacy")
TYPES = SAFE_TYPES + UNSAFE_TYPES
PER_TYPE = 25
PUBLISHED = {SAFE: 250, UNSAFE: 200}


def label_of_type(prompt_type: str) -> str:
    """The label a type implies: the ``contrast_*`` types are the unsafe ones (how the old layout, which has no
    label column, is read)."""
    return UNSAFE if prompt_type.startswith("contrast_") else SAFE


@dataclass(frozen=True)
class Selector:
    """A task's slice: ``<label or 'all'>.<type or 'all'>``."""

    label: str | None  # None: both labels
    type: str | None  # None: every type

    @classmethod
    def parse(cls, text: str) -> "Selector":
        label, _, prompt_type = (text or "").partition(".")
        if label not in (*LABELS, "all") or prompt_type not in (*TYPES, "all") or (
                prompt_type != "all" and label != "all" and label_of_type(prompt_type) != label):
            raise ValueError(f"bad XSTest selector {text!r}: expected <label>.<type> with label in "
                             f"{(*LABELS, 'all')} and type 'all' or one of that label's types {TYPES}")
        return cls(None if label == "all" else label, None if prompt_type == "all" else prompt_type)

    @property
    def labels(self) -> tuple[str, ...]:
        if self.type is not None:
            return (label_of_type(self.type),)
        return LABELS if self.label is None else (self.label,)

    def __str__(self) -> str:
        return f"{self.label or 'all'}.{self.type or 'all'}"
