"""A benchmark is one adapter: everything the tasks, ``lmms-safebench judge`` and ``report`` need to know.

The task hooks (:mod:`lmms_safebench.harness.hooks`), the re-judge (:mod:`lmms_safebench.judge`) and the
report (:mod:`lmms_safebench.report`) never test task-name prefixes or document fields: they find the
:class:`Benchmark` through :mod:`.registry` (by the key every document and every task's
``dataset_name`` carries) and ask it. Adding a benchmark is adding an adapter; a generated benchmark's
adapter is built from its data folder's manifest.

A task's ``dataset_name`` is ``<benchmark key>.<selector>``; the selector names the slice of data the
task reads (its variant, then its scenario or ``all``), e.g. ``safebench.image.full.default.bias`` or
``mmsafetybench.typo.tiny.plain.01_illegal_activity``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..jury.case import Criterion
from ..jury.prompts import image_mime
from ..scoring import metrics
from ..scoring.metrics import MetricSpec


@dataclass(frozen=True)
class CaseSpec:
    """Everything about a sample the jury and the metrics need, except the answer. Built from a document
    (inline, or re-judging with the dataset) or from a logged verdict's ``case`` record."""

    key: str
    question: str
    criterion: Criterion
    scenario: str
    category: str  # the report's averaging unit: a category, or the scenario itself
    protocol: str  # the benchmark's default protocol when only a judge endpoint is configured
    table: dict[str, MetricSpec]  # the metric table the sample's task reports (Benchmark.metric_table)
    path: tuple[str, ...] = ()  # the scenario's place in the benchmark's tree (see lmms_safebench.scoring.tree)
    tags: dict[str, str] = field(default_factory=dict)  # benchmark-specific facts for its metrics (Outcome.tags)
    # The pictures the model was shown (PNG or JPEG bytes), passed to the jury's Case: a juror whose model takes images
    # sees them. Not logged (a logged case is rebuilt without them).
    images: tuple[bytes, ...] = ()
    unseen_images: int = 0  # pictures the model was shown that ``images`` does not carry (jury.case.Case)

    def logged(self) -> dict:
        out = {"key": self.key, "scenario": self.scenario, "category": self.category, "question": self.question,
               "path": list(self.path)}
        if self.tags:  # only when set: a harm benchmark's logged cases stay what they were
            out["tags"] = dict(self.tags)
        return out


@dataclass(frozen=True)
class Scenario:
    """A scenario as the report and the task generator see it."""

    slug: str
    title: str
    category: str  # the category's slug ("" when scenarios are not grouped)


@dataclass(frozen=True)
class Category:
    slug: str
    abbr: str
    title: str


@dataclass(frozen=True)
class ReportColumn:
    """A headline number of a board in ``lmms-safebench report``: its value per model (and per category and scenario),
    with a bootstrap interval when ``interval`` (``metric`` is then a macro rate of :mod:`lmms_safebench.scoring.metrics`
    that carries its per-sample value and scale, so the bootstrap resamples exactly what it averages; or a metric whose
    unit is not one answer, such as a pair, that carries ``unit_values(outcomes)`` and ``scale`` instead)."""

    name: str  # the CSV column, e.g. "asr"
    title: str  # the Markdown header and the published numbers' key, e.g. "ASR"
    metric: Callable  # an aggregation over the board's outcomes
    description: str = ""  # for the leaderboard's note, e.g. "ASR = 100 x unsafe / judged (lower is safer)"
    shown: bool = True  # in the Markdown/HTML leaderboard (the CSV has every column)
    interval: bool = True  # a 95% bootstrap interval (CSV: <name>_ci_low, <name>_ci_high)
    breakdown: bool = True  # per category (CSV) and per scenario (the scenario tables)
    category_columns: bool = False  # per-category columns in the Markdown leaderboard


