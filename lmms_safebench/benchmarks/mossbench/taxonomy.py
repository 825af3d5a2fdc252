"""MOSSBench facts: the upstream release, its licence, the three stimulus types, the published counts, and
the selectors of its tasks.

Selectors are ``<set>.<stimulus>``: ``set`` is ``benign`` (the 300 queries a model should answer) or
``contrast`` (the 244 harmful rewrites of them); ``stimulus`` is ``exaggerated_risk``, ``negated_harm``,
``counterintuitive`` or ``all``. Examples: ``benign.all``, ``benign.negated_harm``, ``contrast.all``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = "mossbench"
TITLE = "MOSSBench"
UPSTREAM_REPO = "xirui-li/MOSSBench"
UPSTREAM_COMMIT = "8d68b0614b39d8990a508e03d99975832f399db2"  # 2024-11-16; data last changed in ba1f36e (2024-07-05)
HUB_REPO = "AIcell/MOSSBench"  # gated, layout not verified: not a build source

# The README grants CC BY-SA 4.0 for the authors' new contributions, for use as a test set only (the repository
# has no LICENSE file and states no licence for its code).
LICENCE = {"data": "CC BY-SA 4.0", "code": "not stated (the repository has no LICENSE file)",
           "use": "test set only: not for training", "url": f"https://github.com/{UPSTREAM_REPO}"}
TERMS = "MOSSBench: CC BY-SA 4.0, for testing only (no training)"

BENIGN, CONTRAST = "benign", "contrast"
SETS = (BENIGN, CONTRAST)


@dataclass(frozen=True)
class Stimulus:
    number: int  # the N of "type N" in the upstream metadata
    slug: str
    title: str
    benign: int  # published counts
    contrast: int


STIMULI = (
    Stimulus(1, "exaggerated_risk", "Exaggerated Risk", 100, 100),
    Stimulus(2, "negated_harm", "Negated Harm", 100, 44),
    Stimulus(3, "counterintuitive", "Counterintuitive Interpretation", 100, 100),
)
BY_SLUG = {s.slug: s for s in STIMULI}
PUBLISHED = {BENIGN: 300, CONTRAST: 244}


def stimulus_of(over: object) -> Stimulus | None:
    """The stimulus type an upstream ``metadata.over`` names: ``"type N"`` (information.json) or the type's title
    (information.csv writes ``"Negated Harm"``); None for anything else."""
    if not isinstance(over, str):
        return None
    text = over.strip().lower()
    match = re.fullmatch(r"type\s*([123])", text)
    for stimulus in STIMULI:
        if (match and int(match.group(1)) == stimulus.number) or text == stimulus.title.lower():
            return stimulus
    return None


@dataclass(frozen=True)
class Selector:
    """A task's slice: ``<set>.<stimulus slug or 'all'>``."""

    set: str
    stimulus: Stimulus | None  # None: every stimulus type

    @classmethod
    def parse(cls, text: str) -> "Selector":
        subset, _, slug = (text or "").partition(".")
        if subset not in SETS or (slug != "all" and slug not in BY_SLUG):
            raise ValueError(f"bad MOSSBench selector {text!r}: expected <set>.<stimulus> with set in {SETS} and "
                             f"stimulus in {(*BY_SLUG, 'all')}")
        return cls(subset, None if slug == "all" else BY_SLUG[slug])

    def __str__(self) -> str:
        return f"{self.set}.{self.stimulus.slug if self.stimulus else 'all'}"
