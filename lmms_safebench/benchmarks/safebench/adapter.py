"""SafeBench's adapter: what the tasks, ``judge`` and ``report`` ask of the benchmark (see :mod:`..base`)."""

from __future__ import annotations

import base64
import io

from ... import settings
from ...harness.taskwriter import lmms_eval_template, support_files
from ...jury.case import Criterion
from ..base import Benchmark, CaseSpec, harm_columns
from ..base import Category as BaseCategory
from ..base import Scenario as BaseScenario
from . import data
from .published import published as paper_numbers
from .tasks import MINI_TABLE, MODEL_BLOCKS, TABLE, Variant, family
from .taxonomy import CATEGORIES, CRITERION, MINI, NAME, SCENARIOS, Scenario, Selector, target_text


def decode_audio(data: bytes) -> dict:
    """WAV bytes as ``{"array", "sampling_rate"}`` (mono float32), decoded with soundfile (no FFmpeg)."""
    import soundfile  # a C library behind it: only when audio is decoded

    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if samples.ndim > 1:  # downmix to mono
        samples = samples.mean(axis=1)
    return {"array": samples, "sampling_rate": int(rate)}


class SafeBench(Benchmark):
    """SafeBench for the tasks, ``judge`` and ``report``: one checklist criterion, the five-juror panel by
    default, image / spoken / text queries, the full set and MiniBench. A generated SafeBench-style
    benchmark is the same adapter over its own taxonomy and data folder."""

    key = NAME
    title = "SafeBench"
    task_prefix = "safebench"
    default_protocol = "jury"

    def __init__(self, scenarios=SCENARIOS, categories=CATEGORIES, criterion: Criterion = CRITERION, loader=None,
                 case_prefix: str = NAME, key: str = NAME, title: str = "SafeBench",
                 task_prefix: str = "safebench"):
        self.key, self.title, self.task_prefix = key, title, task_prefix
        self._scenarios = tuple(scenarios)
        self._categories = tuple(categories)
        self._by_slug = {s.slug: s for s in self._scenarios}
        self._criterion = criterion
        self._loader = loader  # None: the official build under $SAFEBENCH_DATA
        self._case_prefix = case_prefix

    build_source = ("hub (default), hub:<repo>, an extracted release folder, a .tar(.gz) archive, a part_a? split part, "
                    "or a folder holding the archives")

    def add_build_arguments(self, parser) -> None:
        parser.add_argument("--set", default=None, choices=["full", "mini", "all"],
                            help="safebench only: the 2,300-query benchmark, MiniBench, or both (default: all)")

    def build(self, args) -> list:
        return data.build(source=args.source, subset=args.set or "all", data_root=args.data_dir)

    def scenarios(self) -> list[BaseScenario]:
        return [BaseScenario(s.slug, s.title, s.category.slug) for s in self._scenarios]

    def categories(self, board: str) -> list[BaseCategory]:
        if ".mini." in board or board.startswith(f"{self.task_prefix}_mini"):
            return []  # MiniBench's published averages are means over its scenarios
        return [BaseCategory(c.slug, c.abbr, c.title) for c in self._categories]

    def report_columns(self, board: str) -> list:
        return harm_columns(sri_shown=True)

    def selection_files(self, key: str, prefix: str, title: str, board: str, variant: str, scenarios: list[str],
                        script: str, version: str, build: str) -> dict[str, str]:
        vname = board.removeprefix(f"{self.task_prefix}_")
        chosen = [s for s in self.scenarios() if s.slug in set(scenarios)]
        # MiniBench boards have no categories: their scenarios are the units, under one pseudo-category.
        categories = self.categories(board) or [BaseCategory("all", "ALL", "all scenarios")]
        if not self.categories(board):
            chosen = [BaseScenario(s.slug, s.title, "all") for s in chosen]
        table = self.metric_table(variant)
        files = {"_default_template_yaml": lmms_eval_template(script, build, title, table, version, MODEL_BLOCKS,
                                                              chat_messages=True),
                 **support_files(script, key, lmms_eval=True)}
        files.update(family(script, key, prefix, title, chosen,
                            [c for c in categories if any(s.category == c.slug for s in chosen)],
                            [Variant(vname, variant, vname)], table, version, umbrella=[vname]))
        return files

    def official_subset_board(self, board: str) -> str | None:
        # The official benchmark's full-set boards (safebench_<variant>) have MiniBench counterparts.
        official = self._loader is None and board.startswith(f"{self.task_prefix}_")
        if not official or board.startswith(f"{self.task_prefix}_{MINI}_"):
            return None
        return board.replace(f"{self.task_prefix}_", f"{self.task_prefix}_{MINI}_", 1)

    def published(self, board: str, model: str, overrides: dict | None = None):
        """The paper's numbers (:mod:`.published`), for the official benchmark only: a generated one has none."""
        return paper_numbers(board, model, overrides) if self._loader is None else None

    def parse(self, selector: str) -> Selector:
        return Selector.parse(selector, self._by_slug)

    def check_settings(self) -> None:
        settings.current()  # a bad override is a ConfigError naming the variable

    def load_docs(self, selector: Selector):
        return self.label((self._loader or data.load_docs)(selector), selector)

    def doc_to_visual(self, doc: dict, kwargs: dict | None = None) -> list:
        modality = doc["modality"]
        if modality == "image":
            return [doc["image"].convert("RGB")]
        if modality.startswith("audio"):
            # The "type" key tells lmms-eval's chat layer this is audio (a dict without it is taken for video).
            return [{**decode_audio(doc[modality]), "type": "audio"}]
        return []

    def doc_to_text(self, doc: dict, kwargs: dict | None = None) -> str:
        kwargs = kwargs or {}
        text = target_text(doc, settings.current().prompt_mode or kwargs.get("prompt_mode", "paper"))
        return f"{kwargs.get('pre_prompt', '')}{text}{kwargs.get('post_prompt', '')}"

    def doc_to_messages(self, doc: dict, kwargs: dict | None = None) -> list:
        """The image or the spoken query, then the text (if any). Audio reaches chat models as ``array``
        ({"array", "sampling_rate"}, for in-process models) or ``data_url`` (a base64 WAV, for endpoints)."""
        kwargs = kwargs or {}
        content = []
        modality = doc["modality"]
        if modality == "image":
            content.append({"type": "image", "url": doc["image"].convert("RGB")})
        elif modality.startswith("audio"):
            audio_format = settings.current().audio_format or kwargs.get("audio_format", "array")
            if audio_format == "data_url":
                payload = "data:audio/wav;base64," + base64.b64encode(doc[modality]).decode("ascii")
            else:
                payload = decode_audio(doc[modality])
            content.append({"type": "audio", "url": payload})
        text = self.doc_to_text(doc, kwargs)
        if text or not content:
            content.append({"type": "text", "text": text})
        return [{"role": "user", "content": content}]

    def _scenario(self, slug) -> Scenario:
        scenario = self._by_slug.get(slug)
        if scenario is None:
            raise ValueError(f"unknown {self.title} scenario {slug!r}")
        return scenario

    def metric_table(self, variant: str) -> dict:
        return MINI_TABLE if f".{MINI}." in f".{variant}." else TABLE

    def metrics(self) -> dict:
        return {**TABLE, **MINI_TABLE}

    def case(self, doc: dict) -> CaseSpec:
        scenario = self._scenario(doc.get("scenario_slug"))
        mini = doc.get("set") == MINI
        # MiniBench's published averages are means over its scenarios: each scenario is its own unit there.
        unit = scenario.slug if mini else scenario.category.slug
        variant = doc.get("variant") or f"{doc.get('modality')}.{doc.get('set')}.{doc.get('mode')}"
        path = (variant, scenario.slug) if mini else (variant, unit, scenario.slug)
        return CaseSpec(f"{self._case_prefix}/{doc.get('set')}/{doc.get('id')}", doc["query"], self._criterion,
                        scenario.slug, unit, self.default_protocol, self.metric_table(variant), path)

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        scenario = self._scenario(case.get("scenario"))
        key = str(case.get("key", ""))
        mini = key.startswith(f"{self._case_prefix}/{MINI}/")
        category = case.get("category", scenario.slug if mini else scenario.category.slug)
        path = tuple(case.get("path") or ()) or ((variant, scenario.slug) if mini
                                                  else (variant, category, scenario.slug))
        return CaseSpec(key, case.get("question", ""), self._criterion, scenario.slug, category,
                        self.default_protocol, MINI_TABLE if mini else TABLE, path)
