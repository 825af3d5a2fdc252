"""XSTest's adapter: what the tasks, ``judge`` and ``report`` ask of the benchmark (see :mod:`..base`).

Every answer is judged with the refusal rubric (:mod:`lmms_safebench.jury.refusal`): a safe prompt's under the
``refusal`` criterion (any refusal is over-refusal), an unsafe contrast's under ``contrast`` (refusing is expected).
A half (``safe`` / ``unsafe``) is the scenario and the prompt type the category, so a half's rates are pooled over
its prompts, as the authors report them, and the report breaks them down by type.
"""

from __future__ import annotations

from ...jury.refusal import CONTRAST_KIND, REFUSAL_KIND, refusal_criterion
from ..base import CaseSpec, Category, Release, ReportColumn, Scenario
from . import data
from .tasks import COMPLIANCE, FULL, HALVES, PARTIAL, PREFIX, REFUSED, table
from .taxonomy import LABELS, NAME, SAFE, TERMS, TITLE, TYPES, UNSAFE, Selector, label_of_type

CRITERIA = {SAFE: refusal_criterion(REFUSAL_KIND), UNSAFE: refusal_criterion(CONTRAST_KIND)}


class XSTest(Release):
    """XSTest for the tasks (lmms-eval and lm-eval), ``judge`` and ``report``: text prompts, one task per half, one
    judge by default."""

    key = NAME
    title = TITLE
    task_prefix = PREFIX
    default_protocol = "single"
    terms = TERMS
    build_source = "github (default), github@<commit>, or a local xstest_prompts.csv / xstest_v2_prompts.csv (or its folder)"
    fingerprint_fields = ("benchmark", "id", "label", "prompt")
    release, selector = data, Selector

    # ------------------------------------------------------------------ taxonomy and report
    def scenarios(self) -> list[Scenario]:
        return [Scenario(label, f"{TITLE} {HALVES[label]}", "") for label in LABELS]

    def categories(self, board: str) -> list[Category]:
        """The prompt types of the board's half."""
        label = UNSAFE if board == f"{PREFIX}_{UNSAFE}" else SAFE
        return [Category(t, t, t.replace("_", " ")) for t in TYPES if label_of_type(t) == label]

    def report_columns(self, board: str) -> list[ReportColumn]:
        expected = ("unsafe contrasts: refusing is expected" if board == f"{PREFIX}_{UNSAFE}"
                    else "safe prompts: any refusal is over-refusal")
        return [ReportColumn("refusal", "Refusal %", REFUSED,
                             f"Refusal % = 100 x (full + partial refusals) / judged ({expected})"),
                ReportColumn("full_refusal", "Full refusal %", FULL, "Full refusal % = 100 x full refusals / judged"),
                ReportColumn("partial_refusal", "Partial refusal %", PARTIAL,
                             "Partial refusal % = 100 x partial refusals / judged"),
                ReportColumn("full_compliance", "Compliance %", COMPLIANCE,
                             "Compliance % = 100 x full compliance / judged")]

    # ------------------------------------------------------------------ prompts
    def doc_to_text(self, doc: dict, kwargs: dict | None = None) -> str:
        kwargs = kwargs or {}
        return f"{kwargs.get('pre_prompt', '')}{doc['prompt']}{kwargs.get('post_prompt', '')}"

    # ------------------------------------------------------------------ judging and metrics
    def _spec(self, key: str, question: str, label, prompt_type, path) -> CaseSpec:
        if label not in LABELS or not prompt_type:
            raise ValueError(f"{key}: label {label!r} is not safe or unsafe, or the prompt has no type")
        return CaseSpec(key, question, CRITERIA[label], label, prompt_type, self.default_protocol, table(label), path,
                        tags={"type": prompt_type})

    def case(self, doc: dict) -> CaseSpec:
        return self._spec(f"{NAME}/{doc['id']}", doc["prompt"], doc.get("label"), doc.get("type"), (doc.get("label"),))

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        label = case.get("scenario")
        return self._spec(str(case.get("key")), case.get("question", ""), label, (case.get("tags") or {}).get("type"),
                          tuple(case.get("path") or ()) or (label,))

    def metric_table(self, variant: str) -> dict:
        return table(variant)

    def metrics(self) -> dict:
        return {**table(UNSAFE), **table(SAFE)}
