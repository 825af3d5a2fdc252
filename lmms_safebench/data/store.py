"""The local data folder: one directory per benchmark holding per-scenario parquet files (images
embedded) and a ``manifest.json`` that says what was built, from which source, with which options.

Shared by the builders: :class:`Problem` (what a build found wrong, named by file, record id and field;
``left_out`` when something of the source is not in the built data, otherwise a note), the checks every
input goes through (plain record ids, paths that stay inside the folder the user named, images and audio
decoded in full), the data-folder check, and :class:`StagingDir` (a build is swapped in only when it ends).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loguru import logger

from .. import paths
from ..errors import DataError, DataNotBuiltError
from ..settings import Settings
from ..settings import current as current_settings

MANIFEST = "manifest.json"


def benchmark_dir(benchmark: str, root: Path | None = None) -> Path:
    return Path(root or paths.data_dir()) / benchmark


def read_manifest(directory: Path) -> dict | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is unreadable ({exc}); rebuild the dataset") from None


@dataclass(frozen=True)
class Problem:
    """Something a build found wrong. ``left_out``: a record, a field, a file, a scenario or a set of what
    the user gave (or asked for) is not in the built data, and ``build`` exits 1. Otherwise it is a note
    (a count that differs from the published one, say), which does not change the exit status."""

    where: str  # the file or folder at fault (or the scenario, for notes about counts)
    what: str
    id: str | None = None  # the record's id, as the source spells it
    field: str | None = None  # the field (upstream name), media column or "id"
    scenario: str | None = None  # the scenario (or slice) it belongs to: a key of the manifest's scenarios (slices)
    left_out: bool = True

    @property
    def kind(self) -> str:
        return "left_out" if self.left_out else "note"

    def to_dict(self) -> dict:
        out = asdict(self)
        del out["left_out"]
        return {**out, "kind": self.kind}

    def __str__(self) -> str:
        label = f"{self.where}" + (f", id {self.id!r}" if self.id is not None else "") + \
            (f", field {self.field!r}" if self.field is not None else "")
        return f"{'LEFT OUT' if self.left_out else 'NOTE'} {label}: {self.what}"


def problem_lines(problems: list[Problem], limit: int = 50) -> list[str]:
    """Summary lines: what was left out first, then notes; the manifest lists them all."""
    ordered = [p for p in problems if p.left_out] + [p for p in problems if not p.left_out]
    lines = [f"  {p}" for p in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"  ... and {len(ordered) - limit} more (all listed under 'problems' in manifest.json)")
    left_out = sum(p.left_out for p in problems)
    if left_out:
        lines.append(f"  {left_out} problem(s) left something out of the build (exit status 1)")
    return lines


def describe_problems(problems: list[dict], limit: int = 5) -> str:
    """Manifest problems (dicts) in one line, for error messages."""
    if not problems:
        return "none recorded"
    shown = []
    for p in problems[:limit]:
        label = p.get("where", "?") + (f", id {p['id']!r}" if p.get("id") is not None else "") + \
            (f", field {p['field']!r}" if p.get("field") is not None else "")
        shown.append(f"{label}: {p.get('what')}")
    more = f"; and {len(problems) - limit} more in manifest.json" if len(problems) > limit else ""
    return "; ".join(shown) + more


# Record ids become file names (`<id>.jpg`): only plain names, never a path.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def is_plain_id(value: str) -> bool:
    return _PLAIN_ID.fullmatch(value) is not None


PLAIN_ID_RULE = "not a plain name (1-100 letters, digits, '_' or '-'), so it cannot name a file"


def outside(path: Path, root: Path) -> Path | None:
    """Where ``path`` really is (symlinks followed) when that is outside ``root``; None when it is inside."""
    real = Path(os.path.realpath(path))
    return None if real.is_relative_to(os.path.realpath(root)) else real


def read_text(path: Path) -> str:
    """A UTF-8 text file (a BOM is allowed); DataError naming the file when it cannot be read or is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                        "save it as UTF-8") from None


