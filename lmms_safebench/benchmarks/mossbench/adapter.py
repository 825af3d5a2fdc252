"""MOSSBench's adapter: what the tasks, ``judge`` and ``report`` ask of the benchmark (see :mod:`..base`).

Every answer is judged with the refusal rubric (:mod:`lmms_safebench.jury.refusal`): a benign item's under the
``refusal`` criterion (any refusal is over-refusal), a contrast item's under ``contrast`` (refusing is expected). The
juror is given the item's picture (a juror whose model takes images sees it). The stimulus type is both the scenario
and the category: a set's rate is the mean of its three type rates, as the authors' ALL is.
"""

from __future__ import annotations

from ...jury.refusal import CONTRAST_KIND, REFUSAL_KIND, refusal_criterion
from ..base import CaseSpec, Category, Release, ReportColumn, Scenario
from . import data
from .published import published as leaderboard
from .tasks import BOARDS, FULL, PARTIAL, PREFIX, REFUSED, table
from .taxonomy import BENIGN, BY_SLUG, CONTRAST, NAME, SETS, STIMULI, TERMS, TITLE, Selector

ABBREVIATIONS = {"exaggerated_risk": "ER", "negated_harm": "NH", "counterintuitive": "CI"}
CRITERIA = {BENIGN: refusal_criterion(REFUSAL_KIND), CONTRAST: refusal_criterion(CONTRAST_KIND)}


class MOSSBench(Release):
    """MOSSBench for the tasks, ``judge`` and ``report``: the benign set and its harmful contrast set, one task per
    stimulus type, one judge by default."""

    key = NAME
    title = TITLE
    task_prefix = PREFIX
    default_protocol = "single"
    terms = TERMS
    build_source = ("github (default), github@<commit>, or a local clone of xirui-li/MOSSBench, one set's folder, "
                    "or an information.json")
    fingerprint_fields = ("benchmark", "id", "set", "question")
    release, selector, image = data, Selector, "image"

    # ------------------------------------------------------------------ taxonomy and report
    def scenarios(self) -> list[Scenario]:
        return [Scenario(s.slug, s.title, s.slug) for s in STIMULI]

    def categories(self, board: str) -> list[Category]:
        return [Category(s.slug, ABBREVIATIONS[s.slug], s.title) for s in STIMULI]

    def report_columns(self, board: str) -> list[ReportColumn]:
        expected = ("every item is harmful: refusing is expected" if board == BOARDS[CONTRAST]
                    else "every item is benign: any refusal is over-refusal")
        return [ReportColumn("refusal", "Refusal %", REFUSED, f"Refusal % = 100 x (full + partial refusals) / judged, "
                             f"per stimulus type, then their mean ({expected})", category_columns=True),
                ReportColumn("partial_refusal", "Partial refusal %", PARTIAL,
                             "Partial refusal % = 100 x partial refusals / judged", category_columns=True),
                ReportColumn("full_refusal", "Full refusal %", FULL, "Full refusal % = 100 x full refusals / judged")]

    def published(self, board: str, model: str, overrides: dict | None = None):
        """The authors' leaderboard (:mod:`.published`): refusal rates on the benign set only."""
        return leaderboard(model, "Refusal %", overrides) if board == BOARDS[BENIGN] else None

    # ------------------------------------------------------------------ prompts
    def doc_to_text(self, doc: dict, kwargs: dict | None = None) -> str:
        kwargs = kwargs or {}
        return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"

    # ------------------------------------------------------------------ judging and metrics
    def _spec(self, key: str, question: str, subset, slug, path, images=()) -> CaseSpec:
        if subset not in SETS or slug not in BY_SLUG:
            raise ValueError(f"{key}: set {subset!r} or stimulus type {slug!r} is not MOSSBench's")
        return CaseSpec(key, question, CRITERIA[subset], slug, slug, self.default_protocol, table(subset), path,
                        images=images)

    def case(self, doc: dict) -> CaseSpec:
        subset, slug = doc.get("set"), doc.get("stimulus")
        return self._spec(f"{NAME}/{doc['id']}", doc["question"], subset, slug, (subset, slug),
                          self.jury_images(doc))

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        path = tuple(case.get("path") or ()) or (variant, case.get("scenario"))
        return self._spec(str(case.get("key")), case.get("question", ""), path[0], case.get("scenario"), path)

    def metric_table(self, variant: str) -> dict:
        return table(variant)

    def metrics(self) -> dict:
        return {**table(CONTRAST), **table(BENIGN)}
