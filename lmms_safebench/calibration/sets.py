"""Human-labelled sets a jury is calibrated on: the built-in sets, downloaded from their sources at pinned
revisions, and any file the user names, all read into one typed :class:`LabelledSet`.

Built-in sets (:data:`BUILTINS`):

- ``msts``: MSTS English multimodal response annotations (Röttger et al. 2025; CC BY 4.0). GitHub
  ``paul-rottger/msts-multimodal-safety``, ``data/response_annotations/english_multimodal.csv``: 4,000 responses
  of 10 vision-language models, gold label the expert's ``final_label`` (``1 - safe`` / ``2 - unsafe``), two
  annotators (the first character of their taxonomy label is their verdict). The image is given by its
  description only. Category: ``hazard_category``, joined from ``data/prompts/english_multimodal.csv`` (same
  commit) on case and prompt type. Id ``<case_id>/<assistance|intention>/<model>``.
- ``jbb``: JailbreakBench judge comparison (MIT). Hub dataset ``JailbreakBench/JBB-Behaviors``, config
  ``judge_comparison``, ``data/judge-comparison.csv``: 300 responses to jailbreak prompts, gold label
  ``human_majority`` (1 unsafe: jailbroken) of three annotators ``human1..3``. The prompt is the behaviour
  (``goal``), as the set's judges saw it; the jailbreak prompt and the published judges' verdicts (``*_cf``) are
  kept in ``meta``. Id: the ``Index`` column.
- ``xstest``: XSTest response labels for the refusal protocol (Röttger et al. 2024). GitHub
  ``paul-rottger/exaggerated-safety``, ``model_completions/xstest_v2_completions_<model>.csv`` for five models:
  2,250 completions, gold ``final_label`` (``1_full_compliance`` / ``2_full_refusal`` / ``3_partial_refusal``),
  two annotators. Category: the prompt ``type``; ``meta["prompt_label"]`` says whether the prompt itself is
  safe or unsafe (types ``contrast_*``). Id ``<model>/<v2-n>``. The prompts are CC BY 4.0; the completions keep
  their models' terms (the repository's README). The hub's ``allenai/xstest-response`` (gated, ODC-BY: two
  binary splits, no partial refusals) is not read: its layout could not be verified here.

Where the files come from (:func:`load_builtin`): without ``source``, the pinned revision is downloaded once into
``<data folder>/calibration_sets/<name>/<revision>/`` (upstream paths kept) and read from there afterwards,
offline too; GitHub files through the builders' download (``SAFEBENCH_GITHUB_RAW`` names a mirror), hub files
with ``huggingface_hub`` (``HF_ENDPOINT``, ``HF_TOKEN`` as it reads them). A download that cannot happen
(offline, unreachable, gated) is one DataError saying what to do. With ``source``, the same reader reads a
local file (the set's main file, or the file of that name) or a folder holding the repository's files; files
of the set that are not there are named in ``notes`` with what is missing because of them.

A spec string (:func:`load`): ``msts``, ``msts@<commit>`` (40 hex digits), ``msts=<file or folder>``, or the path
of a user's file (CSV/JSONL, :mod:`.set_files`). Every set passes :func:`.inputs.check_labelled_set` (allowed
labels, unique ids, non-empty responses), with errors naming the file and line. :meth:`LabelledSet.describe` gives
what a calibration record keeps of the set.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import paths
from ..data import store
from ..errors import DataError
from .agreement import binary_reasons, cohen_kappa, confusion, kappa_reason, multiclass_reasons
from .inputs import _fail, check_labelled_set
from .set_files import HARM, MAX_IMAGE_BYTES, PROTOCOLS, REFUSAL, RowId, csv_rows, read_user_file, row_ids

CACHE_FOLDER = "calibration_sets"
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class LabelledItem:
    """One human-labelled response. ``label`` is one of its set's ``labels``; ``annotators`` holds individual
    annotators' labels in the same vocabulary (None where one gave none); ``meta`` anything else the source
    says of the item (the responding model, the published judges' verdicts...)."""

    id: str
    prompt: str
    response: str
    label: str
    image: bytes | None = None
    image_description: str | None = None
    category: str | None = None
    annotators: tuple[str | None, ...] = ()
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LabelledSet:
    """A labelled set, whatever its source. ``protocol`` is "harm" (labels safe/unsafe; unsafe is the positive
    class) or "refusal" (full_compliance / partial_refusal / full_refusal). ``revision`` is the pinned upstream
    revision, or ``sha256:<12 hex>`` of the files read when they are not known to be that revision's.
    ``files`` maps each file read to its SHA-256; ``notes`` say what is missing or differs."""

    name: str
    title: str
    revision: str
    source: dict
    licence: str | None
    protocol: str
    labels: tuple[str, ...]
    items: tuple[LabelledItem, ...]
    files: dict
    notes: tuple[str, ...] = ()

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    @property
    def gold(self) -> list[str]:
        return [item.label for item in self.items]

    @property
    def categories(self) -> list[str | None] | None:
        """The items' categories, or None when no item has one."""
        values = [item.category for item in self.items]
        return values if any(v is not None for v in values) else None

    def describe(self) -> dict:
        """What a calibration record keeps of the set: name, revision, source, licence, protocol, size, label
        counts, prevalence (share of items whose label is not ``labels[0]``: unsafe, or any refusal), categories,
        media, annotators and their pairwise kappa (the ceiling a judge can be expected to reach), the metrics
        that will be undefined whatever the judge (``undefined``: {metric: reason}, e.g. kappa on a set with
        one class only), the files read with their SHA-256, and the notes."""
        counts = Counter(self.gold)
        size = len(self.items)
        gold_table = np.diag([counts.get(label, 0) for label in self.labels])  # a judge that is always right
        reasons = (binary_reasons if len(self.labels) == 2 else multiclass_reasons)(gold_table)
        categories = Counter(item.category for item in self.items if item.category is not None)
        return {
            "name": self.name, "title": self.title, "revision": self.revision, "source": self.source,
            "licence": self.licence, "protocol": self.protocol, "labels": list(self.labels), "size": size,
            "counts": {label: counts.get(label, 0) for label in self.labels},
            "prevalence": (size - counts.get(self.labels[0], 0)) / size if size else None,
            "prevalence_of": " or ".join(self.labels[1:]),
            "categories": dict(sorted(categories.items())) or None,
            "with_image": sum(item.image is not None for item in self.items),
            "with_image_description": sum(item.image_description is not None for item in self.items),
            "annotators": max((len(item.annotators) for item in self.items), default=0),
            "annotator_kappa": self._annotator_kappa(),
            "undefined": {k: v for k, v in reasons.items() if k in ("kappa", "sensitivity", "specificity")},
            "files": dict(self.files), "notes": list(self.notes),
        }

    def _annotator_kappa(self) -> dict:
        """Cohen's kappa of each pair of annotators over the items both labelled: {"1-2": value}, with the
        reason instead of a value where it is undefined."""
        width = max((len(item.annotators) for item in self.items), default=0)
        out = {}
        for a in range(width):
            for b in range(a + 1, width):
                pairs = [(item.annotators[a], item.annotators[b]) for item in self.items
                         if len(item.annotators) > b and None not in (item.annotators[a], item.annotators[b])]
                table = confusion([p[0] for p in pairs], [p[1] for p in pairs], self.labels).table
                value = float(cohen_kappa(table))
                out[f"{a + 1}-{b + 1}"] = {"items": len(pairs), "kappa": None if np.isnan(value) else value,
                                           "undefined": kappa_reason(table)}
        return out


# ------------------------------------------------------------------------------------------ upstream layouts

def _code(value: str, codes: dict, lead: re.Pattern | None = None) -> str | None:
    """A label written in a source's ``codes``, in the project's vocabulary (with ``lead``, the code is the part of
    the value it matches); None when empty; the value as written when it is no code (the checks then name it)."""
    text = value.strip()
    if lead is not None and (match := lead.match(text)):
        text = match.group(1)
    return codes.get(text, text) if text else None


def _annotator(value: str, codes: dict, where: str, column: str, problems: list,
               lead: re.Pattern | None = None) -> str | None:
    """An annotator's label (:func:`_code`); a value that is no code is a problem naming the row."""
    label = _code(value, codes, lead)
    if label is not None and label not in codes.values():
        problems.append(f"{where} has {column} {value!r}, not one of {', '.join(sorted(codes))}"
                        + (" (followed by ' ' or '.')" if lead else ""))
        return None
    return label


_MSTS_CODES = {"1": "safe", "2": "unsafe"}
_MSTS_LEAD = re.compile(r"([12])(?:[ .]|$)")  # "1 - safe", "2.2 - advice": the verdict is the first digit
_MSTS_KINDS = {"prompt_assistance_text": "assistance", "prompt_intention_text": "intention"}
_MSTS_ANNOTATIONS = "data/response_annotations/english_multimodal.csv"
_MSTS_PROMPTS = "data/prompts/english_multimodal.csv"


def _read_msts(found: dict[str, Path]) -> tuple[list[dict], list[RowId], list[str]]:
    path = found[_MSTS_ANNOTATIONS]
    _, rows = csv_rows(path, ("case_id", "prompt_type", "prompt_text", "unsafe_image_description", "model",
                              "response", "annot1_label", "annot2_label", "final_label"))
    hazards, notes = {}, []
    if _MSTS_PROMPTS in found:
        _, prompt_rows = csv_rows(found[_MSTS_PROMPTS], ("hazard_category", "hazard_subcategory", "case_id",
                                                         "prompt_type"))
        hazards = {(r["case_id"], r["prompt_type"].strip()): r for _, r in prompt_rows}
    problems, fields, ids, places, unmatched = [], [], [], [], 0
    for line, row in rows:
        where = f"{path.name}:{line}"
        kind = _MSTS_KINDS.get(row["prompt_type"].strip())
        if kind is None:
            problems.append(f"{where} has prompt_type {row['prompt_type']!r}, not one of {sorted(_MSTS_KINDS)}")
            continue
        hazard = hazards.get((row["case_id"], kind))
        unmatched += hazard is None
        annotators = tuple(_annotator(row[c], _MSTS_CODES, where, c, problems, _MSTS_LEAD)
                           for c in ("annot1_label", "annot2_label"))
        ids.append(f"{row['case_id']}/{kind}/{row['model']}")
        places.append(where)
        fields.append({"prompt": row["prompt_text"], "response": row["response"],
                       "label": _code(row["final_label"], _MSTS_CODES, _MSTS_LEAD),
                       "image_description": row["unsafe_image_description"].strip() or None,
                       "category": (hazard["hazard_category"].strip() or None) if hazard else None,
                       "annotators": annotators,
                       "meta": {"model": row["model"], "prompt_type": kind,
                                **({"hazard_subcategory": hazard["hazard_subcategory"]} if hazard else {})}})
    _fail(problems, str(path))
    if hazards and unmatched:
        notes.append(f"{unmatched} item(s) have no row in {_MSTS_PROMPTS} (case_id and prompt type): no category")
    return fields, row_ids(ids, places), notes


_JBB_CODES = {"0": "safe", "1": "unsafe"}
_JBB_FILE = "data/judge-comparison.csv"


def _read_jbb(found: dict[str, Path]) -> tuple[list[dict], list[RowId], list[str]]:
    path = found[_JBB_FILE]
    humans = ("human1", "human2", "human3")
    header, rows = csv_rows(path, ("goal", "prompt", "target_response", *humans, "human_majority"))
    # "Index" since revision d72ab3e; before it, the column had no name.
    index = next((c for c in ("Index", "") if c in header), None)
    judges = [c for c in header if c.endswith("_cf")]
    problems, fields, ids, places = [], [], [], []
    for line, row in rows:
        where = f"{path.name}:{line}"
        ids.append(row[index].strip() if index is not None else f"line-{line}")
        places.append(where)
        fields.append({"prompt": row["goal"], "response": row["target_response"],
                       "label": _code(row["human_majority"], _JBB_CODES),
                       "annotators": tuple(_annotator(row[c], _JBB_CODES, where, c, problems) for c in humans),
                       "meta": {"jailbreak_prompt": row["prompt"],
                                **{f"judge:{c}": _code(row[c], _JBB_CODES) for c in judges}}})
    _fail(problems, str(path))
    return fields, row_ids(ids, places), []


_XSTEST_CODES = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal",
                 "3_partial_refusal": "partial_refusal"}
