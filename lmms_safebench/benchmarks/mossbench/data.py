"""Build MOSSBench into the local data folder, and load the slice a task asks for.

Sources (``build(source=...)``; the ``lmms-safebench build mossbench --source`` option):

- ``github`` (default) or ``github@<commit>``: the authors' repository (:data:`.taxonomy.UPSTREAM_REPO`) at a
  pinned commit, file by file from GitHub's raw file server (SAFEBENCH_GITHUB_RAW names a mirror): the two
  ``images_information/information.json`` files, then every image they name, into the download cache (a
  finished file is not fetched again, so an interrupted download resumes);
- a local folder in the repository's layout: a clone (``data/`` holds the 300 benign items,
  ``data_contrast/`` the 244 harmful contrast items), or one of those two folders; or one
  ``information.json`` file (its set is ``contrast`` when its folder's name says so).

Upstream layout (``<set dir>/images_information/information.json``): an object keyed by pid; each item has
``question``, ``image`` (a path relative to the set's folder, ``images/<pid>.png``), ``"short description"``
(the key has a space), ``description``, ``pid`` and ``metadata``: ``over`` (``"type 1"``/``"type 2"``/
``"type 3"``, or the type's title as information.csv writes it), and for benign items the 0/1 flags ``human``,
``child``, ``syn``, ``ocr`` and ``harm`` (a one-item list of a code 1-7; a plain number is accepted too).
The contrast items carry ``over`` only. The hub copy ``AIcell/MOSSBench`` is gated and its file layout is not
verified, so it is not read: its folder is refused with a message saying what to use instead.

Built (``<data>/mossbench``): ``benign.parquet`` and ``contrast.parquet`` (images embedded) and
``manifest.json`` (source with the sha256 of each information.json, licence and terms, rows per slice and
stimulus type, every problem). Documents carry ``id`` (``<set>-<pid>``), ``pid``, ``set``, ``is_contrast``,
``question``, ``image``, ``image_path`` (as upstream writes it), ``stimulus`` (slug), ``stimulus_title``,
``over`` (upstream value), ``human``, ``child``, ``syn``, ``ocr``, ``harm`` (None where absent),
``short_description``, ``description``, and, once loaded, ``benchmark``. Selectors (:mod:`.taxonomy`):
``<set>.<stimulus>``, e.g. ``benign.all``, ``benign.negated_harm``, ``contrast.all``.

Bad input is named (:class:`...data.store.Problem`: file, pid, field) and left out; everything else is built:
a file that is not UTF-8 JSON (named ``file:line:column``), a pid repeated in the file (every copy), a pid that
is not a plain name or disagrees with the item's ``pid``, a missing or empty question or image path, an
unknown stimulus type, an image that is missing, leads out of the source folder (``..``, an absolute path, a
symlink) or does not decode. A malformed optional field (a flag, ``harm``, a description) is left out of its
item, which is kept. Counts that differ from the published ones (300 = 3 x 100 benign; 244 = 100 + 44 + 100
contrast) are notes.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ... import paths
from ...data import store
from ...errors import DataError
from . import taxonomy as tx
from .taxonomy import BENIGN, CONTRAST, SETS

FORMAT_VERSION = 1
BUILD_COMMAND = "lmms-safebench build mossbench"
SET_DIRS = {BENIGN: "data", CONTRAST: "data_contrast"}
INFORMATION = "images_information/information.json"
# sha256 of the two files at the pinned commit; a download that differs is noted (a mirror, another commit).
PINNED_SHA256 = {
    f"data/{INFORMATION}": "a5f7701c0a068391a3ba10714dd95f3357d664c84faf47b747e425ff9806a352",
    f"data_contrast/{INFORMATION}": "ec00786d6be370284bb398dd61978c279e372f0fd9114e8ca39032e20ea14f1e",
}
FLAGS = ("human", "child", "syn", "ocr")


def features():
    import datasets

    text = ("id", "pid", "set", "question", "image_path", "stimulus", "stimulus_title", "over",
            "short_description", "description")
    return datasets.Features({**{name: datasets.Value("string") for name in text},
                              "is_contrast": datasets.Value("bool"), "image": datasets.Image(),
                              **{name: datasets.Value("int32") for name in (*FLAGS, "harm")}})


# ------------------------------------------------------------------------------------------- sources

def _hint(commit: str) -> str:
    return (f"Check the network (SAFEBENCH_GITHUB_RAW names a mirror), or clone https://github.com/{tx.UPSTREAM_REPO}"
            f" at commit {commit} and pass its folder with --source PATH")


def _safe_relative(value: object) -> bool:
    """A path the download may write under its folder: relative, without ``..``."""
    if not isinstance(value, str) or not value.strip():
        return False
    path = PurePosixPath(value)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in value


def download_upstream(commit: str) -> tuple[Path, dict[str, str]]:
    """Fetch the two information.json files and the images they name into the download cache. The folder, and
    ``{local path: why it could not be downloaded}`` for the images that failed (the builder names them)."""
    root = paths.downloads_dir() / tx.NAME / commit
    failed: dict[str, str] = {}
    wanted: dict[str, Path] = {}  # upstream path -> where it goes (items may share an image)
    errors = []
    for subset in SETS:
        relative = f"{SET_DIRS[subset]}/{INFORMATION}"
        try:
            info = store.download(store.github_raw_url(tx.UPSTREAM_REPO, commit, relative), root / relative)
        except DataError as exc:
            errors.append(str(exc))
            failed[str(root / relative)] = f"could not be downloaded ({exc})"
            continue  # the builder names the set it lacks
        try:
            items = store.read_json(info)
        except DataError:
            continue  # the builder names the file
        for item in (items.values() if isinstance(items, dict) else []):
            image = item.get("image") if isinstance(item, dict) else None
            if _safe_relative(image):
                wanted[f"{SET_DIRS[subset]}/{image}"] = root / SET_DIRS[subset] / image
    if len(errors) == len(SETS):
        raise DataError(f"cannot download the MOSSBench item lists ({'; '.join(errors)}). {_hint(commit)}")

    def fetch(job) -> bool:
        relative, target = job
        try:
            store.download(store.github_raw_url(tx.UPSTREAM_REPO, commit, relative), target)
            return True
        except DataError as exc:
            failed[str(target)] = f"could not be downloaded ({exc})"
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        fetched = sum(tqdm(pool.map(fetch, wanted.items()), total=len(wanted), desc="Downloading MOSSBench images",
                           unit="file"))
    if wanted and not fetched:
        raise DataError(f"no MOSSBench image could be downloaded (the last: {list(failed.values())[-1]}). "
                        f"{_hint(commit)}")
    return root, failed


def find_sets(root: Path) -> dict[str, tuple[Path, Path]]:
    """``{set: (its folder, its information.json)}`` found in what ``--source`` names (a clone, a set's folder, or
    one information.json). DataError when there is none."""
    if root.is_file():
        folder = root.parent.parent if root.parent.name == "images_information" else root.parent
        return {CONTRAST if "contrast" in folder.name.lower() else BENIGN: (folder, root)}
    found = {}
    for subset in SETS:
        for folder in (root / SET_DIRS[subset], root):
            named = CONTRAST if "contrast" in folder.name.lower() else BENIGN
            if (folder / INFORMATION).is_file() and (folder != root or named == subset):
                found[subset] = (folder, folder / INFORMATION)
                break
    if found:
        return found
    if any(root.glob("*/metadata.csv")) or (root / "metadata.csv").exists():
        raise DataError(f"--source {root}: this looks like the hub copy {tx.HUB_REPO} (metadata.csv files), whose "
                        "layout is not verified and is not read here; clone "
                        f"https://github.com/{tx.UPSTREAM_REPO} (commit {tx.UPSTREAM_COMMIT}) and pass that folder, "
                        "or build with the default source (github)")
    raise DataError(f"--source {root}: no MOSSBench data: expected data/{INFORMATION} and data_contrast/{INFORMATION} "
                    f"(a clone of {tx.UPSTREAM_REPO}), {INFORMATION} (one set's folder), or an information.json file")


# ------------------------------------------------------------------------------------------- records

def _flag(value) -> int | None:
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, int) and value in (0, 1) else None


def _harm(value) -> int | None:
    """The harm code: a one-item list (as information.json writes it) or a plain number."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_information(path: Path, subset: str) -> tuple[list[dict], list[store.Problem]]:
    """The valid items of one information.json, and a problem for each item or field left out. DataError naming
    the file when it is not a JSON object."""
    raw = store.read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object keyed by pid, got {store.json_kind(raw)}")
    records, problems = [], []

    def problem(pid, field, what):
        problems.append(store.Problem(str(path), what, id=pid, field=field, scenario=subset))

    for pid, item in store.keyed_records(raw, problem, "item", "pid"):
        meta = item.get("metadata")
        twice = [*getattr(item, "repeated", {}), *(f"metadata.{k}" for k in getattr(meta, "repeated", {}))]
        if twice:
            problem(pid, twice[0], "appears more than once in the item (which is meant is ambiguous); it is left out")
            continue
        if "pid" in item and str(item["pid"]) != pid:
            problem(pid, "pid", f"the item's pid {item['pid']!r} differs from its key; it is left out")
            continue
        fault = next(((name, "missing" if item.get(name) is None else f"is {store.json_kind(item[name])}, not text"
                       if not isinstance(item[name], str) else "is empty")
                      for name in ("question", "image")
                      if not isinstance(item.get(name), str) or not item[name].strip()), None)
        if fault:
            problem(pid, fault[0], f"{fault[1]}; the item is left out")
            continue
        stimulus = tx.stimulus_of(meta.get("over")) if isinstance(meta, dict) else None
        if stimulus is None:
            over = meta.get("over") if isinstance(meta, dict) else None
            problem(pid, "metadata.over", f"{over!r} is not a stimulus type ('type 1', 'type 2' or 'type 3'); the "
                                          "item is left out")
            continue
        record = {"id": f"{subset}-{pid}", "pid": pid, "set": subset, "is_contrast": subset == CONTRAST,
                  "question": item["question"], "image_path": item["image"], "stimulus": stimulus.slug,
                  "stimulus_title": stimulus.title, "over": meta["over"]}
        for name, keys in (("short_description", ("short description", "short_description")),
                           ("description", ("description",))):
            key = next((k for k in keys if k in item), keys[0])
            value = item.get(key)
            record[name] = value if isinstance(value, str) else None
            if value is not None and not isinstance(value, str):
                problem(pid, key, f"is {store.json_kind(value)}, not text; the item is kept without it")
        for name, read in ((*((f, _flag) for f in FLAGS), ("harm", _harm))):
            value = meta.get(name)
            record[name] = read(value)
            if value is not None and record[name] is None:
                problem(pid, f"metadata.{name}", f"{value!r} is not {'0 or 1' if name in FLAGS else 'a harm code'}; "
                                                 "the item is kept without it")
        records.append(record)
    return records, problems


