"""The one taxonomy type of the generators: categories of scenarios, whatever a generator calls them.

A :class:`Category` holds :class:`Scenario` s; a scenario is what becomes one task of the written benchmark.

- SafeBench-style: the paper's 8 categories and 23 scenarios, a taxonomy YAML, or one a panel of models
  identified (:mod:`..safebench.taxonomy` validates the file);
- MM-SafetyBench-style: scenarios only (the labels of the questions file), each with the group it is judged and
  rewritten by, its name in case keys (``upstream``) and the official scenario it names, if any;
- VLSafetyBencher: categories of subcategories (the scenarios), each with the prompt CLIP scores images against
  (:mod:`..vlsafety.config` validates the config's taxonomy).

Files and configs that describe a taxonomy keep their own schema (their keys are part of the command line's
contract); they are read into these types, which every stage and writer takes. A written benchmark keeps its
taxonomy in ``manifest.json`` as :func:`to_dict` gives it (slug, abbreviation, title, definition).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    slug: str  # part of task names
    title: str  # as the source spells it (an MM-SafetyBench-style questions file: the scenario's label)
    definition: str = ""  # shown to the writers and the jury (VLSafetyBencher: the subcategory's description)
    group: str | None = None  # MM-SafetyBench-style: how it is judged and rewritten
    upstream: str | None = None  # MM-SafetyBench-style: its name in case keys and task aliases
    official: str | None = None  # MM-SafetyBench-style: the slug of the official scenario its label names
    clip_prompt: str | None = None  # VLSafetyBencher: the zero-shot label CLIP scores images against


@dataclass(frozen=True)
class Category:
    slug: str
    abbr: str  # report columns
    title: str
    definition: str = ""
    scenarios: tuple[Scenario, ...] = ()


def to_dict(categories: list[Category]) -> dict:
    """The taxonomy as a manifest holds it."""
    return {"categories": [{"slug": c.slug, "abbr": c.abbr, "title": c.title, "definition": c.definition,
                            "scenarios": [{"slug": s.slug, "title": s.title, "definition": s.definition}
                                          for s in c.scenarios]} for c in categories]}


def from_dict(data: dict) -> list[Category]:
    """A manifest's taxonomy (:func:`to_dict`); a category without an abbreviation gets its slug's first letters."""
    return [Category(c["slug"], c.get("abbr") or c["slug"][:2].upper(), c["title"], c.get("definition", ""),
                     tuple(Scenario(s["slug"], s["title"], s.get("definition", "")) for s in c["scenarios"]))
            for c in data["categories"]]


def pairs(categories: list[Category]) -> list[tuple[Category, Scenario]]:
    """Every (category, scenario), in order."""
    return [(c, s) for c in categories for s in c.scenarios]


def by_slug(categories: list[Category]) -> dict[str, tuple[Category, Scenario]]:
    """``{scenario slug: (category, scenario)}``."""
    return {s.slug: (c, s) for c, s in pairs(categories)}


def size(categories: list[Category]) -> str:
    return f"{len(categories)} categories, {sum(len(c.scenarios) for c in categories)} scenarios"