_XSTEST_MODELS = ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct")
_XSTEST_FILE = re.compile(r"xstest_v2_completions_(.+)\.csv")


def _read_xstest(found: dict[str, Path]) -> tuple[list[dict], list[RowId], list[str]]:
    problems, fields, ids, places = [], [], [], []
    for path in found.values():
        # The responding model is in the file's name (a renamed copy: the name it was given).
        match = _XSTEST_FILE.fullmatch(path.name)
        model = match.group(1) if match else path.stem
        _, rows = csv_rows(path, ("id", "type", "prompt", "completion", "annotation_1", "annotation_2",
                                  "final_label"))
        for line, row in rows:
            where = f"{path.name}:{line}"
            kind = row["type"].strip()
            ids.append(f"{model}/{row['id'].strip()}")
            places.append(where)
            fields.append({"prompt": row["prompt"], "response": row["completion"],
                           "label": _code(row["final_label"], _XSTEST_CODES),
                           "category": kind or None,
                           "annotators": tuple(_annotator(row[c], _XSTEST_CODES, where, c, problems)
                                               for c in ("annotation_1", "annotation_2")),
                           "meta": {"model": model, "prompt_label": "unsafe" if kind.startswith("contrast_")
                                    else "safe"}})
    _fail(problems, ", ".join(str(p) for p in found.values()))
    return fields, row_ids(ids, places), []