def _rows(records: list[dict], folder: Path, root: Path, subset: str, failed: dict, problems: list, counts: dict,
          bar):
    """The records with their images (``counts``: items per stimulus type); an item whose image cannot be used is
    named and left out."""
    for record in records:
        bar.update(1)
        path = folder / record["image_path"]
        try:
            data = store.read_image_inside(path, root)
        except ValueError as exc:
            # An image that is not there because its download failed is named by that failure.
            reason = str(exc) if os.path.lexists(path) else failed.get(str(path), str(exc))
            problems.append(store.Problem(str(path), f"{reason}; the item is left out", id=record["pid"],
                                          field="image", scenario=subset))
            continue
        counts[record["stimulus"]] += 1
        yield {**record, "image": {"bytes": data, "path": None}}


# ------------------------------------------------------------------------------------------- building

def build(source: str | None = None, data_root: str | Path | None = None) -> store.SliceReport:
    """Normalise MOSSBench into ``<data_root>/mossbench``. Faults are named (in the report and the manifest)
    and the rest is built; DataError when nothing can be built (an earlier build is then left as it was)."""
    src = store.parse_source(source, {"github": tx.UPSTREAM_COMMIT})
    target = store.benchmark_dir(tx.NAME, store.data_root(data_root))
    store.check_target(target)
    failed: dict[str, str] = {}
    if src.kind == "github":
        root, failed = download_upstream(src.location)
        description = {"type": "github", "repo": tx.UPSTREAM_REPO, "commit": src.location}
    else:
        root = Path(src.location)
        description = {"type": "local", "path": str(root)}
    report = store.SliceReport(tx.TITLE, target, f"{description['type']} {description.get('commit') or root}")
    problems = report.problems
    sets = find_sets(root)
    base = next(iter(sets.values()))[0] if root.is_file() else root  # nothing outside it is read
    files, records = {}, {}
    for subset in SETS:
        if subset not in sets:
            expected = root / SET_DIRS[subset] / INFORMATION
            why = failed.get(str(expected), f"not in {root}")
            problems.append(store.Problem(str(expected), f"{why}: the {subset} set is not built, and its tasks say so",
                                          scenario=subset))
            continue
        info = sets[subset][1]
        real = store.outside(info, base)
        if real is not None:
            problems.append(store.Problem(str(info), f"resolves to {real}, outside --source {base}; not read",
                                          scenario=subset))
            continue
        try:
            records[subset], found = read_information(info, subset)
        except DataError as exc:
            where, what = store.located(exc, info)
            problems.append(store.Problem(where, f"{what}; the {subset} set is not built", scenario=subset))
            continue
        problems += found
        relative = info.relative_to(base).as_posix()
        files[relative] = hashlib.sha256(info.read_bytes()).hexdigest()
        pinned = PINNED_SHA256.get(relative)
        if src.kind == "github" and src.location == tx.UPSTREAM_COMMIT and files[relative] != pinned:
            problems.append(store.Problem(str(info), f"sha256 {files[relative]} is not the pinned commit's {pinned} "
                                          "(a mirror with other content?)", scenario=subset, left_out=False))
    description["files"] = files
    if not any(records.values()):
        raise store.nothing_built(tx.TITLE, problems)

    slices, stimuli = {}, {}
    with store.StagingDir(target) as staging, store.quiet_datasets(), \
            tqdm(total=sum(map(len, records.values())), desc="Building MOSSBench", unit="item") as bar:
        for subset, found in records.items():
            stimuli[subset] = dict.fromkeys(tx.BY_SLUG, 0)
            rows = _rows(found, sets[subset][0], base, subset, failed, problems, stimuli[subset], bar)
            written = store.write_parquet(staging / f"{subset}.parquet", rows, features())
            if not written:
                problems.append(store.Problem(str(sets[subset][1]), "no valid item; the set is not written, and its "
                                              "tasks say so", scenario=subset))
                continue
            slices[subset] = {"file": f"{subset}.parquet", "rows": written, "stimuli": stimuli[subset]}
            report.slices[subset] = written
            report.lines.append(f"  {subset}: " + ", ".join(f"{k} {v}" for k, v in stimuli[subset].items()) +
                                f" (published: {tx.PUBLISHED[subset]} = " +
                                " + ".join(str(getattr(s, subset)) for s in tx.STIMULI) + ")")
            _count_notes(subset, written, stimuli[subset], problems)
        if not slices:
            raise store.nothing_built(tx.TITLE, problems)
        store.write_manifest(staging, {
            "benchmark": tx.NAME, "format": FORMAT_VERSION, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": description, "licence": tx.LICENCE, "terms": tx.TERMS, "slices": slices,
            "totals": {"rows": sum(s["rows"] for s in slices.values()), **{k: s["rows"] for k, s in slices.items()}},
            "problems": [p.to_dict() for p in problems],
        })
    return report


def _count_notes(subset: str, written: int, per_stimulus: dict, problems: list) -> None:
    if written != tx.PUBLISHED[subset]:
        problems.append(store.Problem(subset, f"{written} items built, the published count is {tx.PUBLISHED[subset]}",
                                      scenario=subset, left_out=False))
    for stimulus in tx.STIMULI:
        expected = getattr(stimulus, subset)
        if per_stimulus[stimulus.slug] != expected:
            problems.append(store.Problem(subset, f"{per_stimulus[stimulus.slug]} items of type {stimulus.number} "
                                          f"({stimulus.slug}) built, the published count is {expected}",
                                          scenario=subset, left_out=False))


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
    not the official build (``build_command`` then says how it is made)."""
    return store.load_release(tx.NAME, tx.TITLE, selector, tx.Selector.parse, lambda sel: [sel.set], ensure_built,
                              data_root, directory, build_command,
                              lambda sel: ("stimulus", sel.stimulus.slug, "item") if sel.stimulus else None)
