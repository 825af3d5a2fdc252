"""A selection is a benchmark of chosen samples of another one: the source's adapter, filtered.

Its documents are the source's (same prompts, criteria and case keys, so the same cached verdicts apply),
kept when their case key is among the chosen ones. Its tasks are the source family's tasks for the selected
variant, named ``safebench_sel_<name>_...``, written by the source's adapter (``selection_files``) with the
same family writers as the official ones, under the umbrella group ``safebench_sel_<name>``.
"""

from __future__ import annotations

from pathlib import Path

from ..benchmarks import registry
from ..benchmarks.base import Benchmark, CaseSpec
from ..data.store import media_columns
from ..errors import DataError
from ..generate.output import SCRIPT, VERSION, key_of, write_manifest, write_tasks
from ..harness import taskindex
from ..harness.taskwriter import group_yaml, top_groups


class Selection(Benchmark):
    def __init__(self, source: Benchmark, key: str, title: str, task_prefix: str, keys: list[str],
                 source_board: str = ""):
        self.source, self.key, self.title, self.task_prefix = source, key, title, task_prefix
        self.source_board = source_board  # the board it was chosen from: its report columns are the source's
        self.default_protocol = source.default_protocol
        self.fingerprint_fields = source.fingerprint_fields
        self.keys = set(keys)

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
        docs = self.source.load_docs(selector)
        light = docs.remove_columns(media_columns(docs))  # no media decoded here
        keep = [i for i, doc in enumerate(light) if self.source.case(doc).key in self.keys]
        return self.label(docs.select(keep), selector)

    def doc_to_visual(self, doc, kwargs=None):
        return self.source.doc_to_visual(doc, kwargs)

    def doc_to_text(self, doc, kwargs=None):
        return self.source.doc_to_text(doc, kwargs)

    def doc_to_messages(self, doc, kwargs=None):
        return self.source.doc_to_messages(doc, kwargs)

    def case(self, doc: dict) -> CaseSpec:
        return self.source.case(doc)

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        return self.source.case_from_logged(case, variant)

    def metric_table(self, variant: str) -> dict:
        return self.source.metric_table(variant)

    def metrics(self) -> dict:
        return self.source.metrics()


def from_manifest(key: str, folder: Path, manifest: dict) -> Selection:
    source = registry.get(manifest["source"])
    return Selection(source, key, manifest.get("title", key), f"safebench_sel_{manifest['name']}", manifest["selected"],
                     manifest.get("board", ""))


def selectable(source: Benchmark, board: str) -> str:
    """The variant of ``board`` that a selection of ``source`` copies; a :class:`DataError` when there is none."""
    infos = taskindex.tasks_of_board(board, source.key)
    if not infos:
        raise DataError(f"{board!r} is not a task family of {source.key}")
    if not source.selectable:
        raise DataError(f"selection from {source.key} ({type(source).__name__}) is not supported")
    return infos[0].variant


def write_selection(folder: Path, name: str, source: Benchmark, board: str, selected: list[str],
                    scenarios: list[str], extra: dict) -> dict:
    """The manifest and task folder of a selection of ``source``'s ``board``: the source writes the tasks; every
    selection has the umbrella group ``safebench_sel_<name>`` (``--tasks safebench_sel_<name>`` runs all of it)."""
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
                "tasks": top_groups(files), **extra}
    write_manifest(folder, manifest)
    write_tasks(folder, {"lmms_eval": files})
    return manifest