def decode_image(data: bytes) -> tuple[int, int]:
    """Decode every pixel (``verify()`` alone passes truncated files); raise ValueError when that fails."""
    from PIL import Image, ImageFile, UnidentifiedImageError  # heavy for the many callers that decode no image

    if not data:
        raise ValueError("the file is empty")
    # A process-wide switch some libraries turn on; a truncated file must fail here, not mid-run.
    lenient, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            size = image.size
    except UnidentifiedImageError:
        raise ValueError("not in an image format Pillow can read") from None
    except Exception as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    if not size[0] or not size[1]:
        raise ValueError(f"the image is {size[0]}x{size[1]} pixels")
    return size


def decode_audio(data: bytes) -> int:
    """Decode the whole file (the header alone can promise frames that are not there); the frame count."""
    import soundfile  # a C library behind it: only when audio is decoded

    if not data:
        raise ValueError("the file is empty")
    try:
        samples, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if len(samples) == 0:
        raise ValueError("no audio frames (the file ends after its header)")
    return len(samples)


def data_root(root: str | Path | None) -> Path:
    """The data folder a build writes into, created if needed. A path that is a file, or a folder that
    cannot be created or written, is a :class:`DataError` naming the option (or variable) it came from."""
    if root is not None:
        option, folder = "--data-dir", Path(root).expanduser()
    elif current_settings().data_dir != Settings.from_env({}).data_dir:
        option, folder = "SAFEBENCH_DATA=", paths.data_dir()
    else:
        option, folder = "the default data folder", paths.data_dir()
    named = f"{option}{'' if option.endswith('=') else ' '}{folder}"
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{named}: this is a file, not a folder; name a folder to build into")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{named}: cannot create this folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{named}: this folder is not writable")
    return folder


def check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise DataError(f"{target} is a file; the dataset is built into a folder of that name: move the file away")


