"""MM-SafetyBench's adapter: what the tasks, ``judge`` and ``report`` ask of the benchmark (see :mod:`..base`)."""

from __future__ import annotations

from ...data.typography import stack_vertically
from ...harness.taskwriter import lmms_eval_template, support_files
from ..base import Benchmark, CaseSpec, harm_columns
from ..base import Scenario as BaseScenario
from . import data
from .tasks import MODEL_BLOCKS, TABLE, family
from .taxonomy import NAME, SCENARIOS, Scenario, Selector, query_text


class MMSafetyBench(Benchmark):
    """MM-SafetyBench for the tasks, ``judge`` and ``report``: per-scenario criteria, one judge by default."""

    key = NAME
    title = "MM-SafetyBench"
    task_prefix = "safebench_mmsb"
    default_protocol = "single"

    def __init__(self, scenarios=SCENARIOS, loader=None, case_prefix: str = NAME, key: str = NAME,
                 title: str = "MM-SafetyBench", task_prefix: str = "safebench_mmsb"):
        self.key, self.title, self.task_prefix = key, title, task_prefix
        self._scenarios = tuple(scenarios)
        self._by_slug = {s.slug: s for s in self._scenarios}
        self._loader = loader  # None: the official build under $SAFEBENCH_DATA
        self._case_prefix = case_prefix

    build_source = "github (default), github@<commit>, hub, hub:<repo-or-folder>, or a local folder"

    def add_build_arguments(self, parser) -> None:
        parser.add_argument("--sd-images", default=None,
                            help="mmsafetybench only: the official image folder (<scenario>/SD/<id>.jpg)")
        parser.add_argument("--pairing", default=None,
                            help="mmsafetybench only: which text goes with which image kind, e.g. "
                                 "'typo=rephrased_question_sd' (default: upstream's)")
        parser.add_argument("--font", default=None,
                            help="mmsafetybench only: TrueType font for typography images (default: Liberation Sans)")
        parser.add_argument("--tiny-list", default=None,
                            help="mmsafetybench only: TinyVersion_ID_List.json, when it is not next to the questions")

    def build(self, args) -> list:
        return [data.build(source=args.source, sd_images=args.sd_images, data_root=args.data_dir,
                           pairing=args.pairing, font=args.font, tiny_list=args.tiny_list)]

    def scenarios(self) -> list[BaseScenario]:
        return [BaseScenario(s.slug, s.title, "") for s in self._scenarios]

    def report_columns(self, board: str) -> list:
        return harm_columns(sri_shown=False)  # SRI is SafeBench's index; MM-SafetyBench reports ASR

    def selection_files(self, key: str, prefix: str, title: str, board: str, variant: str, scenarios: list[str],
                        script: str, version: str, build: str) -> dict[str, str]:
        kind, subset, prompt = variant.split(".")
        files = {"_default_template_yaml": lmms_eval_template(script, build, title, TABLE, version, MODEL_BLOCKS),
                 **support_files(script, key, lmms_eval=True)}
        files.update(family(script, key, prefix, title, [s for s in self.scenarios() if s.slug in set(scenarios)],
                            (kind,), (subset,), (prompt,), TABLE, version))
        return files

    def parse(self, selector: str) -> Selector:
        return Selector.parse(selector, self._by_slug)

    def load_docs(self, selector: Selector):
        return self.label((self._loader or data.load_docs)(selector), selector)

    def doc_to_visual(self, doc: dict, kwargs: dict | None = None) -> list:
        kind = doc["kind"]
        if kind == "sd":
            return [doc["sd_image"].convert("RGB")]
        if kind == "typo":
            return [doc["typo_image"].convert("RGB")]
        if kind == "sd_typo":
            return [stack_vertically(doc["sd_image"], doc["typo_image"])]
        return []

    def doc_to_text(self, doc: dict, kwargs: dict | None = None) -> str:
        kwargs = kwargs or {}
        return f"{kwargs.get('pre_prompt', '')}{query_text(doc)}{kwargs.get('post_prompt', '')}"

    def _scenario(self, slug) -> Scenario:
        sc = self._by_slug.get(slug)
        if sc is None:
            raise ValueError(f"unknown {self.title} scenario {slug!r}")
        return sc

    def case(self, doc: dict) -> CaseSpec:
        sc = self._scenario(doc.get("scenario_slug"))
        variant = doc.get("variant") or f"{doc.get('kind')}.{'defended' if doc.get('defended') else 'plain'}"
        return CaseSpec(f"{self._case_prefix}/{sc.upstream}/{doc.get('id')}",
                        doc.get("question") or doc.get("query", ""), sc.criterion, sc.slug, sc.slug,
                        self.default_protocol, TABLE, (variant, sc.slug))

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        sc = self._scenario(case.get("scenario"))
        return CaseSpec(str(case.get("key")), case.get("question", ""), sc.criterion, sc.slug,
                        case.get("category", sc.slug), self.default_protocol, TABLE,
                        tuple(case.get("path") or ()) or (variant, sc.slug))

    def metric_table(self, variant: str) -> dict:
        return TABLE
