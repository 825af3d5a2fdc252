"""SOURCE (``--images``): where the candidate images (and optional texts) come from.

- a folder: every image file under it (``.png .jpg .jpeg .webp .bmp .gif .tif .tiff``, sorted by path), with
  texts from ``captions.jsonl`` (``{"file": <path relative to the folder>, "text": ...}``; ``image``/``path`` and
  ``caption`` are accepted too), ``captions.csv`` (a header with the same names) or a sidecar ``<image>.txt``;
- a ``.parquet`` file: an image column (bytes, ``{"bytes", "path"}`` as ``datasets`` stores images, or a path
  relative to the file) and an optional text column;
- ``hub:<dataset id>`` (or an ``owner/name`` that is not a local path): a dataset read with
  ``datasets.load_dataset`` (split and revision from the config), same columns.

Nothing is decoded here: :class:`SourceItem.read` returns an image's bytes when the ingest stage asks. Each
item's id is a hash of where it comes from (its path, or its row), so a rerun on the same source finds its
finished items again. Problems that do not stop the run (a caption line that cannot be read, a caption for a
file that is not there) are returned, named by file and line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...errors import DataError
from .config import SourceSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
TEXT_COLUMNS = ("text", "caption", "question", "prompt", "description")
CAPTION_FILES = ("captions.jsonl", "captions.csv")


@dataclass(frozen=True)
class SourceItem:
    id: str
    origin: str  # a path relative to the folder, or "row N"
    text: str | None
    read: Callable[[], bytes]  # the image's bytes; OSError / ValueError when they cannot be had


@dataclass
class Source:
    kind: str  # "folder", "parquet" or "hub"
    where: str
    items: list[SourceItem]
    image_column: str | None = None
    text_column: str | None = None
    problems: list[dict] = field(default_factory=list)  # {"where", "what"}

    def describe(self) -> dict:
        return {"kind": self.kind, "where": self.where, "items": len(self.items), "image_column": self.image_column,
                "text_column": self.text_column}


def item_id(origin: str) -> str:
    return "img-" + hashlib.sha1(origin.encode("utf-8")).hexdigest()[:12]


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


def _limit(items: list[SourceItem], options: SourceSpec) -> list[SourceItem]:
    return items[: options.max_images] if options.max_images else items


# ------------------------------------------------------------------------------------------ a folder

def _folder(root: Path, options: SourceSpec) -> Source:
    problems: list[dict] = []
    files = sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(root).parts)),
                   key=lambda p: p.relative_to(root).as_posix())
    captions = _captions(root, problems) if options.text_column is not None else {}
    for name in captions:
        if not (root / name).is_file():
            problems.append({"where": name, "what": "a caption names a file that is not in the folder; ignored"})
    items = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        text = captions.get(relative)
        sidecar = path.with_suffix(".txt")
        if text is None and options.text_column is not None and sidecar.is_file():
            try:
                text = sidecar.read_text(encoding="utf-8-sig").strip() or None
            except (OSError, UnicodeDecodeError) as exc:
                problems.append({"where": sidecar.relative_to(root).as_posix(), "what": f"unreadable caption ({exc})"})
        items.append(SourceItem(item_id(relative), relative, text, path.read_bytes))
    if not files:
        raise DataError(f"--images {root}: no image files in this folder (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return Source("folder", str(root), _limit(items, options), None,
                  "captions" if any(i.text for i in items) else None, problems)


def _caption_entry(record: dict) -> tuple[str | None, str | None]:
    name = next((record.get(k) for k in ("file", "image", "path") if isinstance(record.get(k), str)), None)
    text = next((record.get(k) for k in ("text", "caption") if isinstance(record.get(k), str)), None)
    return name, text


def _captions(root: Path, problems: list[dict]) -> dict[str, str]:
    out: dict[str, str] = {}
    jsonl, table = root / CAPTION_FILES[0], root / CAPTION_FILES[1]
    if jsonl.is_file():
        try:
            lines = jsonl.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append({"where": jsonl.name, "what": f"unreadable ({exc}); no captions read from it"})
            lines = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append({"where": f"{jsonl.name}:{number}", "what": f"not JSON ({exc.msg}); line ignored"})
                continue
            name, text = _caption_entry(record) if isinstance(record, dict) else (None, None)
            if not name or text is None:
                problems.append({"where": f"{jsonl.name}:{number}",
                                 "what": "needs a 'file' (or 'image'/'path') and a 'text' (or 'caption') string; ignored"})
                continue
            out[Path(name).as_posix().lstrip("./")] = text.strip()
    if table.is_file():
        try:
            rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8-sig"))))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            problems.append({"where": table.name, "what": f"unreadable ({exc}); no captions read from it"})
            rows = []
        for number, row in enumerate(rows, 2):
            name, text = _caption_entry(row)
            if not name or text is None:
                problems.append({"where": f"{table.name}:{number}",
                                 "what": "needs a 'file' (or 'image'/'path') and a 'text' (or 'caption') column; ignored"})
                continue
            out.setdefault(Path(name).as_posix().lstrip("./"), text.strip())
    return out


# ------------------------------------------------------------------------------------------ parquet and hub

def _parquet(path: Path, options: SourceSpec) -> Source:
    import datasets

    from ...data import store

    try:
        with store.quiet_datasets():
            table = datasets.Dataset.from_parquet(str(path))
    except Exception as exc:  # pyarrow raises several types for a file that is not parquet
        raise DataError(f"--images {path}: cannot read it as parquet ({type(exc).__name__}: {exc})") from None
    return _table("parquet", str(path), table, options, path.parent)


def _hub(dataset_id: str, options: SourceSpec, also: str = "") -> Source:
    import datasets

    try:
        table = datasets.load_dataset(dataset_id, split=options.split, revision=options.revision)
    except Exception as exc:  # missing dataset, no network, gated, bad split: all say so in their message
        raise DataError(f"--images hub:{dataset_id}: cannot load split {options.split!r} "
                        f"({type(exc).__name__}: {exc}){also}") from None
    return _table("hub", f"hub:{dataset_id}", table, options, None)


def _table(kind: str, where: str, table, options: SourceSpec, base: Path | None) -> Source:
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
    texts = table[text_column][:count] if text_column else [None] * count
    lock = threading.Lock()

    def reader(row: int) -> Callable[[], bytes]:
        def read() -> bytes:
            with lock:  # one Arrow read at a time; decoding happens outside
                value = table[row][image_column]
            return _image_bytes(value, base)

        return read

    items = [SourceItem(item_id(f"row {row}"), f"row {row}",
                        texts[row].strip() if isinstance(texts[row], str) and texts[row].strip() else None,
                        reader(row)) for row in range(count)]
    if not items:
        raise DataError(f"--images {where}: no rows")
    return Source(kind, where, items, image_column, text_column)


def _image_bytes(value, base: Path | None) -> bytes:
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str) and value:
        path = Path(value).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return path.read_bytes()
    raise ValueError(f"no image in this row (the image cell holds {type(value).__name__})")
