"""SOURCE (``--images``): where the candidate images (and optional texts) come from.

- a folder: every image file under it (``.png .jpg .jpeg .webp .bmp .gif .tif .tiff``, sorted by path), with
  texts from ``captions.jsonl`` (``{"file": <path relative to the folder>, "text": ...}``; ``image``/``path`` and
  ``caption`` are accepted too), ``captions.csv`` (a header with the same names) or a sidecar ``<image>.txt``;
- a ``.parquet`` file: an image column (bytes, ``{"bytes", "path"}`` as ``datasets`` stores images, or a path
  relative to the file) and an optional text column;
- ``hub:<dataset id>`` (or an ``owner/name`` that is not a local path): a dataset read with
  ``datasets.load_dataset`` (split and revision from the config), same columns.

What is read (the rule ``build`` follows, :func:`...data.store.outside`): every file, whether an image, a
caption file, a sidecar or a table's path cell, is resolved (symlinks followed) and read only when it is a
regular file inside the source's folder (the folder; a parquet file's folder; a hub dataset's local folder, or
the caches ``datasets`` and the hub download into) and at most ``source.max_file_mb`` large. A parquet path cell
must be relative; ``~`` is never expanded. Anything else is never opened: it is left out and named, with the
reason, in :attr:`Source.problems`. Texts longer than ``source.max_text_chars`` are cut (a note).

Identity: each item's id hashes where it comes from (its path, or its row), the SHA-256 of its image's bytes and
its text, so a rerun finds its finished items again only when they are the same; a picture edited in place, a
changed caption or another folder gives new ids, and those items are processed anew (:func:`changes` says
what differs from the last run). :meth:`SourceItem.read` returns the image's bytes when the ingest stage asks
(nothing is decoded here), and refuses bytes that differ from those the id was made from.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...data import store
from ...errors import DataError
from ..core.problems import NOTE, Problem
from .config import SourceSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
TEXT_COLUMNS = ("text", "caption", "question", "prompt", "description")
CAPTION_FILES = ("captions.jsonl", "captions.csv")


@dataclass(frozen=True)
class SourceItem:
    id: str
    origin: str  # a path relative to the folder, or "row N"
    text: str | None
    digest: str  # SHA-256 of the image's bytes
    read: Callable[[], bytes]  # the image's bytes; OSError / ValueError when they cannot be had


@dataclass
class Source:
    kind: str  # "folder", "parquet" or "hub"
    where: str
    items: list[SourceItem]
    image_column: str | None = None
    text_column: str | None = None
    problems: list[Problem] = field(default_factory=list)  # left out (never read) and notes, named

    def describe(self) -> dict:
        return {"kind": self.kind, "where": self.where, "items": len(self.items), "image_column": self.image_column,
                "text_column": self.text_column, "left_out": sum(p.left_out for p in self.problems)}

    def record(self) -> dict:
        """What a rerun compares against (:func:`changes`): where, and each item's picture and text."""
        return {"where": self.where, "items": {i.origin: [i.digest, _sha(i.text or "")] for i in self.items}}


def item_id(origin: str, digest: str, text: str | None) -> str:
    return "img-" + hashlib.sha1(f"{origin}\0{digest}\0{text or ''}".encode()).hexdigest()[:12]


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def changes(earlier: dict | None, source: Source) -> dict:
    """How ``source`` differs from the one recorded by the last run (``earlier``: its :meth:`Source.record`):
    ``{"where": [then, now]?, "pictures_changed", "texts_changed", "new", "gone": [origins]}``; empty when it is
    the same source."""
    if not earlier:
        return {}
    now, then = source.record()["items"], earlier.get("items", {})
    out: dict = {}
    if earlier.get("where") != source.where:
        out["where"] = [earlier.get("where"), source.where]
    kinds = {"pictures_changed": [o for o in now if o in then and then[o][0] != now[o][0]],
             "texts_changed": [o for o in now if o in then and then[o][0] == now[o][0] and then[o][1] != now[o][1]],
             "new": [o for o in now if o not in then], "gone": [o for o in then if o not in now]}
    out.update({k: v for k, v in kinds.items() if v})
    return out