class StagingDir:
    """Build into a temporary sibling folder and swap it in at the end, so a failed or interrupted
    build never leaves a half-written dataset where tasks would read it."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.path: Path | None = None

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}-", dir=self.target.parent))
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        backup = None
        if self.target.exists():
            backup = self.target.with_name(f".{self.target.name}-old-{os.getpid()}")
            os.replace(self.target, backup)
        os.replace(self.path, self.target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        return False


def ensure_built(directory: Path, what: str, source: str, build, how: str) -> dict:
    """The manifest in ``directory``. When it is missing and the network may be used, ``build()`` from
    ``source`` first; otherwise (or when that fails) raise :class:`DataNotBuiltError` with ``how`` to build it."""
    manifest = read_manifest(directory)
    if manifest is not None:
        return manifest
    if not paths.offline():
        logger.info(f"{what} is not built in {directory}; building it from {source}")
        try:
            build()
            return read_manifest(directory)
        except DataError as exc:
            reason = f"building it from {source} failed: {exc}"
    else:
        reason = "offline mode is on, so it was not downloaded"
    raise DataNotBuiltError(f"{what} is not built in {directory} ({reason}).\nBuild it with:  {how}\n"
                            "(SAFEBENCH_DATA chooses the data folder.)")


@contextlib.contextmanager
def quiet_datasets():
    """One progress bar per build, not one per parquet file written by ``datasets``."""
    import datasets  # heavy: only a build gets here

    was_enabled = datasets.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def media_columns(docs) -> list[str]:
    """The columns of a ``datasets.Dataset`` that hold images or audio (by feature type): left out where only the text
    is read, so that no medium is decoded."""
    import datasets  # heavy: only callers that already hold a dataset get here

    return [name for name, feature in docs.features.items()
            if isinstance(feature, datasets.Image) or getattr(feature, "dtype", None) == "binary"]


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``path`` whole or not at all (a temporary file of this process and thread, renamed over it): a kill never
    leaves a half-written file that a rerun would take for a finished one, and a reader never sees half of one."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_manifest(directory: Path, manifest: dict) -> None:
    """Write ``manifest.json`` whole (:func:`atomic_write`): every rewrite is a new file, so the registry, which keeps
    a generated benchmark's adapter while the file it was built from is unchanged, sees it."""
    atomic_write(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def download(url: str, target: Path, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``target`` (atomically); an existing file is reused."""
    if target.exists() and target.stat().st_size > 0:
        return target
    if paths.offline():
        raise DataError(f"offline mode is on (SAFEBENCH_OFFLINE / HF_HUB_OFFLINE), cannot download {url}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
    os.replace(tmp, target)
    return target


# ------------------------------------------------------------------------------------------ upstream releases
# Helpers of the builders that read an upstream release as its authors lay it out (MOSSBench, MSSBench, XSTest).

@dataclass(frozen=True)
class Source:
    """What ``--source`` names: a remote (``kind`` such as ``github`` or ``hub``, ``location`` its pinned commit or
    revision) or a local file or folder (``kind`` ``local``, ``location`` its resolved path)."""

    kind: str
    location: str


def parse_source(spec: str | None, remotes: dict[str, str]) -> Source:
    """``--source`` as given: ``<kind>`` or ``<kind>@<pin>`` for a remote kind of ``remotes`` (kind -> its pinned
    default; the first one is what no ``--source`` means), or an existing local file or folder."""
    spec = (spec or next(iter(remotes))).strip()
    kind, at, pin = spec.partition("@")
    if kind in remotes:
        pin = pin.strip() if at else remotes[kind]
        # The pin names a folder of the download cache: a commit, branch or tag name, never a way out of it.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}", pin) or ".." in pin:
            raise DataError(f"--source {spec!r}: expected {kind}@<commit, branch or tag> (letters, digits, '.', '_', "
                            "'-', '/')")
        return Source(kind, pin)
    path = Path(spec).expanduser()
    if path.exists():
        return Source("local", str(path.resolve()))
    forms = ", ".join(f"{k}, {k}@<pin>" for k in remotes)
    raise DataError(f"--source {spec!r}: no such file or folder, and not one of: {forms}")


def github_raw_url(repo: str, commit: str, path: str) -> str:
    """Where a file of ``repo`` at ``commit`` is downloaded from: ``<base>/<repo>/<commit>/<path>``;
    SAFEBENCH_GITHUB_RAW replaces the base (a mirror, or a file:// copy for offline use)."""
    return f"{current_settings().github_raw}/{repo}/{commit}/{path}"


class KeyedObject(dict):
    """A JSON object that remembers the keys it repeats (``repeated``: key -> count), which plain
    ``json.loads`` would silently collapse to the last copy."""

    repeated: dict

    @classmethod
    def from_pairs(cls, pairs) -> "KeyedObject":
        obj, counts = cls(pairs), {}
        for key, _ in pairs:
            counts[key] = counts.get(key, 0) + 1
        obj.repeated = {key: n for key, n in counts.items() if n > 1}
        return obj


def json_kind(value) -> str:
    """How a JSON value is named in a problem: ``text``, ``a number``, ``a list``, ``an object``, ``null``, ..."""
    for kind, name in ((bool, "true/false"), (int, "a number"), (float, "a number"), (list, "a list"),
                       (dict, "an object"), (str, "text")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def keyed_records(raw: dict, problem, noun: str = "record", id_field: str = "id"):
    """The ``(key, record)`` pairs of a JSON object keyed by record id (read by :func:`read_json`) whose key appears
    once in the file, is a plain name and holds an object. Every other key is left out: ``problem(key, field, what)``
    is called for it (``field`` is ``id_field``, or None when the record is not an object)."""
    for key, record in raw.items():
        repeated = getattr(raw, "repeated", {}).get(key)
        if repeated:
            problem(key, id_field, f"appears {repeated} times in the file; every copy is left out (which one is meant "
                                   "is ambiguous)")
        elif not is_plain_id(key):
            problem(key, id_field, f"{PLAIN_ID_RULE}; the {noun} is left out")
        elif not isinstance(record, dict):
            problem(key, None, f"the {noun} is {json_kind(record)}, not an object; it is left out")
        else:
            yield key, record


def read_json(path: Path):
    """Parsed JSON whose objects are :class:`KeyedObject` instances; DataError naming ``file:line:column`` when it
    is not JSON."""
    text = read_text(path)
    try:
        return json.loads(text, object_pairs_hook=KeyedObject.from_pairs)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None


def located(exc: Exception, path: Path) -> tuple[str, str]:
    """An error about ``path`` split into where (``file``, or ``file:line[:column]`` when the message says) and
    what, for a :class:`Problem`."""
    text = str(exc)
    match = re.match(r"((?::\d+)*): ", text.removeprefix(str(path))) if text.startswith(str(path)) else None
    if match is None:
        return str(path), text
    return str(path) + match.group(1), text[len(str(path)) + match.end():]


class Refused(ValueError):
    """A file that is not read; the message says why and names no file (the caller names it)."""


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def read_inside(path: Path, root: Path, named: str, limit: int | None = None, cap: str = "the limit") -> bytes:
    """The bytes of ``path`` when it is a regular file whose real path is inside ``root`` and, when ``limit`` is
    given, of at most ``limit`` bytes; :class:`Refused` saying why not, before anything is opened. ``named`` says
    which folder ``root`` is (``--source /data``), ``cap`` which setting gives ``limit`` (``source.max_file_mb``)."""
    real = outside(path, root)
    if real is not None:
        raise Refused(f"resolves to {real}, outside {named}; not read")
    try:
        info = os.stat(path)  # follows the link; stat opens nothing
    except OSError as exc:
        raise Refused(f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"not a regular file ({_file_type(info.st_mode)}); not read")
    if limit is not None and info.st_size > limit:
        raise Refused(f"{info.st_size} bytes, more than {cap} allows ({limit} bytes); not read")
    # O_NOFOLLOW and a second check on the open file: a link swapped in after the checks is not followed.
    try:
        fd = os.open(os.path.realpath(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise Refused(f"cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise Refused("not a regular file; not read")
        data = handle.read() if limit is None else handle.read(limit + 1)
    if limit is not None and len(data) > limit:  # it grew after the stat
        raise Refused(f"more than {cap} allows ({limit} bytes); not read")
    return data


def read_image_inside(path: Path, root: Path, option: str = "--source", limit: int | None = None,
                      cap: str = "the limit") -> bytes:
    """The bytes of the image at ``path`` (:func:`read_inside`: inside ``root``, the folder the user named with
    ``option``, a regular file, at most ``limit`` bytes), decoded in full; :class:`Refused` (a ValueError) saying
    why not."""
    data = read_inside(path, root, f"{option} {root}", limit, cap)
    try:
        decode_image(data)
    except ValueError as exc:
        raise Refused(f"not a decodable image ({exc})") from None
    return data


def write_parquet(path: Path, rows, features, batch_rows: int = 32) -> int:
    """Stream ``rows`` (dicts) into a parquet file that ``datasets.Dataset.from_parquet`` reads back with
    ``features``' types (images embedded), ``batch_rows`` at a time, so a slice of large images is never in
    memory whole. The number of rows written; no file is left when there is none (an empty parquet file
    would load as a task without documents)."""
    import pyarrow as pa  # heavy: only a build gets here
    import pyarrow.parquet as pq

    schema, written, batch, writer = features.arrow_schema, 0, [], None

    def flush():
        nonlocal writer, written
        if batch:
            writer = writer or pq.ParquetWriter(str(path), schema)
            writer.write_table(pa.Table.from_pylist([features.encode_example(r) for r in batch], schema=schema))
            written += len(batch)
            batch.clear()

    try:
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_rows:
                flush()
        flush()
    finally:
        if writer is not None:
            writer.close()
    if not written:
        path.unlink(missing_ok=True)
    return written


@dataclass
class SliceReport:
    """What one build of an upstream release made: rows per slice, and the problems it named."""

    title: str
    directory: Path
    source: str
    slices: dict = field(default_factory=dict)  # slice -> rows written
    lines: list = field(default_factory=list)  # further summary lines (counts per type, ...)
    problems: list = field(default_factory=list)  # Problem

    @property
    def left_out(self) -> list:
        return [p for p in self.problems if p.left_out]

    def summary(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in self.slices.items())
        return "\n".join([f"{self.title} built in {self.directory} from {self.source}",
                          f"  rows: {sum(self.slices.values())} ({counts})", *self.lines,
                          *problem_lines(self.problems)])


def nothing_built(title: str, problems: list) -> DataError:
    return DataError(f"nothing of {title} was built (an earlier build, if any, is left as it was):\n" +
                     "\n".join(f"  {p}" for p in problems if p.left_out))


def open_build(official: Path, ensure, directory: Path | None = None, build_command: str = "") -> tuple[Path, dict]:
    """``(folder, manifest)`` of the build a loader reads: ``directory`` when given (a folder in the build's schema
    that is not the official build, such as a generated benchmark; DataError saying ``build_command`` when it holds
    no manifest), else the ``official`` folder, whose manifest ``ensure()`` returns (building it on first use)."""
    if directory is None:
        return Path(official), ensure()
    manifest = read_manifest(Path(directory))
    if manifest is None:
        raise DataError(f"{directory} holds no manifest.json; make it with {build_command}")
    return Path(directory), manifest


def load_slices(directory: Path, manifest: dict, names: list[str], title: str, build_command: str):
    """The built slices ``names`` of ``directory`` as one ``datasets.Dataset``. DataError when one is not in the
    build, naming what the build reported about it."""
    import datasets  # heavy: only a task's loader gets here

    built = manifest.get("slices", {})
    missing = [name for name in names if name not in built]
    if missing:
        left_out = [p for p in manifest.get("problems", []) if p.get("kind", "left_out") == "left_out"]
        reported = [p for p in left_out if p.get("scenario") in missing] or left_out
        raise DataError(f"{title}: {', '.join(missing)} is not in the build in {directory}; the build reported: "
                        f"{describe_problems(reported)}. Fix the source and rebuild with {build_command}")
    parts = [datasets.Dataset.from_parquet(str(directory / built[name]["file"])) for name in names]
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def load_release(name: str, title: str, selector, parse, slices, ensure, data_root: Path | None = None,
                 directory: Path | None = None, build_command: str = "", where: tuple[str, str, str] | None = None):
    """The documents of one task of an upstream release built by :class:`SliceReport` builders (MOSSBench,
    MSSBench, XSTest), with ``benchmark`` = ``name``: ``slices(selector)`` of the official build of ``name``
    (``ensure(data_root)`` builds it on first use) or of ``directory`` (see :func:`open_build`). ``selector`` may be
    text, read with ``parse`` (its ValueError becomes a DataError). ``where(selector)``: None, or ``(column, value,
    noun)``: only the rows whose ``column`` holds ``value``; DataError when none does."""
    if isinstance(selector, str):
        try:
            selector = parse(selector)
        except ValueError as exc:
            raise DataError(str(exc)) from None
    names = list(slices(selector))
    folder, manifest = open_build(benchmark_dir(name, data_root), lambda: ensure(data_root), directory,
                                  build_command)
    ds = load_slices(folder, manifest, names, title, build_command)
    wanted = where(selector) if where else None
    if wanted is not None:
        column, value, noun = wanted
        ds = ds.filter(lambda cell: cell == value, input_columns=[column])
        if len(ds) == 0:
            reported = [p for p in manifest.get("problems", []) if p.get("scenario") in names]
            raise DataError(f"no {value} {noun} of the {title} {'/'.join(names)} set is in the build in {folder}; the "
                            f"build reported: {describe_problems(reported)}")
    logger.debug(f"{title} {selector}: {len(ds)} documents")
    return ds.add_column("benchmark", [name] * len(ds))
