"""MM-SafetyBench (Liu et al., ECCV 2024) as one folder: :mod:`.taxonomy` (scenarios, criteria, image kinds, pairing,
selectors), :mod:`.adapter` (:class:`MMSafetyBench`, what the tasks, ``judge`` and ``report`` ask), :mod:`.data`
(``build mmsafetybench`` and loading a task's slice), :mod:`.tasks` (its task folders) and :mod:`.family` (the
generated MM-SafetyBench-style kind).

The taxonomy's names and the adapter class are importable from here (``from lmms_safebench.benchmarks import
mmsafetybench as mmsb; mmsb.SCENARIOS``).
"""

from .adapter import MMSafetyBench
from .taxonomy import (
    BY_SLUG,
    BY_UPSTREAM,
    DEFAULT_PAIRING,
    DEFENCE_PROMPT,
    GROUPS,
    HUB_COPY,
    IMAGE_KINDS,
    KINDS_NEEDING_SD,
    NAME,
    SCENARIOS,
    TEXT_FIELDS,
    TINY_QUESTIONS,
    TOTAL_QUESTIONS,
    UPSTREAM_COMMIT,
    UPSTREAM_FIELDS,
    UPSTREAM_REPO,
    Scenario,
    Selector,
    criterion_for,
    query_text,
    scenario,
)

__all__ = ["MMSafetyBench", "BY_SLUG", "BY_UPSTREAM", "DEFAULT_PAIRING", "DEFENCE_PROMPT", "GROUPS", "HUB_COPY",
           "IMAGE_KINDS", "KINDS_NEEDING_SD", "NAME", "SCENARIOS", "TEXT_FIELDS", "TINY_QUESTIONS", "TOTAL_QUESTIONS",
           "UPSTREAM_COMMIT", "UPSTREAM_FIELDS", "UPSTREAM_REPO", "Scenario", "Selector", "criterion_for", "query_text",
           "scenario"]