def describe_changes(change: dict, limit: int = 5) -> str:
    """One line for the console: what changed since the last run and what that means for its finished work."""
    if not change:
        return ""

    def named(key: str, label: str) -> str:
        items = change.get(key, [])
        shown = ", ".join(items[:limit]) + (f", and {len(items) - limit} more" if len(items) > limit else "")
        return f"{len(items)} {label} ({shown})" if items else ""

    parts = [f"--images was {change['where'][0]}, now {change['where'][1]}"] if "where" in change else []
    parts += [p for p in (named("pictures_changed", "picture(s) changed"), named("texts_changed", "text(s) changed"),
                          named("new", "new"), named("gone", "no longer in the source")) if p]
    return ("the source differs from the last run's: " + "; ".join(parts) + ". Changed and new items are processed "
            "anew (their ids hash their content); items no longer in the source are not in the pool; unchanged "
            "items keep their finished work")


# ------------------------------------------------------------------------------------------ reading files

# Files are read by the store's shared check (inside the named folder, a regular file, at most source.max_file_mb);
# Refused is its error, re-exported here for this module's callers.
Refused = store.Refused
LIMIT_SETTING = "source.max_file_mb"


def read_inside(path: Path, root: Path, limit: int, named: str) -> bytes:
    """:func:`store.read_inside` with the limit named as ``source.max_file_mb``."""
    return store.read_inside(path, root, named, limit, LIMIT_SETTING)


def _limit_bytes(options: SourceSpec) -> int:
    return int(options.max_file_mb * 1024 * 1024)


def _same(data: bytes, digest: str, origin: str) -> bytes:
    if _sha(data) != digest:
        raise ValueError(f"{origin} changed after the source was read; run again to process it as it is now")
    return data


def _text(value: str | None, where: str, options: SourceSpec, problems: list[Problem]) -> str | None:
    """A stripped text, cut to ``source.max_text_chars`` (noted): a text is sent whole to the writer."""
    text = value.strip() if isinstance(value, str) else None
    if text and len(text) > options.max_text_chars:
        problems.append(Problem(where, f"a text of {len(text)} characters, cut to the first {options.max_text_chars} "
                                       "(source.max_text_chars)", kind=NOTE))
        text = text[: options.max_text_chars].rstrip()
    return text or None


# ------------------------------------------------------------------------------------------ opening a source

def open_source(spec: str, options: SourceSpec) -> Source:
    """The items of SOURCE; DataError naming the source when it is missing or has no usable image column."""
    text = str(spec).strip()
    if not text:
        raise DataError("--images: empty; give a folder of images, a .parquet file or hub:<dataset id>")
    if text.startswith("hub:"):
        return _hub(text[4:], options)
    path = Path(text).expanduser()
    if path.is_dir():
        source = _folder(path, options)
    elif path.is_file():
        if path.suffix.lower() != ".parquet":
            raise DataError(f"--images {text}: a file that is not .parquet; give a folder of images, a .parquet file "
                            "or hub:<dataset id>")
        source = _parquet(path, options)
    elif "/" in text and not text.startswith((".", "/", "~")) and text.count("/") == 1:
        return _hub(text, options, also=" (there is no such local file or folder either)")
    else:
        raise DataError(f"--images {text}: no such file or folder (for a hub dataset write hub:<owner/name>)")
    return source


# ------------------------------------------------------------------------------------------ a folder

