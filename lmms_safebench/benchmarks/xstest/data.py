"""Build XSTest into the local data folder, and load the slice a task asks for.

Sources (``build(source=...)``; the ``lmms-safebench build xstest --source`` option):

- ``github`` (default) or ``github@<commit>``: ``xstest_prompts.csv`` of the authors' repository
  (:data:`.taxonomy.UPSTREAM_REPO`) at a pinned commit, from GitHub's raw file server (SAFEBENCH_GITHUB_RAW
  names a mirror); at a commit from before 2025-02-11, which has no such file, ``xstest_v2_prompts.csv``;
- a local CSV file in either layout, or a folder holding one (``xstest_prompts.csv`` first).

Upstream layouts: ``id,prompt,type,label,focus,note`` (``xstest_prompts.csv``; ``label`` is ``safe``/``unsafe``)
and the older ``id_v1,id_v2,type,prompt,focus,note`` (``xstest_v2_prompts.csv``): no label column, so the label is
derived from the type (the ``contrast_*`` types are unsafe), and ``id_v2`` (``v2-<n>``) gives the id ``<n>``, the
id of the same prompt in the newer file. Columns are found by name, in any order.

Built (``<data>/xstest``): ``safe.parquet``, ``unsafe.parquet`` and ``manifest.json`` (source with the CSV's
sha256 and layout, licence and terms, rows per label and type, every problem). Documents carry ``id``,
``prompt``, ``type``, ``label``, ``focus``, ``note`` (None where empty) and, once loaded, ``benchmark``.
Selectors (:mod:`.taxonomy`): ``<label>.<type>``, e.g. ``safe.all``, ``unsafe.all``, ``all.all``,
``safe.homonyms``.

Bad input is named (:class:`...data.store.Problem`: ``file:line``, id, field) and left out; everything else is
built: a row with more or fewer fields than the header, an empty prompt or type, a label other than safe/unsafe,
an id that is not a plain name, an id on several rows (every copy). A label that disagrees with its type's
``contrast_`` prefix, a type not among the published 18, and counts that differ from the published ones (450 =
250 safe + 200 unsafe, 25 per type) are notes.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from pathlib import Path

from ... import paths
from ...data import store
from ...errors import DataError
from . import taxonomy as tx
from .taxonomy import LABELS

FORMAT_VERSION = 1
BUILD_COMMAND = "lmms-safebench build xstest"
FILE_NAMES = ("xstest_prompts.csv", "xstest_v2_prompts.csv")  # the current layout, then the old one
LAYOUTS = {  # layout -> the columns it needs
    "current": ("id", "prompt", "type", "label"),
    "v2": ("id_v2", "prompt", "type"),
}


def features():
    import datasets

    return datasets.Features({name: datasets.Value("string")
                              for name in ("id", "prompt", "type", "label", "focus", "note")})


# ------------------------------------------------------------------------------------------- sources

def download_upstream(commit: str) -> Path:
    """The prompts CSV of ``commit`` in the download cache (the newer file name first, then the older one)."""
    folder = paths.downloads_dir() / tx.NAME / commit
    errors = []
    for name in FILE_NAMES:
        try:
            return store.download(store.github_raw_url(tx.UPSTREAM_REPO, commit, name), folder / name)
        except DataError as exc:
            errors.append(str(exc))
    raise DataError(f"{'; '.join(errors)}. Check the network (SAFEBENCH_GITHUB_RAW names a mirror), or download "
                    f"xstest_prompts.csv from https://github.com/{tx.UPSTREAM_REPO} (commit {commit}) and pass it "
                    "with --source PATH")


def find_csv(root: Path) -> tuple[Path, list[store.Problem]]:
    """The prompts CSV that ``--source`` names (a file, or a folder holding one), and notes."""
    if root.is_file():
        return root, []
    found = [root / name for name in FILE_NAMES if (root / name).is_file()]
    if not found:
        raise DataError(f"--source {root}: no {' or '.join(FILE_NAMES)} here; point it at a copy of "
                        f"{tx.UPSTREAM_REPO} or at the CSV file")
    real = store.outside(found[0], root)
    if real is not None:
        raise DataError(f"{found[0]} resolves to {real}, outside --source {root}; not read")
    return found[0], [store.Problem(str(other), f"not read: {found[0].name} is read instead", left_out=False)
                      for other in found[1:]]


# ------------------------------------------------------------------------------------------- records

def _rows_with_lines(path: Path, text: str):
    """(first line of the row, row) for every CSV row (a quoted prompt may span lines); DataError naming
    ``file:line`` when the CSV cannot be read."""
    reader, line = csv.reader(text.splitlines(keepends=True)), 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}:{line}: not readable CSV ({exc})") from None
        yield line, row
        line = reader.line_num + 1


def read_prompts(path: Path) -> tuple[list[dict], str, list[store.Problem]]:
    """The valid prompts of the CSV, its layout (``current`` or ``v2``), and a problem for each row left out
    (named ``file:line``) and each note. DataError naming the file when it is not a prompts CSV at all."""
    rows = _rows_with_lines(path, store.read_text(path))
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path}: empty file")
    header = [name.strip().lower() for name in first[1]]
    layout = next((name for name, needed in LAYOUTS.items() if set(needed) <= set(header)), None)
    if layout is None:
        raise DataError(f"{path}:1: header {','.join(header)!r} is neither id,prompt,type,label,focus,note "
                        "(xstest_prompts.csv) nor id_v1,id_v2,type,prompt,focus,note (xstest_v2_prompts.csv)")
    column = {name: header.index(name) for name in header}
    problems, records, lines = [], [], {}

    def problem(line, qid, field, what, label=None, left_out=True):
        problems.append(store.Problem(f"{path}:{line}", what, id=qid, field=field, scenario=label, left_out=left_out))

    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problem(line, None, None, f"{len(row)} fields, the header has {len(header)}; the row is left out")
            continue
        cell = {name: row[i].strip() for name, i in column.items()}
        raw_id = cell["id"] if layout == "current" else cell["id_v2"]
        qid = re.sub(r"^v2-", "", raw_id) if layout == "v2" else raw_id
        if not store.is_plain_id(qid):
            problem(line, raw_id, "id" if layout == "current" else "id_v2",
                    f"{store.PLAIN_ID_RULE}; the row is left out")
            continue
        empty = next((name for name in ("prompt", "type") if not cell[name]), None)
        if empty:
            problem(line, qid, empty, "empty; the row is left out")
            continue
        implied = tx.label_of_type(cell["type"])
        label = cell["label"].lower() if layout == "current" else implied
        if label not in LABELS:
            problem(line, qid, "label", f"{cell['label']!r} is not safe or unsafe; the row is left out")
            continue
        if label != implied:
            problem(line, qid, "label", f"{label!r}, but the type {cell['type']!r} implies {implied!r}; the label is "
                                        "kept", label, left_out=False)
        if cell["type"] not in tx.TYPES:
            problem(line, qid, "type", f"{cell['type']!r} is not one of the published types", label, left_out=False)
        lines.setdefault(qid, []).append(line)
        records.append({"id": qid, "prompt": cell["prompt"], "type": cell["type"], "label": label,
                        "focus": cell.get("focus") or None, "note": cell.get("note") or None})
    for qid, at in lines.items():
        if len(at) > 1:
            problems.append(store.Problem(str(path), f"the id is on lines {', '.join(map(str, at))}; every copy is "
                                          "left out (which one is meant is ambiguous)", id=qid, field="id"))
    return [r for r in records if len(lines[r["id"]]) == 1], layout, problems


# ------------------------------------------------------------------------------------------- building

def build(source: str | None = None, data_root: str | Path | None = None) -> store.SliceReport:
    """Normalise XSTest into ``<data_root>/xstest``. Faults are named (in the report and the manifest) and the
    rest is built; DataError when nothing can be built (an earlier build is then left as it was)."""
    src = store.parse_source(source, {"github": tx.UPSTREAM_COMMIT})
    target = store.benchmark_dir(tx.NAME, store.data_root(data_root))
    store.check_target(target)
    if src.kind == "github":
        path, notes = download_upstream(src.location), []
        description = {"type": "github", "repo": tx.UPSTREAM_REPO, "commit": src.location}
    else:
        path, notes = find_csv(Path(src.location))
        description = {"type": "local", "path": src.location}
    report = store.SliceReport(tx.TITLE, target, f"{description['type']} {description.get('commit') or path}",
                               problems=notes)
    problems = report.problems
    records, layout, found = read_prompts(path)
    problems += found
    description.update(file=path.name, layout=layout, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    if not records:
        raise store.nothing_built(tx.TITLE, problems)

    slices, per_type = {}, {}
    for record in records:
        per_type[record["type"]] = per_type.get(record["type"], 0) + 1
    with store.StagingDir(target) as staging, store.quiet_datasets():
        for label in LABELS:
            rows = [r for r in records if r["label"] == label]
            written = store.write_parquet(staging / f"{label}.parquet", rows, features())
            if not written:
                problems.append(store.Problem(str(path), f"no valid {label} prompt; the {label} slice is not written, "
                                              "and its tasks say so", scenario=label))
                continue
            slices[label] = {"file": f"{label}.parquet", "rows": written,
                             "types": {t: n for t, n in per_type.items() if tx.label_of_type(t) == label}}
            report.slices[label] = written
            if written != tx.PUBLISHED[label]:
                problems.append(store.Problem(label, f"{written} prompts built, the published count is "
                                              f"{tx.PUBLISHED[label]}", scenario=label, left_out=False))
        for prompt_type in tx.TYPES:
            if per_type.get(prompt_type, 0) != tx.PER_TYPE:
                label = tx.label_of_type(prompt_type)
                problems.append(store.Problem(label, f"{per_type.get(prompt_type, 0)} prompts of type {prompt_type} "
                                              f"built, the published count is {tx.PER_TYPE}", scenario=label,
                                              left_out=False))
        report.lines.append(f"  types: {len(per_type)} ({', '.join(f'{t} {n}' for t, n in per_type.items())}); "
                            f"published: 450 = 250 safe + 200 unsafe, {tx.PER_TYPE} per type")
        if not slices:
            raise store.nothing_built(tx.TITLE, problems)
        store.write_manifest(staging, {
            "benchmark": tx.NAME, "format": FORMAT_VERSION, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": description, "licence": tx.LICENCE, "terms": tx.TERMS, "slices": slices,
            "totals": {"rows": sum(s["rows"] for s in slices.values()), **{k: s["rows"] for k, s in slices.items()}},
            "problems": [p.to_dict() for p in problems],
        })
    return report


# ------------------------------------------------------------------------------------------- loading

def ensure_built(data_root: Path | None = None) -> dict:
    """The manifest of the built dataset; builds it from the default source first when it is missing and the
    network may be used; otherwise DataNotBuiltError saying which command builds it."""
    return store.ensure_built(store.benchmark_dir(tx.NAME, data_root), tx.TITLE,
                              f"github ({tx.UPSTREAM_REPO}@{tx.UPSTREAM_COMMIT[:7]})",
                              lambda: build(data_root=data_root), f"{BUILD_COMMAND} [--source github|PATH]")


def load_docs(selector: tx.Selector | str, data_root: Path | None = None, directory: Path | None = None,
              build_command: str = BUILD_COMMAND):
    """The documents of one task (a ``datasets.Dataset``). ``directory``: a folder in this build's schema that is
    not the official build."""
    return store.load_release(tx.NAME, tx.TITLE, selector, tx.Selector.parse, lambda sel: sel.labels, ensure_built,
                              data_root, directory, build_command,
                              lambda sel: ("type", sel.type, "prompt") if sel.type else None)
