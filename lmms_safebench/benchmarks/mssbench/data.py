"""Build MSSBench into the local data folder, and load the slice a task asks for.

Sources (``build(source=...)``; the ``lmms-safebench build mssbench --source`` option):

- ``hub`` (default) or ``hub@<revision>``: the hub dataset :data:`.taxonomy.HUB_REPO` at a pinned revision
  (``hub@main`` for the newest), fetched with huggingface_hub (HF_ENDPOINT, HF_TOKEN honoured) into the
  download cache: ``combined.json``, ``chat/`` and ``embodied/``. A gated, private or unreachable hub is a clear
  message saying what to do (a token, or a local copy with ``--source``), never a traceback;
- a local folder laid out as the hub holds it (``combined.json`` beside ``chat/`` and ``embodied/``), or the JSON
  file itself. The authors' code opens ``combine.json`` (no "d"): either name is read (``combined.json`` first).

Upstream layout (the file itself is not verified; read from the authors' code): ``{"chat": [...], "embodied":
[...]}``. A chat item has ``safe_image_path`` and ``unsafe_image_path`` (relative to ``chat/``), ``queries`` (each
asked once with each image), ``intent``, ``unsafe_image`` (a description; a leading ":" is dropped) and its
category as ``Type``. An embodied item has ``safe`` and ``unsafe`` (image paths relative to ``embodied/``),
``safe_instructions`` and ``unsafe_instructions`` (paired by position, as the authors' code zips them; the
single ``safe_instruction`` / ``unsafe_instruction`` when the lists are absent), ``task``, ``observation_safe``
/ ``observation_unsafe`` and its category as ``category``. Either category key is read in either setting. An
image path that already starts with ``chat/`` or ``embodied/`` is found too.

Built (``<data>/mssbench``): ``chat.parquet`` and ``embodied.parquet`` (images embedded, two rows per pair) and
``manifest.json`` (source with the sha256 of the JSON file, licence and terms, pairs and rows per setting,
every problem). Documents carry ``id`` (``<pair_id>-<context>``), ``pair_id`` (``<setting>-<item>-<n>``: the
item's position in its list from 0, and the query's), ``setting``, ``context`` (``safe``/``unsafe``),
``category`` (lower case, single spaces), ``category_upstream`` (as written), ``query`` (the query, or this
context's instruction), ``image``, ``image_path`` (as upstream writes it), ``intent``, ``task``,
``image_description`` (chat: the unsafe image's description, on both halves), ``observation`` (embodied: this
context's caption), and, once loaded, ``benchmark``. Selectors (:mod:`.taxonomy`): ``<setting>.<context>``,
e.g. ``chat.all``, ``embodied.all``, ``all.all``, ``chat.unsafe``.

Bad input is named (:class:`...data.store.Problem`: file, item or pair id, field) and left out; everything else
is built. The pair is the unit, so a pair is kept whole or not at all: a missing, unreadable or undecodable
image, or one that leads out of the source folder (``..``, an absolute path, a symlink), leaves out every pair
of its item; an empty query leaves out its pair; an instruction without its counterpart is left out. A file
that is not UTF-8 JSON is named ``file:line:column``; a setting key written twice leaves that setting out. A
missing category keeps the pair (category empty) and is named. Counts are reported as the file holds them.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

from tqdm import tqdm

from ... import paths
from ...data import store
from ...errors import DataError
from . import taxonomy as tx
from .taxonomy import CHAT, CONTEXTS, EMBODIED, SETTINGS

FORMAT_VERSION = 1
BUILD_COMMAND = "lmms-safebench build mssbench"
JSON_NAMES = ("combined.json", "combine.json")  # the hub's name, and the one the authors' code opens
IMAGE_KEYS = {CHAT: ("safe_image_path", "unsafe_image_path"), EMBODIED: ("safe", "unsafe")}
_COMPLETE = ".complete"


def features():
    import datasets

    text = ("id", "pair_id", "setting", "context", "category", "category_upstream", "query", "image_path",
            "intent", "task", "image_description", "observation")
    return datasets.Features({**{name: datasets.Value("string") for name in text}, "image": datasets.Image()})


# ------------------------------------------------------------------------------------------- sources

def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def download_hub(revision: str) -> tuple[Path, str]:
    """The hub snapshot at ``revision`` in the download cache (real files, no cache symlinks) and its commit.
    DataError saying what to do when the hub is gated, private, unreachable, or offline mode is on."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    pinned = re.fullmatch(r"[0-9a-f]{40}", revision) is not None
    local = ("download the dataset yourself (e.g. `git clone https://huggingface.co/datasets/"
             f"{tx.HUB_REPO}`) and pass its folder with --source PATH")
    if paths.offline():
        folder = paths.downloads_dir() / tx.NAME / revision
        if pinned and (folder / _COMPLETE).exists():
            return folder, revision
        raise DataError(f"offline mode is on (SAFEBENCH_OFFLINE / HF_HUB_OFFLINE), cannot download {tx.HUB_REPO}; "
                        f"{local}")
    token = ("accept its terms on https://huggingface.co/datasets/" + tx.HUB_REPO + " if it asks, and give a token: "
             "set HF_TOKEN, or run `hf auth login` (formerly `huggingface-cli login`)")
    try:
        commit = revision if pinned else HfApi().dataset_info(tx.HUB_REPO, revision=revision).sha
        folder = paths.downloads_dir() / tx.NAME / commit
        if not (folder / _COMPLETE).exists():
            snapshot_download(tx.HUB_REPO, repo_type="dataset", revision=commit, local_dir=folder,
                              allow_patterns=[*JSON_NAMES, f"{CHAT}/*", f"{EMBODIED}/*"])
            (folder / _COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    except GatedRepoError as exc:
        raise DataError(f"the hub dataset {tx.HUB_REPO} is gated ({_first_line(exc)}): {token}; or {local}") from None
    except RevisionNotFoundError as exc:
        raise DataError(f"the hub dataset {tx.HUB_REPO} has no revision {revision!r} ({_first_line(exc)}); name one "
                        f"that exists (--source hub@<revision>), or {local}") from None
    except RepositoryNotFoundError as exc:
        raise DataError(f"the hub dataset {tx.HUB_REPO} was not found, or is private ({_first_line(exc)}): {token}; "
                        f"or {local}") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        what = token if status in (401, 403) else "try again later"
        raise DataError(f"the hub refused {tx.HUB_REPO} ({_first_line(exc)}): {what}; or {local}") from None
    except Exception as exc:  # connection, timeout, proxy, disk: huggingface_hub raises many kinds
        raise DataError(f"cannot download {tx.HUB_REPO} from the hub ({type(exc).__name__}: {_first_line(exc)}); "
                        f"check the network (HF_ENDPOINT names a mirror), or {local}") from None
    return folder, commit


def find_json(root: Path) -> tuple[Path, Path, list[store.Problem]]:
    """(the folder images are read from, the JSON file, notes) for what ``--source`` names."""
    if root.is_file():
        return root.parent, root, []
    found = [root / name for name in JSON_NAMES if (root / name).is_file()]
    if not found:
        raise DataError(f"--source {root}: no combined.json (or combine.json) here; point it at a copy of the hub "
                        f"dataset {tx.HUB_REPO} (combined.json beside chat/ and embodied/) or at the JSON file")
    notes = [store.Problem(str(other), f"not read: {found[0].name} is read instead", left_out=False)
             for other in found[1:]]
    return root, found[0], notes


# ------------------------------------------------------------------------------------------- records

def _text(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _category(item: dict) -> tuple[str | None, str | None]:
    upstream = _text(item.get("Type")) or _text(item.get("category"))
    return (" ".join(upstream.lower().split()) if upstream else None), upstream


def _texts(value) -> list | None:
    """A list of texts as written (an entry that is not text stays, to be named); a lone string as one."""
    if isinstance(value, str):
        return [value]
    return value if isinstance(value, list) else None


def read_setting(items, setting: str, path: Path) -> tuple[list[dict], list[store.Problem]]:
    """The pairs of one setting's list, and a problem for each item, pair or field left out."""
    problems: list[store.Problem] = []
    pairs: list[dict] = []

    def problem(where_id, field, what):
        problems.append(store.Problem(str(path), what, id=where_id, field=field, scenario=setting))

    if not isinstance(items, list):
        problem(None, setting, f"is not a list of items; the {setting} setting is not built")
        return pairs, problems
    safe_key, unsafe_key = IMAGE_KEYS[setting]
    for i, item in enumerate(items):
        item_id = f"{setting}-{i}"
        if not isinstance(item, dict):
            problem(item_id, None, "the item is not an object; it is left out")
            continue
        twice = sorted(getattr(item, "repeated", {}))
        if twice:
            problem(item_id, twice[0], "appears more than once in the item (which is meant is ambiguous); it is left "
                                       "out")
            continue
        bad = [key for key in (safe_key, unsafe_key) if _text(item.get(key)) is None]
        if bad:
            problem(item_id, bad[0], f"{'missing' if item.get(bad[0]) is None else 'not a file name'}; the item is "
                                     "left out")
            continue
        category, upstream = _category(item)
        if category is None:
            problem(item_id, "Type" if setting == CHAT else "category", "missing or empty; the item's pairs are kept "
                                                                         "without a category")
        common = {"setting": setting, "category": category, "category_upstream": upstream,
                  "images": (item[safe_key].strip(), item[unsafe_key].strip()), "item_id": item_id,
                  "intent": _text(item.get("intent")), "task": _text(item.get("task"))}
        if setting == CHAT:
            description = _text(item.get("unsafe_image"))
            common["image_description"] = (description.lstrip(":").strip() or None) if description else None
            queries = _texts(item.get("queries"))
            if queries is None:
                problem(item_id, "queries", "missing or not a list of texts; the item is left out")
                continue
            instructions = [(q, q) for q in queries]
        else:
            common["observations"] = (_text(item.get("observation_safe")), _text(item.get("observation_unsafe")))
            plural = "safe_instructions" in item or "unsafe_instructions" in item
            keys = ("safe_instructions", "unsafe_instructions") if plural else ("safe_instruction",
                                                                                 "unsafe_instruction")
            safe, unsafe = _texts(item.get(keys[0])), _texts(item.get(keys[1]))
            if safe is None or unsafe is None:
                problem(item_id, keys[0] if safe is None else keys[1], "missing or not a list of texts; the item is "
                                                                       "left out")
                continue
            if len(safe) != len(unsafe):
                problem(item_id, keys[0], f"{len(safe)} safe and {len(unsafe)} unsafe instructions: the "
                                          f"{abs(len(safe) - len(unsafe))} without a counterpart are left out")
            instructions = list(zip(safe, unsafe, strict=False))  # the extras were named above
        for n, (safe_text, unsafe_text) in enumerate(instructions):
            pair_id = f"{item_id}-{n}"
            if _text(safe_text) is None or _text(unsafe_text) is None:
                problem(pair_id, "queries" if setting == CHAT else keys[0], "an empty or non-text query; the pair is "
                                                                            "left out")
                continue
            pairs.append({**common, "pair_id": pair_id, "queries": (safe_text.strip(), unsafe_text.strip())})
    return pairs, problems


def read_combined(path: Path) -> tuple[dict[str, list[dict]], list[store.Problem]]:
    """The pairs per setting of combined.json; DataError naming the file when it is not a JSON object."""
    raw = store.read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object {{\"chat\": [...], \"embodied\": [...]}}")
    found, problems = {}, []
    for setting in SETTINGS:
        if getattr(raw, "repeated", {}).get(setting):
            problems.append(store.Problem(str(path), f"the key {setting!r} appears {raw.repeated[setting]} times "
                                          f"(which is meant is ambiguous); the {setting} setting is not built",
                                          field=setting, scenario=setting))
        elif setting not in raw:
            problems.append(store.Problem(str(path), f"no {setting!r} list; the {setting} setting is not built",
                                          field=setting, scenario=setting))
        else:
            found[setting], more = read_setting(raw[setting], setting, path)
            problems += more
    return found, problems


def _image(base: Path, setting: str, relative: str) -> Path:
    """Where an image path of ``setting`` points: under ``<setting>/``, or under the folder itself when the path
    already names the setting's folder."""
    path = base / setting / relative
    if not path.exists() and relative.replace("\\", "/").startswith(f"{setting}/") and (base / relative).exists():
        return base / relative
    return path


def _rows(pairs: list[dict], base: Path, problems: list, categories: dict, bar):
    """Two rows per pair (safe, unsafe); every pair of an item whose image cannot be used is named and left out.
    ``categories``: pairs written per category."""
    item, read = None, {}  # the images of the item being written (its pairs, which come together, share them)
    for pair in pairs:
        bar.update(1)
        setting, images = pair["setting"], {}
        if pair["item_id"] != item:
            item, read = pair["item_id"], {}
        for k, (context, relative) in enumerate(zip(CONTEXTS, pair["images"], strict=True)):
            where = _image(base, setting, relative)
            if where not in read:
                try:
                    read[where] = store.read_image_inside(where, base)
                except ValueError as exc:
                    read[where] = None
                    problems.append(store.Problem(str(where), f"{exc}; every pair of the item is left out", id=item,
                                                  field=IMAGE_KEYS[setting][k], scenario=setting))
            images[context] = read[where]
        if None in images.values():
            continue
        categories[pair["category"] or ""] = categories.get(pair["category"] or "", 0) + 1
        for k, context in enumerate(CONTEXTS):
            yield {"id": f"{pair['pair_id']}-{context}", "pair_id": pair["pair_id"], "setting": setting,
                   "context": context, "category": pair["category"], "category_upstream": pair["category_upstream"],
                   "query": pair["queries"][k], "image": {"bytes": images[context], "path": None},
                   "image_path": pair["images"][k], "intent": pair["intent"], "task": pair["task"],
                   "image_description": pair.get("image_description"),
                   "observation": pair.get("observations", (None, None))[k]}


# ------------------------------------------------------------------------------------------- building

def build(source: str | None = None, data_root: str | Path | None = None) -> store.SliceReport:
    """Normalise MSSBench into ``<data_root>/mssbench``. Faults are named (in the report and the manifest) and
    the rest is built; DataError when nothing can be built (an earlier build is then left as it was)."""
    src = store.parse_source(source, {"hub": tx.HUB_REVISION})
    target = store.benchmark_dir(tx.NAME, store.data_root(data_root))
    store.check_target(target)
    if src.kind == "hub":
        root, commit = download_hub(src.location)
        description = {"type": "hub", "repo": tx.HUB_REPO, "revision": commit}
    else:
        root = Path(src.location)
        description = {"type": "local", "path": str(root)}
    base, path, notes = find_json(root)
    report = store.SliceReport(tx.TITLE, target, f"{description['type']} {description.get('revision') or root}",
                               problems=notes)
    problems = report.problems
    real = store.outside(path, base)
    if real is not None:
        raise DataError(f"{path} resolves to {real}, outside --source {base}; not read")
    try:
        pairs, found = read_combined(path)
    except DataError as exc:
        raise DataError(f"{exc}; nothing was built") from None
    problems += found
    description["files"] = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    if not any(pairs.values()):
        raise store.nothing_built(tx.TITLE, problems)

    slices = {}
    with store.StagingDir(target) as staging, store.quiet_datasets(), \
            tqdm(total=sum(map(len, pairs.values())), desc="Building MSSBench", unit="pair") as bar:
        for setting, kept in pairs.items():
            categories: dict[str, int] = {}
            written = store.write_parquet(staging / f"{setting}.parquet",
                                          _rows(kept, base, problems, categories, bar), features())
            if not written:
                problems.append(store.Problem(str(path), f"no valid {setting} pair; the setting is not written, and "
                                              "its tasks say so", scenario=setting))
                continue
            slices[setting] = {"file": f"{setting}.parquet", "rows": written, "pairs": written // 2,
                               "categories": dict(sorted(categories.items()))}
            report.slices[setting] = written
            report.lines.append(f"  {setting}: {written // 2} pairs ({written} documents); per category: " +
                                ", ".join(f"{name or '(none)'} {n}" for name, n in sorted(categories.items())))
        if not slices:
            raise store.nothing_built(tx.TITLE, problems)
        store.write_manifest(staging, {
            "benchmark": tx.NAME, "format": FORMAT_VERSION, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": description, "licence": tx.LICENCE, "terms": tx.TERMS, "slices": slices,
            "totals": {"pairs": sum(s["pairs"] for s in slices.values()),
                       "rows": sum(s["rows"] for s in slices.values())},
            "problems": [p.to_dict() for p in problems],
        })
    return report


# ------------------------------------------------------------------------------------------- loading

def ensure_built(data_root: Path | None = None) -> dict:
    """The manifest of the built dataset; builds it from the default source first when it is missing and the
    network may be used; otherwise DataNotBuiltError saying which command builds it."""
    return store.ensure_built(store.benchmark_dir(tx.NAME, data_root), tx.TITLE,
                              f"the hub ({tx.HUB_REPO}@{tx.HUB_REVISION[:7]})", lambda: build(data_root=data_root),
                              f"{BUILD_COMMAND} [--source hub|hub@<revision>|PATH]")


def load_docs(selector: tx.Selector | str, data_root: Path | None = None, directory: Path | None = None,
              build_command: str = BUILD_COMMAND):
    """The documents of one task (a ``datasets.Dataset``; both halves of every pair unless the selector names a
    context). ``directory``: a folder in this build's schema that is not the official build."""
    return store.load_release(tx.NAME, tx.TITLE, selector, tx.Selector.parse, lambda sel: sel.settings, ensure_built,
                              data_root, directory, build_command,
                              lambda sel: ("context", sel.context, "half") if sel.context else None)