# ------------------------------------------------------------------------------------------ the built-in sets

@dataclass(frozen=True)
class Builtin:
    """A built-in set: where its files are (``files``, upstream paths, the first the main one), at which pinned
    ``revision``, and how they are read. ``optional`` says, per file a local copy may lack, what is missing
    without it (a local copy needs at least one file); a download fetches every file. ``sha256``: the pinned
    revision's bytes, where known."""

    name: str
    title: str
    host: str  # "github" or "hub"
    repo: str
    revision: str
    files: tuple[str, ...]
    licence: str
    protocol: str
    read: Callable[[dict[str, Path]], tuple[list[dict], list[RowId], list[str]]]
    optional: dict = field(default_factory=dict)
    sha256: dict = field(default_factory=dict)

    def page(self, path: str, revision: str | None = None) -> str:
        """Where a person downloads ``path`` by hand."""
        revision = revision or self.revision
        if self.host == "github":
            return f"https://github.com/{self.repo}/blob/{revision}/{path}"
        return f"https://huggingface.co/datasets/{self.repo}/blob/{revision}/{path}"


BUILTINS = {spec.name: spec for spec in (
    Builtin("msts", "MSTS English multimodal response annotations", "github", "paul-rottger/msts-multimodal-safety",
            "e9ae69e8f1ab87ab2bb2ed7c51e992e0430f12e3", (_MSTS_ANNOTATIONS, _MSTS_PROMPTS), "CC BY 4.0", "harm",
            _read_msts, optional={_MSTS_PROMPTS: "the items have no category"},
            sha256={_MSTS_ANNOTATIONS: "6eb0e85ac2b2e8a5647bbf676460a00a1f82d5a214b886554486ebe28b4c9696"}),
    # 886acc3 is the hub's main as of 2024-09-26 (README only); the file last changed in d8d87b8.
    Builtin("jbb", "JailbreakBench judge comparison", "hub", "JailbreakBench/JBB-Behaviors",
            "886acc352a31533ffbcf4ef22c744658688086fc", (_JBB_FILE,), "MIT", "harm", _read_jbb),
    Builtin("xstest", "XSTest v2 human-labelled completions", "github", "paul-rottger/exaggerated-safety",
            "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d",
            tuple(f"model_completions/xstest_v2_completions_{m}.csv" for m in _XSTEST_MODELS),
            "CC BY 4.0 (prompts); completions under their models' terms", "refusal", _read_xstest,
            optional={f"model_completions/xstest_v2_completions_{m}.csv": f"the {m} completions are not in the set"
                      for m in _XSTEST_MODELS}),
)}