def harm_columns(sri_shown: bool) -> list[ReportColumn]:
    """The columns of a harm benchmark's board: ASR (per category in the leaderboard), SRI (shown when the benchmark's
    jury gives the ratings it averages) and the pooled ASR (CSV only)."""
    return [ReportColumn("asr", "ASR", metrics.asr, "ASR = 100 x unsafe / judged (lower is safer)",
                         category_columns=True),
            ReportColumn("sri", "SRI", metrics.sri, "SRI = 20 x mean rating (higher is safer)", shown=sri_shown),
            ReportColumn("asr_pooled", "ASR pooled", metrics.asr_pooled, shown=False, interval=False,
                         breakdown=False)]


def stored_images(docs, column: str = "image"):
    """``docs`` with the image ``column`` as the bytes the build stored (a binary column, without copying them), not
    decoded: an adapter decodes them where the model needs a picture (:func:`picture`) and hands the jury those very
    bytes (:func:`jury_images`). lmms-eval hands a binary column to ``process_results`` (it drops only image-typed
    columns, unless a task sets ``process_results_use_image``) and leaves bytes out of the documents it logs."""
    import datasets  # heavy: only a task's loader gets here

    # Undecoded, the column is a {bytes, path} struct; flattening it (on the arrow table, rows selected by a filter
    # included) splits it in two without copying. Flattening would split any other struct column too: there is none.
    nested = [name for name, feature in docs.features.items() if name != column and isinstance(feature, dict)]
    if nested:
        raise ValueError(f"stored_images: columns {nested} are nested too; only {column!r} may be")
    flat = docs.cast_column(column, datasets.Image(decode=False)).flatten()
    return flat.remove_columns([f"{column}.path"]).rename_column(f"{column}.bytes", column)


def picture(value):
    """A document's image as an RGB PIL image: stored bytes (:func:`stored_images`), ``{"bytes", "path"}``, or decoded."""
    from PIL import Image  # heavy for the many callers that show no image

    if isinstance(value, dict):
        value = value["bytes"]
    if isinstance(value, (bytes, bytearray)):
        value = Image.open(io.BytesIO(value))
    return value.convert("RGB")


def jury_images(value) -> tuple[bytes, ...]:
    """A document's image as the jury takes it (:attr:`~lmms_safebench.jury.case.Case.images`): the stored bytes when
    they are PNG or JPEG, else re-encoded as PNG; none when the document has no image (a harness may drop them)."""
    if value is None:
        return ()
    data = value.get("bytes") if isinstance(value, dict) else value if isinstance(value, (bytes, bytearray)) else None
    if data and image_mime(bytes(data)):
        return (bytes(data),)
    buffer = io.BytesIO()
    picture(value).save(buffer, format="PNG")
    return (buffer.getvalue(),)


def variant_of(selector) -> str:
    """A task's variant: its selector without the scenario part (``typo.tiny.plain``, ``image.full.default``)."""
    return str(selector).rsplit(".", 1)[0]


