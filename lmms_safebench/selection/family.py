"""A selection is a benchmark of chosen samples of another one: the source's adapter, filtered.

Its documents are the source's (same prompts, criteria and case keys, so the same cached verdicts apply),
kept when their case key is among the chosen ones. Its tasks are the source family's tasks for the selected
variant, named ``safebench_sel_<name>_...``, written by the source's adapter (``selection_files``) with the
same family writers as the official ones, under the umbrella group ``safebench_sel_<name>``.

A refreshed benchmark (``select --refresh BOARD --with POOL``) keeps documents of more than one board: its
manifest lists ``parts``, each a board of some benchmark with the variant its documents are read through, the
case keys kept from it and their scenarios. The first part is the primary: its adapter gives the tasks, the
taxonomy and the metric table; every document keeps its own adapter for its prompt and its case (so a pool
sample is asked and judged as it was when it was scored). A task's documents are those of its scenario in every
part, the other parts' in the primary's columns and types (a document lacking one does not fit: DataError).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..benchmarks import registry
from ..benchmarks.base import Benchmark, CaseSpec
from ..data.store import media_columns
from ..errors import DataError
from ..generate.output import SCRIPT, VERSION, key_of, write_manifest, write_tasks
from ..harness import taskindex
from ..harness.taskwriter import group_yaml, top_groups

PART = "selection_part"  # the column telling which part a document of a refreshed benchmark comes from


@dataclass(frozen=True)
class Part:
    """Documents of one board kept by a selection: read through ``variant`` (None: the task's own) of ``source``,
    those whose case key is in ``keys`` and, when ``scenarios`` is given, only for those scenarios' tasks."""

    source: Benchmark
    keys: frozenset[str]
    variant: str | None = None
    scenarios: frozenset[str] | None = None
    board: str = ""


class Selection(Benchmark):
    def __init__(self, source: Benchmark, key: str, title: str, task_prefix: str, keys: list[str],
                 source_board: str = "", parts: list[Part] | None = None):
        self.source, self.key, self.title, self.task_prefix = source, key, title, task_prefix
        self.source_board = source_board  # the board it was chosen from: its report columns are the source's
        self.default_protocol = source.default_protocol
        self.fingerprint_fields = source.fingerprint_fields
        self.parts = parts or [Part(source, frozenset(keys), board=source_board)]
        self.keys = frozenset().union(*(part.keys for part in self.parts))

    def scenarios(self):
        return self.source.scenarios()

    def categories(self, board: str):
        return self.source.categories(self.source_board or board)

    def report_columns(self, board: str) -> list:
        return self.source.report_columns(self.source_board or board)

    def parse(self, selector: str):
        return self.source.parse(selector)

    def check_settings(self) -> None:
        self.source.check_settings()

    def load_docs(self, selector):
        if len(self.parts) == 1:
            return self.label(_kept(self.parts[0], selector), selector)
        import datasets  # heavy: only when a refreshed benchmark's documents are read

        scenario = str(selector).rsplit(".", 1)[-1]
        pieces, primary = [], None
        for n, part in enumerate(self.parts):
            if n and part.scenarios is not None and scenario != "all" and scenario not in part.scenarios:
                continue  # no document of this part in this task (the primary is always read: it has the columns)
            docs = _kept(part, selector if part.variant is None else part.source.parse(f"{part.variant}.{scenario}"))
            if primary is None:
                primary = docs
            else:
                docs = _conform(docs, primary, part, self.parts[0])
            pieces.append(docs.add_column(PART, [n] * len(docs)))
        return self.label(datasets.concatenate_datasets(pieces), selector)

    def _adapter(self, doc: dict) -> Benchmark:
        return self.parts[doc.get(PART) or 0].source

    def doc_to_visual(self, doc, kwargs=None):
        return self._adapter(doc).doc_to_visual(doc, kwargs)

    def doc_to_text(self, doc, kwargs=None):
        return self._adapter(doc).doc_to_text(doc, kwargs)

    def doc_to_messages(self, doc, kwargs=None):
        return self._adapter(doc).doc_to_messages(doc, kwargs)

    def case(self, doc: dict) -> CaseSpec:
        return self._adapter(doc).case(doc)

    def part_of(self, key: str) -> Part:
        """The part a case key was kept from (the primary when none holds it)."""
        return next((part for part in self.parts if key in part.keys), self.parts[0])

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        return self.part_of(str(case.get("key", ""))).source.case_from_logged(case, variant)

    def metric_table(self, variant: str) -> dict:
        return self.source.metric_table(variant)

    def metrics(self) -> dict:
        return self.source.metrics()


def _kept(part: Part, selector):
    """The documents of ``selector`` whose case key ``part`` keeps."""
    docs = part.source.load_docs(selector)
    light = docs.remove_columns(media_columns(docs))  # no media decoded here
    return docs.select([i for i, doc in enumerate(light) if part.source.case(doc).key in part.keys])


def _conform(docs, primary_docs, part: Part, primary: Part):
    """``docs`` in the columns and types of the primary part's documents (``primary_docs``); a DataError naming
    the columns when they do not fit (another schema: their documents cannot share a task)."""
    missing = [c for c in primary_docs.column_names if c not in docs.column_names]
    if missing:
        raise DataError(f"the documents of {part.board or part.source.key} lack the columns {', '.join(missing)} of "
                        f"{primary.board or primary.source.key}'s: they do not fit one task")
    docs = docs.select_columns(primary_docs.column_names)
    if docs.features != primary_docs.features:
        try:
            docs = docs.cast(primary_docs.features)
        except (ValueError, TypeError) as exc:
            raise DataError(f"the documents of {part.board or part.source.key} do not fit "
                            f"{primary.board or primary.source.key}'s columns ({exc})") from None
    return docs


def from_manifest(key: str, folder: Path, manifest: dict) -> Selection:
    source = registry.get(manifest["source"])
    parts = [Part(registry.get(p["source"]), frozenset(p["selected"]), p.get("variant") if n else None,
                  frozenset(p["scenarios"]), p.get("board", "")) for n, p in enumerate(manifest.get("parts") or ())]
    return Selection(source, key, manifest.get("title", key), f"safebench_sel_{manifest['name']}", manifest["selected"],
                     manifest.get("board", ""), parts)


def selectable(source: Benchmark, board: str) -> str:
    """The variant of ``board`` that a selection of ``source`` copies; a :class:`DataError` when there is none."""
    infos = taskindex.tasks_of_board(board, source.key)
    if not infos:
        raise DataError(f"{board!r} is not a task family of {source.key}")
    if not source.selectable:
        raise DataError(f"selection from {source.key} ({type(source).__name__}) is not supported")
    return infos[0].variant


def write_selection(folder: Path, name: str, source: Benchmark, board: str, selected: list[str],
                    scenarios: list[str], extra: dict, parts: list[dict] | None = None) -> dict:
    """The manifest and task folder of a selection of ``source``'s ``board``: the source writes the tasks; every
    selection has the umbrella group ``safebench_sel_<name>`` (``--tasks safebench_sel_<name>`` runs all of it).
    ``parts`` (a refresh): ``{"source", "board", "variant", "selected", "scenarios"}`` per board the documents
    come from, the primary (``source``'s ``board``) first; ``selected`` and ``scenarios`` then cover them all."""
    key, prefix = key_of(name), f"safebench_sel_{name}"
    variant = selectable(source, board)
    title = f"{source.title} selection {name}"
    build = f"`lmms-safebench select ... --from {board} --name {name}`"
    present = sorted(set(scenarios))
    files = source.selection_files(key, prefix, title, board, variant, present, SCRIPT, VERSION, build)
    if f"_{prefix}.yaml" not in files:
        files[f"_{prefix}.yaml"] = group_yaml(SCRIPT, prefix, title, top_groups(files), source.metric_table(variant),
                                              True, VERSION)
    manifest = {"benchmark": key, "family": "selection", "name": name, "title": title, "source": source.key,
                "board": board, "variant": variant, "selected": selected, "scenarios": {s: {} for s in present},
                "tasks": top_groups(files), **({"parts": parts} if parts else {}), **extra}
    write_manifest(folder, manifest)
    write_tasks(folder, {"lmms_eval": files})
    return manifest