def _by_hand(spec: Builtin, path: str, revision: str) -> str:
    return (f"or download {spec.page(path, revision)} yourself and pass it as the set's source "
            f"({spec.name}=<file>, or {spec.name}=<folder> holding the repository's files)")


def _cache(spec: Builtin, revision: str) -> Path:
    return paths.data_dir() / CACHE_FOLDER / spec.name / revision


def _fetch(spec: Builtin, path: str, revision: str) -> Path:
    """``path`` of the set at ``revision``, from the cache or downloaded into it."""
    folder = _cache(spec, revision)
    target = folder / path
    if target.is_file() and target.stat().st_size > 0:
        return target
    if paths.offline():
        raise DataError(f"{spec.title}: offline mode is on (SAFEBENCH_OFFLINE / HF_HUB_OFFLINE) and {path} is not "
                        f"in the cache {folder}; turn offline mode off to download it, {_by_hand(spec, path, revision)}")
    if spec.host == "github":
        url = store.github_raw_url(spec.repo, revision, path)
        try:
            return store.download(url, target)
        except DataError as exc:
            raise DataError(f"{spec.title}: {exc}; check the network (SAFEBENCH_GITHUB_RAW names a mirror), "
                            f"{_by_hand(spec, path, revision)}") from None
    return _hub_download(spec, path, revision, folder)


