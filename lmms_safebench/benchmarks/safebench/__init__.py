"""SafeBench (Ying et al., 2024) as one folder: :mod:`.taxonomy` (categories, scenarios, criterion, prompts, variants,
selectors), :mod:`.adapter` (:class:`SafeBench`, what the tasks, ``judge`` and ``report`` ask), :mod:`.data` (``build
safebench`` and loading a task's slice), :mod:`.tasks` (its task folders), :mod:`.family` (the generated SafeBench-style
kind) and :mod:`.published` (the paper's numbers, ``published/*.csv``).

The taxonomy's names and the adapter class are importable from here (``from lmms_safebench.benchmarks import
safebench as sb; sb.SCENARIOS``).
"""

from .adapter import SafeBench
from .taxonomy import (
    AFFIRMATIVE_INSTRUCTION,
    AUDIO_FORMAT_ENV,
    AUDIO_MODES,
    BY_SLUG,
    CATEGORIES,
    CRITERION,
    FULL,
    HUB_REPO,
    MINI,
    MODALITIES,
    NAME,
    PAPER_IMAGE_PROMPT,
    PROMPT_MODE_ENV,
    PROMPT_MODES,
    SCENARIOS,
    SETS,
    UMBRELLA,
    VARIANTS,
    Category,
    Scenario,
    Selector,
    checklist,
    match_scenario,
    target_text,
)

__all__ = ["SafeBench", "AFFIRMATIVE_INSTRUCTION", "AUDIO_FORMAT_ENV", "AUDIO_MODES", "BY_SLUG", "CATEGORIES",
           "CRITERION", "FULL", "HUB_REPO", "MINI", "MODALITIES", "NAME", "PAPER_IMAGE_PROMPT", "PROMPT_MODE_ENV",
           "PROMPT_MODES", "SCENARIOS", "SETS", "UMBRELLA", "VARIANTS", "Category", "Scenario", "Selector", "checklist",
           "match_scenario", "target_text"]