def _listing(root: Path, problems: list[Problem]) -> list[Path]:
    """The image files under ``root`` (hidden names skipped), in path order. A linked folder is not entered: one
    leading outside is named as left out, one inside is read where it really is."""
    found = []
    for here, folders, files in os.walk(root):  # followlinks=False
        here = Path(here)
        entered = []
        for name in sorted(folders):
            if name.startswith("."):
                continue
            path = here / name
            if not path.is_symlink():
                entered.append(name)
                continue
            real = store.outside(path, root)
            relative = path.relative_to(root).as_posix()
            if real is not None:
                problems.append(Problem(relative, f"a link to the folder {real}, outside --images {root}; not read"))
            else:
                problems.append(Problem(relative, "a link to a folder inside --images; not entered (its files are "
                                                  "read where they are)", kind=NOTE))
        folders[:] = entered
        found += [here / name for name in files
                  if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _folder(root: Path, options: SourceSpec) -> Source:
    problems: list[Problem] = []
    limit, named = _limit_bytes(options), f"--images {root}"
    files = _listing(root, problems)
    if not files:
        raise DataError(f"--images {root}: no image files in this folder (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    listed = {p.relative_to(root).as_posix() for p in files}
    captions = _captions(root, options, problems) if options.text_column is not None else {}
    for name in captions:
        if name not in listed:
            problems.append(Problem(name, "a caption names a file that is not in the folder; ignored"))
    items = []
    for path in files:
        if options.max_images and len(items) >= options.max_images:
            break
        relative = path.relative_to(root).as_posix()
        try:
            digest = _sha(read_inside(path, root, limit, named))
        except Refused as exc:
            problems.append(Problem(relative, str(exc)))
            continue
        text = captions.get(relative)
        sidecar = path.with_suffix(".txt")
        if text is None and options.text_column is not None and os.path.lexists(sidecar):
            where = sidecar.relative_to(root).as_posix()
            try:
                text = _text(_decode(read_inside(sidecar, root, limit, named)), where, options, problems)
            except (Refused, UnicodeDecodeError) as exc:
                problems.append(Problem(where, f"caption not read: {exc}"))

        def read(path=path, digest=digest, relative=relative) -> bytes:
            return _same(read_inside(path, root, limit, named), digest, relative)

        items.append(SourceItem(item_id(relative, digest, text), relative, text, digest, read))
    if not items:
        why = store.describe_problems([p.to_dict() for p in problems if p.left_out])
        raise DataError(f"--images {root}: none of its image files can be read: {why}")
    return Source("folder", str(root), items, None, "captions" if any(i.text for i in items) else None, problems)


def _decode(data: bytes) -> str:
    return codecs.decode(data, "utf-8-sig")


def _caption_entry(record: dict) -> tuple[str | None, str | None]:
    name = next((record.get(k) for k in ("file", "image", "path") if isinstance(record.get(k), str)), None)
    text = next((record.get(k) for k in ("text", "caption") if isinstance(record.get(k), str)), None)
    return name, text


def _caption_file(path: Path, root: Path, options: SourceSpec, problems: list[Problem]) -> str | None:
    if not os.path.lexists(path):
        return None
    try:
        return _decode(read_inside(path, root, _limit_bytes(options), f"--images {root}"))
    except (Refused, UnicodeDecodeError) as exc:
        problems.append(Problem(path.name, f"no captions read from it: {exc}"))
        return None


def _caption_records(root: Path, options: SourceSpec, problems: list[Problem]):
    """``(where, record, what it needs, whether it replaces an earlier caption)`` for each entry of the caption
    files: ``captions.jsonl``'s lines (a later line replaces an earlier one), then ``captions.csv``'s rows (which
    never replace one already read)."""
    jsonl, table = root / CAPTION_FILES[0], root / CAPTION_FILES[1]
    for number, line in enumerate((_caption_file(jsonl, root, options, problems) or "").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(f"{jsonl.name}:{number}", f"not JSON ({exc.msg}); line ignored"))
            continue
        yield f"{jsonl.name}:{number}", record, "string", True
    content = _caption_file(table, root, options, problems)
    try:
        rows = list(csv.DictReader(io.StringIO(content or "")))
    except csv.Error as exc:
        problems.append(Problem(table.name, f"unreadable ({exc}); no captions read from it"))
        rows = []
    for number, row in enumerate(rows, 2):
        yield f"{table.name}:{number}", row, "column", False


def _captions(root: Path, options: SourceSpec, problems: list[Problem]) -> dict[str, str]:
    out: dict[str, str] = {}
    for where, record, what, replaces in _caption_records(root, options, problems):
        name, text = _caption_entry(record) if isinstance(record, dict) else (None, None)
        if not name or text is None:
            problems.append(Problem(where, f"needs a 'file' (or 'image'/'path') and a 'text' (or 'caption') {what}; "
                                    "ignored"))
            continue
        text = _text(text, where, options, problems)
        key = Path(name).as_posix().lstrip("./")
        if text and (replaces or key not in out):
            out[key] = text
    return out


# ------------------------------------------------------------------------------------------ parquet and hub

@dataclass(frozen=True)
class Places:
    """Where a table's path cells may point: inside one of ``roots``; relative cells are resolved against
    ``base`` (none: refused); absolute cells only when ``absolute``."""

    roots: tuple[Path, ...]
    base: Path | None
    absolute: bool
    named: str  # the folder(s), as messages name them


def _parquet(path: Path, options: SourceSpec) -> Source:
    import datasets

    try:
        with store.quiet_datasets():
            table = datasets.Dataset.from_parquet(str(path))
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise DataError(f"--images {path}: cannot read it as parquet ({type(exc).__name__}: {exc})") from None
    folder = path.resolve().parent
    return _table("parquet", str(path), table, options,
                  Places((folder,), folder, False, f"the parquet file's folder {folder}"))


def _hub(dataset_id: str, options: SourceSpec, also: str = "") -> Source:
    import datasets

    try:
        table = datasets.load_dataset(dataset_id, split=options.split, revision=options.revision)
    except Exception as exc:  # missing dataset, no network, gated, bad split: all say so in their message
        raise DataError(f"--images hub:{dataset_id}: cannot load split {options.split!r} "
                        f"({type(exc).__name__}: {exc}){also}") from None
    return _table("hub", f"hub:{dataset_id}", table, options, hub_places(dataset_id))


def hub_places(dataset_id: str) -> Places:
    """A hub dataset's path cells: inside its folder when it is local, else inside the caches ``datasets`` and the
    hub download into (where the files it fetched are, and nowhere else); a relative cell needs a local folder."""
    import datasets
    from huggingface_hub import constants

    local = Path(dataset_id).expanduser()
    if local.is_dir():
        return Places((local.resolve(),), local.resolve(), True, f"the dataset's folder {local.resolve()}")
    caches = (Path(datasets.config.HF_DATASETS_CACHE), Path(constants.HF_HUB_CACHE))
    return Places(caches, None, True, "the datasets and hub caches (" + ", ".join(map(str, caches)) + ")")


def _table(kind: str, where: str, table, options: SourceSpec, places: Places) -> Source:
    import datasets

    columns = list(table.column_names)
    image_column = options.image_column
    if image_column not in columns:
        raise DataError(f"--images {where}: no image column {image_column!r} (columns: {', '.join(columns) or 'none'}); "
                        "set source.image_column in the config")
    text_column = options.text_column
    if text_column == "auto":
        text_column = next((c for c in TEXT_COLUMNS if c in columns), None)
    elif text_column is not None and text_column not in columns:
        raise DataError(f"--images {where}: no text column {text_column!r} (columns: {', '.join(columns)}); set "
                        "source.text_column in the config (null for none, auto to detect)")
    if isinstance(table.features.get(image_column), datasets.Image):
        table = table.cast_column(image_column, datasets.Image(decode=False))  # bytes, not decoded PIL images
    keep = [image_column] + ([text_column] if text_column else [])
    table = table.select_columns(keep)
    count = len(table) if not options.max_images else min(len(table), options.max_images)
    if not count:
        raise DataError(f"--images {where}: no rows")
    lock = threading.Lock()
    limit = _limit_bytes(options)
    problems: list[Problem] = []

    def reader(row: int, digest: str) -> Callable[[], bytes]:
        def read() -> bytes:
            with lock:  # one Arrow read at a time; decoding happens outside
                value = table[row][image_column]
            return _same(_image_bytes(value, places, limit), digest, f"row {row}")

        return read

    items = []
    batch = 64  # rows whose bytes are held at once while hashing
    for start in range(0, count, batch):
        rows = table[start:min(count, start + batch)]
        for offset, value in enumerate(rows[image_column]):
            row = start + offset
            try:
                digest = _sha(_image_bytes(value, places, limit))
            except ValueError as exc:  # Refused too
                problems.append(Problem(f"row {row}", str(exc), field=image_column))
                continue
            text = _text(rows[text_column][offset], f"row {row}", options, problems) if text_column else None
            items.append(SourceItem(item_id(f"row {row}", digest, text), f"row {row}", text, digest,
                                    reader(row, digest)))
    if not items:
        raise DataError(f"--images {where}: no row's image can be read: "
                        f"{store.describe_problems([p.to_dict() for p in problems])}")
    return Source(kind, where, items, image_column, text_column, problems)


def _image_bytes(value, places: Places, limit: int) -> bytes:
    if isinstance(value, dict):  # how `datasets` stores an image: its bytes, else where the file is
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) > limit:
            raise Refused(f"{len(value)} bytes, more than {LIMIT_SETTING} allows ({limit} bytes); left out")
        return bytes(value)
    if isinstance(value, str) and value:
        path = _cell_path(value, places)
        return read_inside(path, _root_of(path, places), limit, places.named)
    raise ValueError(f"no image in this row (the image cell holds {type(value).__name__})")


def _cell_path(value: str, places: Places) -> Path:
    if value.startswith("~"):
        raise Refused(f"the path {value!r} starts with '~', which is not expanded; not read")
    path = Path(value)
    if path.is_absolute():
        if not places.absolute:
            raise Refused(f"the path {value!r} is absolute; give paths relative to {places.named}; not read")
        return path
    if places.base is None:
        raise Refused(f"the path {value!r} is relative, and this dataset has no folder to resolve it in; not read")
    return places.base / path


def _root_of(path: Path, places: Places) -> Path:
    """The root ``path`` is inside (the first when none: then :func:`read_inside` names it outside)."""
    return next((root for root in places.roots if store.outside(path, root) is None), places.roots[0])