class Benchmark:
    """The interface every benchmark adapter implements. Subclasses set the class attributes."""

    key: str  # registry key: the first part of every dataset_name, and every document's "benchmark"
    title: str
    task_prefix: str  # every task and group of the benchmark starts with it
    default_protocol: str  # "single" or "jury": the protocol used when only a judge endpoint is configured
    terms: str = ""  # the data's licence or terms of use, shown wherever its numbers are (task README, report)

    # ---------------------------------------------------------------- taxonomy (report, task generation)
    def scenarios(self) -> list[Scenario]:
        raise NotImplementedError

    def categories(self, board: str) -> list[Category]:
        """The report's per-category columns for ``board`` (empty when scenarios are the units)."""
        return []

    def report_columns(self, board: str) -> list[ReportColumn]:
        """The headline numbers of ``board`` in ``lmms-safebench report``, the first one ranking the models. By
        default, every macro rate of the benchmark's metrics, under its metric name."""
        rates = [(name, spec.aggregation) for name, spec in self.metrics().items()
                 if hasattr(spec.aggregation, "sample_value")]
        return [ReportColumn(name, name, function, category_columns=n == 0) for n, (name, function) in enumerate(rates)]

    def published(self, board: str, model: str, overrides: dict | None = None):
        """Published numbers of a paper for ``model`` on ``board``: ``(paper model, {"citation": str, <column
        title>: {category slug or "AVG": value}})``, or None."""
        return None

    # ---------------------------------------------------------------- data
    def parse(self, selector: str):
        """A selector object (with ``str()`` giving ``selector`` back) or ValueError."""
        raise NotImplementedError

    def load_docs(self, selector):
        """The documents of one task's slice (a ``datasets.Dataset``) with ``benchmark`` and ``variant``."""
        raise NotImplementedError

    def label(self, docs, selector):
        """``docs`` with this benchmark's key under ``benchmark`` and the task's ``variant`` (every document says
        which adapter judges it and where it sits in the benchmark's tree)."""
        docs = docs.remove_columns([c for c in ("benchmark", "variant") if c in docs.column_names])
        n = len(docs)
        return docs.add_column("benchmark", [self.key] * n).add_column("variant", [variant_of(selector)] * n)

    def check_settings(self) -> None:
        """Raise ConfigError for a bad environment override, before inference starts."""

    # ---------------------------------------------------------------- task folders
    def task_folders(self) -> dict[str, Path]:
        """The task folders of a benchmark that another package ships, by harness: ``{"lmms_eval": folder,
        "lm_eval": folder}`` (either may be left out). Task discovery gives them to every lmms-eval TaskManager,
        and the task index (``judge``, ``report``, ``select``) reads them, as it does this package's ``tasks/``.
        The built-in benchmarks' folders are under ``tasks/`` and generated ones under the data folder: none here."""
        return {}

    # ---------------------------------------------------------------- `lmms-safebench build <key>`
    build_source: str = ""
    """What ``--source`` accepts for this benchmark (the help text); empty when it has no ``build``."""

    @property
    def buildable(self) -> bool:
        return bool(self.build_source) and type(self).build is not Benchmark.build

    def add_build_arguments(self, parser) -> None:
        """Options of ``build <key>`` beside ``--source`` and ``--data-dir``. Each defaults to None: an option of
        another benchmark that is given is refused, naming the benchmark it belongs to."""

    def build(self, args) -> list:
        """Build the benchmark from ``args.source`` into ``args.data_dir``; the reports of what was built (each with
        ``summary()`` and ``left_out``, the problems that left something out). A DataError when nothing was built."""
        raise NotImplementedError

    # ---------------------------------------------------------------- `lmms-safebench select`
    @property
    def selectable(self) -> bool:
        return type(self).selection_files is not Benchmark.selection_files

    def selection_files(self, key: str, prefix: str, title: str, board: str, variant: str, scenarios: list[str],
                        script: str, version: str, build: str) -> dict[str, str]:
        """The lmms-eval task folder (relative path -> text) of a selection ``key`` of ``board`` (its ``variant``):
        tasks named ``<prefix>_...`` over ``scenarios``, reading this benchmark's documents through the selection's
        adapter. ``select`` adds the umbrella group ``<prefix>`` when the folder has none."""
        raise NotImplementedError

    def official_subset_board(self, board: str) -> str | None:
        """The board of the benchmark's official small subset that matches ``board`` (SafeBench's MiniBench): when
        its logs are given, ``select`` measures it beside its own choice. None when there is none."""
        return None

    def final_set_folder(self, board: str, name: str) -> Path | None:
        """Where this benchmark keeps the final set that ``select --from board --name name`` chooses (a generated
        pool keeps its own: :meth:`final_set`, :meth:`write_final_set`, :meth:`attach_selection`), or None: the
        selection is a benchmark of its own."""
        return None

    def final_set(self) -> list[str]:
        """The case keys of the final set chosen earlier (none: empty)."""
        return []

    def write_final_set(self, selected: list[str], scenarios: list[str], extra: dict) -> dict:
        """Keep the chosen case keys and write the final set's tasks; ``{"title", "tasks"}`` of the final set."""
        raise NotImplementedError

    def attach_selection(self, card: dict) -> None:
        """Keep the selection's data card (quality table, rank order, objective) with the benchmark's own."""
        raise NotImplementedError

    # ---------------------------------------------------------------- prompts
    def doc_to_visual(self, doc: dict, kwargs: dict) -> list:
        raise NotImplementedError

    def doc_to_text(self, doc: dict, kwargs: dict) -> str:
        raise NotImplementedError

    def doc_to_messages(self, doc: dict, kwargs: dict) -> list:
        """Chat turns for chat models: the media, then the text."""
        content = [{"type": "image", "url": image} for image in self.doc_to_visual(doc, kwargs)]
        text = self.doc_to_text(doc, kwargs)
        if text or not content:
            content.append({"type": "text", "text": text})
        return [{"role": "user", "content": content}]

    # ---------------------------------------------------------------- judging
    fingerprint_fields: tuple[str, ...] = ("benchmark", "set", "id", "scenario_slug", "question", "query", "kind",
                                           "defended", "modality", "mode")
    """The text fields that decide what a sample asks (media are left out: re-judging decodes no image or audio, and
    reads only the pictures a vision juror is shown, :meth:`jury_columns`)."""

    def case(self, doc: dict) -> CaseSpec:
        """The case of a document; ValueError or KeyError when it is malformed."""
        raise NotImplementedError

    def jury_columns(self) -> tuple[str, ...]:
        """The document columns the jury's pictures come from (:attr:`CaseSpec.images`); none: the jury is shown no
        picture. No log keeps them, so when the jury has a juror whose model takes images, ``judge`` builds such a
        benchmark's cases from the local data, with these columns as the stored bytes (never decoded) and every other
        medium left out; a text jury reads none."""
        return ()

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        """Rebuild a case from a logged verdict's ``case`` record (``variant``: the task's, for records
        logged before paths existed)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- metrics
    def metric_table(self, variant: str) -> dict[str, MetricSpec]:
        """The metrics a task of ``variant`` reports, ``{name: MetricSpec(aggregation, higher_is_better)}``, built from
        :mod:`lmms_safebench.scoring.metrics` (or functions of the benchmark's own). The task YAMLs list exactly
        this table; inline runs, ``judge`` and ``report`` aggregate with it."""
        raise NotImplementedError

    def metrics(self) -> dict[str, MetricSpec]:
        """Every metric any task of the benchmark reports: what ``!function utils.<name>`` resolves to in its task
        folders. Override when variants report different tables."""
        return dict(self.metric_table(""))


class Release(Benchmark):
    """An adapter over an upstream release built into the data folder by the benchmark's own data module
    (MOSSBench, MSSBench, XSTest): ``release`` is that module (``build(source, data_root)`` builds it, ``load_docs``
    loads a task's slice), ``selector`` the type that parses a task's selector, and ``image`` the document column
    holding the picture shown with each query (None: text only), kept as the stored bytes (:func:`stored_images`),
    decoded for the model and handed to the jury as they are (:meth:`jury_images`)."""

    release = None  # the data module
    selector = None  # the selector type (``parse(text)``)
    image: str | None = None

    def build(self, args) -> list:
        return [self.release.build(source=args.source, data_root=args.data_dir)]

    def parse(self, selector: str):
        return self.selector.parse(selector)

    def load_docs(self, selector):
        docs = self.release.load_docs(selector)
        return self.label(stored_images(docs, self.image) if self.image else docs, selector)

    def doc_to_visual(self, doc: dict, kwargs: dict | None = None) -> list:
        return [picture(doc[self.image])] if self.image else []

    def jury_images(self, doc: dict) -> tuple[bytes, ...]:
        """The document's picture for the jury's case (none when the document has no image column left)."""
        return jury_images(doc.get(self.image)) if self.image else ()

    def jury_columns(self) -> tuple[str, ...]:
        return (self.image,) if self.image else ()