def _hub_download(spec: Builtin, path: str, revision: str, folder: Path) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        return Path(hf_hub_download(spec.repo, path, repo_type="dataset", revision=revision, local_dir=folder))
    except GatedRepoError:
        raise DataError(f"{spec.title}: the hub dataset {spec.repo} is gated: accept its terms at "
                        f"https://huggingface.co/datasets/{spec.repo} while logged in, then set HF_TOKEN to a token "
                        f"of that account, {_by_hand(spec, path, revision)}") from None
    except RepositoryNotFoundError:
        raise DataError(f"{spec.title}: the hub answers that {spec.repo} does not exist or needs a token: set "
                        f"HF_TOKEN to a token that can read it, {_by_hand(spec, path, revision)}") from None
    except Exception as exc:  # connection refused, revision or file not found, a server error...
        cause = exc.__cause__ or exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise DataError(f"{spec.title}: cannot download {path} at revision {revision} from the hub dataset "
                        f"{spec.repo} ({reason}); check the network (HF_ENDPOINT names a mirror), "
                        f"{_by_hand(spec, path, revision)}") from None


def _local(spec: Builtin, source: Path) -> tuple[dict[str, Path], list[str]]:
    """The set's files in a local file or folder, and notes naming those not there."""
    if source.is_file():
        main = next((f for f in spec.files if Path(f).name == source.name), spec.files[0])
        found = {main: source}
    elif source.is_dir():
        names = Counter(Path(f).name for f in spec.files)
        found = {}
        for f in spec.files:
            # The repository's layout, or the file alone in the folder when its name says which file it is.
            candidates = [source / f] + ([source / Path(f).name] if f == spec.files[0] or names[Path(f).name] == 1
                                         else [])
            hit = next((c for c in candidates if c.is_file()), None)
            if hit is not None:
                found[f] = hit
    else:
        raise DataError(f"{spec.name}={source}: no such file or folder")
    missing = [f for f in spec.files if f not in found and f not in spec.optional]
    if missing or not found:
        needs = ", ".join(missing) if missing else "at least one of " + ", ".join(spec.files)
        raise DataError(f"{spec.name}={source}: {spec.title} needs {needs} (looked for the repository's path under "
                        "the folder, and the file's name in it)")
    looked = f"not found in {source}" if source.is_dir() else f"not read (the source is the one file {source})"
    notes = [f"{f} {looked}: {spec.optional[f]}" for f in spec.files if f not in found and f in spec.optional]
    return found, notes


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _combined(digests: dict) -> str:
    return "sha256:" + hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(digests.items())).encode()).hexdigest()[:12]


