"""Reading the rows of a labelled set's files, for :mod:`.sets`: CSV and JSONL rows with the line each starts on,
the label vocabularies, item images read from inside the file's folder, and a user's own file.

Contract: every problem names the file and line (``name.csv:12``); nothing is left out silently. Problems of the
rows' form (not CSV/JSON, missing fields, images, annotators' labels) are reported together in one
:class:`~lmms_safebench.errors.DataError`; once there are none, the checks every set shares (allowed gold labels,
unique ids, non-empty responses) report theirs together: they are :func:`.inputs.check_labelled_set`'s, given ids
that show the lines they were read from (:class:`RowId`).

A user's file (:func:`read_user_file`), CSV with a header or JSONL (one object per line):

- ``prompt``, ``response``, ``label`` (required). A label is ``safe``/``unsafe`` or ``0``/``1`` (1 unsafe: the
  "harm" protocol) or ``full_compliance``/``partial_refusal``/``full_refusal`` (the "refusal" protocol),
  case-insensitive; one file holds one protocol (the refusal one when any refusal class is present, unless
  the caller names it);
- ``id`` (optional; without the column, ids are ``line-<n>``; with it, every row needs one, unique);
- ``image`` (optional): a path relative to the file's folder. It is read only when its real path (links
  followed) is a regular file inside that folder and at most ``max_image_bytes`` large, and only when it
  decodes in full; ``~`` is not expanded;
- ``image_description``, ``category`` (optional text; empty is none);
- ``annotator_1``, ``annotator_2``... (CSV) or ``annotators`` (a JSON list): individual annotators' labels,
  empty or null where an annotator gave none (they give the human-human agreement, the ceiling for a judge).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from ..data import store
from ..errors import DataError
from .inputs import _fail

HARM = ("safe", "unsafe")  # code 1 (unsafe) is the positive class of the binary statistics
REFUSAL = ("full_compliance", "partial_refusal", "full_refusal")
PROTOCOLS = {"harm": HARM, "refusal": REFUSAL}
MAX_IMAGE_BYTES = 20 * 1024 * 1024

_USER_LABELS = {"safe": "safe", "0": "safe", "unsafe": "unsafe", "1": "unsafe", **{c: c for c in REFUSAL}}
_REQUIRED = ("prompt", "response", "label")
_ANNOTATOR_COLUMN = re.compile(r"annotator_?(\d+)")


class RowId(str):
    """An item id that also says where it was read: it compares and hashes as the id (so the shared duplicate
    check groups repeated ids), and its repr, which the shared checks print, names the file and line(s)."""

    where: str

    def __new__(cls, value: str, where: str):
        self = super().__new__(cls, value)
        self.where = where
        return self

    def __repr__(self) -> str:
        return f"{str.__repr__(self)} ({self.where})"


def row_ids(ids: list[str], places: list[str]) -> list[RowId]:
    """``ids`` as :class:`RowId`, each naming every place (``file:line``) that holds that id, so a duplicate
    shows all its lines."""
    where: dict[str, list[str]] = {}
    for item_id, place in zip(ids, places, strict=True):
        where.setdefault(item_id, []).append(place)
    return [RowId(i, ", ".join(where[i])) for i in ids]


def csv_rows(path: Path, required: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and the rows of a CSV file, each row with the line it starts on (a quoted field may span
    lines). A missing required column, a row with another number of fields than the header, or text that is
    not CSV is a DataError naming the file (and line)."""
    reader = csv.reader(io.StringIO(store.read_text(path), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: empty file; a header line is expected") from None
    except csv.Error as exc:
        raise DataError(f"{path}:1: not valid CSV ({exc})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}: no column {', '.join(map(repr, missing))} (header: {', '.join(header)})")
    rows, problems, previous = [], [], reader.line_num
    try:
        for record in reader:
            line, previous = previous + 1, reader.line_num
            if not record:  # a blank line
                continue
            if len(record) != len(header):
                problems.append(f"{path.name}:{line} has {len(record)} fields, the header has {len(header)}")
                continue
            rows.append((line, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        raise DataError(f"{path}:{previous + 1}: not valid CSV ({exc})") from None
    _fail(problems, str(path))
    return header, rows


def jsonl_rows(path: Path) -> list[tuple[int, dict]]:
    """The objects of a JSONL file with their line numbers (blank lines skipped)."""
    rows, problems = [], []
    for line, text in enumerate(store.read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{path.name}:{line} is not JSON ({exc.msg})")
            continue
        if not isinstance(value, dict):
            problems.append(f"{path.name}:{line} is a JSON {type(value).__name__}, not an object")
            continue
        rows.append((line, value))
    _fail(problems, str(path))
    return rows


def read_image(value: str, folder: Path, limit: int) -> bytes:
    """The bytes of the image ``value`` names, relative to ``folder`` (:func:`store.read_image_inside`: nothing
    outside ``folder``, links followed, nothing but a regular file, nothing larger than ``limit`` bytes is opened,
    and the bytes must decode as an image in full); ValueError naming ``value`` and saying why it is not read."""
    try:
        return store.read_image_inside(folder / value, folder, "the file's folder", limit, "max_image_bytes")
    except store.Refused as exc:
        raise ValueError(f"{value!r}: {exc}") from None


def user_label(value) -> str | None:
    """A user's label in the project's vocabulary; None for an empty value; an unknown value as it was written
    (the shared check reports it against the protocol's labels)."""
    if value is None:
        return None
    text = str(value).strip()
    return _USER_LABELS.get(text.lower(), text) if text else None


def _text(value) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _annotators(row: dict, header: list[str] | None) -> list:
    if header is None:  # JSONL
        value = row.get("annotators")
        return list(value) if isinstance(value, list) else []
    columns = sorted((int(m.group(1)), name) for name in header if (m := _ANNOTATOR_COLUMN.fullmatch(name)))
    return [row[name] for _, name in columns]


def read_user_file(path: Path, protocol: str | None, max_image_bytes: int) -> tuple[str, list[dict], list[RowId]]:
    """The rows of a user's labelled file as item fields (see the module docstring), the protocol, and the ids
    to check with. Problems of the rows' form (missing fields, images, annotators' labels) are one DataError."""
    if protocol is not None and protocol not in PROTOCOLS:
        raise DataError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header, rows = csv_rows(path, _REQUIRED)
    elif suffix in (".jsonl", ".ndjson"):
        header, rows = None, jsonl_rows(path)
    else:
        raise DataError(f"{path}: a labelled set is a .csv or .jsonl file")
    labels = [user_label(row.get("label")) for _, row in rows]
    protocol = protocol or ("refusal" if any(label in REFUSAL for label in labels) else "harm")
    allowed = PROTOCOLS[protocol]
    has_id = ("id" in header) if header is not None else any("id" in row for _, row in rows)
    problems, fields, ids, places = [], [], [], []
    for (line, row), label in zip(rows, labels, strict=True):
        where = f"{path.name}:{line}"
        absent = [k for k in _REQUIRED if row.get(k) is None]
        if absent:
            problems.append(f"{where} has no {', '.join(absent)}")
            continue
        item_id = str(row.get("id", "")).strip() if has_id and row.get("id") is not None else ""
        if has_id and not item_id:
            problems.append(f"{where} has no id (the file has an id column: every row needs one)")
        prompt, response = row["prompt"], row["response"]
        if not isinstance(prompt, str) or not prompt.strip():
            problems.append(f"{where} has an empty prompt")
        if not isinstance(response, str):
            problems.append(f"{where} has a response that is not text ({type(response).__name__})")
        image = None
        if row.get("image") is not None and not isinstance(row["image"], str):
            problems.append(f"{where} has an image that is not a path ({type(row['image']).__name__})")
        elif _text(row.get("image")):
            try:
                image = read_image(row["image"].strip(), path.parent, max_image_bytes)
            except ValueError as exc:
                problems.append(f"{where}: image {exc}")
        annotators = tuple(user_label(a) for a in _annotators(row, header))
        wrong = [a for a in annotators if a is not None and a not in allowed]
        if wrong:
            problems.append(f"{where} has annotator label(s) {wrong!r}, not one of {allowed!r}")
        ids.append(item_id or f"line-{line}")
        places.append(where)
        fields.append({"prompt": prompt, "response": response, "label": label, "image": image,
                       "image_description": _text(row.get("image_description")),
                       "category": _text(row.get("category")), "annotators": annotators})
    _fail(problems, str(path))
    return protocol, fields, row_ids(ids, places)