def load_builtin(name: str, source: str | Path | None = None, revision: str | None = None) -> LabelledSet:
    """A built-in set (see the module docstring): downloaded at ``revision`` (default: the pinned one) and
    cached, or read from ``source`` (a local file or folder)."""
    spec = BUILTINS.get(name)
    if spec is None:
        raise DataError(f"{name!r}: not a built-in labelled set (built-in: {', '.join(BUILTINS)}; or name a "
                        ".csv/.jsonl file)")
    notes: list[str] = []
    if source is None:
        revision = revision or spec.revision
        if not _COMMIT.fullmatch(revision):  # a branch moves: the cache and the record need a fixed revision
            raise DataError(f"{name}@{revision}: a revision is a full commit hash (40 hexadecimal digits)")
        found = {f: _fetch(spec, f, revision) for f in spec.files}
        where = {"type": spec.host, "repo": spec.repo, "revision": revision}
    else:
        if revision is not None:
            raise DataError(f"{name}: a revision ({revision}) and a local source ({source}) cannot both be given")
        source = Path(source).expanduser().resolve()
        found, notes = _local(spec, source)
        where = {"type": "local", "path": str(source)}
    digests = {f: _digest(p) for f, p in found.items()}
    mismatched = [f for f, d in digests.items() if spec.sha256.get(f, d) != d]
    if source is None:
        notes += [f"{f}: SHA-256 {digests[f][:12]}... differs from the pinned file's ({spec.sha256[f][:12]}...): a "
                  "mirror's copy, or not the pinned revision" for f in mismatched if revision == spec.revision]
    elif all(f in spec.sha256 for f in found) and not mismatched:
        revision = spec.revision  # the very bytes of the pinned revision
    else:
        revision = _combined(digests)
    fields, ids, read_notes = spec.read(found)
    return _assemble(spec.name, spec.title, revision, where, spec.licence, spec.protocol, fields, ids, digests,
                     notes + read_notes, source=", ".join(str(p) for p in found.values()))


def load_file(path: str | Path, protocol: str | None = None, name: str | None = None,
              max_image_bytes: int = MAX_IMAGE_BYTES) -> LabelledSet:
    """A user's labelled CSV/JSONL file (layout in :mod:`.set_files`); ``protocol`` "harm" or "refusal" (default:
    from the labels); images at most ``max_image_bytes``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file (a labelled set is a .csv or .jsonl file, or one of the built-in "
                        f"sets: {', '.join(BUILTINS)})")
    path = path.resolve()
    protocol, fields, ids = read_user_file(path, protocol, max_image_bytes)
    digests = {path.name: _digest(path)}
    return _assemble(name or path.stem, str(path), _combined(digests), {"type": "file", "path": str(path)}, None,
                     protocol, fields, ids, digests, [], source=str(path))


def load(spec: str, **options) -> LabelledSet:
    """A set named by a spec string: ``<builtin>``, ``<builtin>@<revision>``, ``<builtin>=<file or folder>``, or the
    path of a user's file (``options`` go to :func:`load_file`). A built-in name wins over a file of that name
    (write ``./msts`` for the file)."""
    text = spec.strip()
    head, has_source, local = text.partition("=")
    base, _, revision = head.partition("@")
    if base in BUILTINS:
        if has_source and not local.strip():
            raise DataError(f"{text!r}: name a file or folder after '='")
        return load_builtin(base, local.strip() or None, revision.strip() or None)
    return load_file(text, **options)


def _assemble(name, title, revision, where, licence, protocol, fields, ids, digests, notes, source) -> LabelledSet:
    """The set, once the shared checks pass (every problem named by file and line, in one error)."""
    labels = PROTOCOLS[protocol]
    if not fields:
        raise DataError(f"{source}: no labelled item (a header and no rows)")
    check_labelled_set(ids, [f["response"] for f in fields], [f["label"] for f in fields], labels, source=source)
    items = tuple(LabelledItem(id=str(i), **{"image": None, "image_description": None, "category": None,
                                             "meta": {}, **f}) for i, f in zip(ids, fields, strict=True))
    return LabelledSet(name, title, revision, where, licence, protocol, labels, items, digests, tuple(notes))


__all__ = ["BUILTINS", "HARM", "REFUSAL", "LabelledItem", "LabelledSet", "load", "load_builtin", "load_file"]
