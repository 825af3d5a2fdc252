"""Build the official SafeBench release into the local data folder, and load the slice a task asks for.

Sources (``lmms-safebench build safebench --source SRC [--set full|mini|all]``):

- ``hub`` (default) or ``hub:<repo>``: the release on the Hugging Face hub, fetched with huggingface_hub
  (the full set is split into ``part_aa`` ... ``part_aj``: concatenated, then untarred; MiniBench is
  ``minibench.tar.gz``);
- a local folder: an extracted release, or a folder holding the archive parts / tarballs;
- a local archive: a ``.tar``, ``.tar.gz`` or a first split part.

Inside what it is given, the builder looks for ``category.csv`` (header row; first column the folder
number k, second the scenario name) and, next to it, the text folder (``{k}.csv``, one query per row
in the first column), the image folder (``{k}/{i}.png`` for row i) and the two audio folders
(``audio_data_female`` / ``audio_data_male``, ``{k}/{i}.wav``). Nesting differs between copies, so it
searches rather than assuming a path, and says what it could not find. Audio is kept as WAV bytes and
decoded with soundfile (no FFmpeg).

Bad input is named (:class:`.store.Problem`: file, id ``k-i``, field) and left out, and everything else
is built: a text file that is missing or not UTF-8, an empty query, a folder number on two rows of
``category.csv``, an image or audio file that is missing, outside the source folder (symlinks followed)
or does not decode in full (audio: no frames). A query without its image or audio is left out of that
modality's tasks only; a scenario with no valid query is not written; with ``--set all``, a set the
source lacks is named and the other is built.
"""

from __future__ import annotations

import csv
import re
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger
from tqdm import tqdm

from ... import paths
from ...data import store
from ...errors import DataError
from . import taxonomy as sb

FORMAT_VERSION = 1
BUILD_COMMAND = "lmms-safebench build safebench"
_HEADER_WORDS = {"query", "question", "text", "prompt", "instruction", "content"}


def set_dir(subset: str, data_root: Path | None = None) -> Path:
    return store.benchmark_dir(sb.NAME if subset == sb.FULL else f"{sb.NAME}_{subset}", data_root)


@dataclass
class SetReport:
    subset: str
    directory: Path
    release_root: Path | None = None
    queries: int = 0
    images: int = 0
    audio_female: int = 0
    audio_male: int = 0
    per_scenario: dict = field(default_factory=dict)  # slug -> queries
    problems: list = field(default_factory=list)  # store.Problem; the build went on without what they name
    built: bool = True  # False: this set could not be built (``problems`` says why); an earlier build stays

    @property
    def left_out(self) -> list:
        return [p for p in self.problems if p.left_out]

    def summary(self) -> str:
        if not self.built:
            return "\n".join([f"SafeBench {self.subset} set NOT built (nothing in {self.directory} was changed)",
                              *store.problem_lines(self.problems)])
        expected = sb.SETS[self.subset]
        lines = [f"SafeBench {self.subset} set built in {self.directory} (release found at {self.release_root})",
                 f"  scenarios: {len(self.per_scenario)} (expected {expected['scenarios']}), queries: {self.queries} "
                 f"(expected {expected['scenarios'] * expected['queries']})",
                 f"  images: {self.images}, audio (female): {self.audio_female}, audio (male): {self.audio_male}"]
        return "\n".join(lines + store.problem_lines(self.problems))


# ------------------------------------------------------------------------------------------ archives

def _is_archive(path: Path) -> bool:
    return path.is_file() and (path.name.endswith((".tar", ".tar.gz", ".tgz")) or re.fullmatch(r"part_a[a-z]", path.name)
                               is not None)


def _extract(archive_parts: list[Path], target: Path) -> Path:
    """Concatenate split parts (if several) and untar into ``target``; reuse a finished extraction."""
    done = target / ".extracted"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    if len(archive_parts) > 1:
        joined = target.with_suffix(".tar")
        with open(joined, "wb") as out:
            for part in tqdm(archive_parts, desc="Joining archive parts", unit="part"):
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, length=16 * 1024 * 1024)
        archive = joined
    else:
        archive = archive_parts[0]
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in tqdm(members, desc=f"Extracting {archive.name}", unit="file"):
                tar.extract(member, target, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: not a readable tar archive ({exc})") from None
    finally:
        if len(archive_parts) > 1:
            archive.unlink(missing_ok=True)
    done.write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    return target


def _archives_in(folder: Path) -> dict[str, list[Path]]:
    """Archives found directly in ``folder``: {"full": [parts...], "mini": [tarball]}."""
    parts = sorted(p for p in folder.glob("part_a?") if p.is_file())
    found = {}
    if parts:
        found[sb.FULL] = parts
    for path in sorted(folder.glob("*.tar*")) + sorted(folder.glob("*.tgz")):
        found.setdefault(sb.MINI if "mini" in path.name.lower() else sb.FULL, [path])
    return found


def download_from_hub(repo: str, subset: str) -> list[Path]:
    """Fetch the archive(s) of ``subset`` with huggingface_hub (cached; honours HF_HUB_OFFLINE)."""
    from huggingface_hub import HfApi, hf_hub_download  # heavy: only a hub download gets here

    try:
        files = HfApi().list_repo_files(repo, repo_type="dataset")
    except Exception as exc:
        raise DataError(f"cannot list the hub dataset {repo}: {exc}") from None
    if subset == sb.FULL:
        names = sorted(f for f in files if re.fullmatch(r"(?:.*/)?part_a[a-z]", f))
    else:
        names = [f for f in files if f.endswith("minibench.tar.gz")]
    if not names:
        raise DataError(f"the hub dataset {repo} has no archive for the {subset} set (files: {files[:20]})")
    out = []
    for name in tqdm(names, desc=f"Downloading SafeBench {subset}", unit="file"):
        try:
            out.append(Path(hf_hub_download(repo, name, repo_type="dataset")))
        except Exception as exc:
            raise DataError(f"cannot download {repo}/{name}: {exc}") from None
    return out


def resolve_release(source: str | None, subset: str) -> tuple[Path, dict]:
    """A folder holding the extracted release of ``subset``, and a description of the source."""
    spec = (source or "hub").strip()
    extract_root = paths.downloads_dir() / "safebench"
    if spec == "hub" or spec.startswith("hub:"):
        repo = spec.split(":", 1)[1] if ":" in spec else sb.HUB_REPO
        if paths.offline():
            raise DataError(f"offline mode is on, cannot download {repo}; pass --source with a local copy")
        archives = download_from_hub(repo, subset)
        return _extract(archives, extract_root / f"hub-{subset}"), {"type": "hub", "repo": repo}
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"--source {spec!r}: no such file or folder (or use 'hub' / 'hub:<repo>')")
    path = path.resolve()
    if path.is_file():
        if not _is_archive(path):
            raise DataError(f"--source {path}: not a folder, a .tar/.tar.gz archive, or a part_a? split part")
        parts = sorted(path.parent.glob("part_a?")) if re.fullmatch(r"part_a[a-z]", path.name) else [path]
        return _extract(parts, extract_root / f"local-{path.stem}-{subset}"), {"type": "archive", "path": str(path)}
    archives = _archives_in(path)
    if subset in archives and not list(path.rglob("category.csv")):
        return (_extract(archives[subset], extract_root / f"local-{path.name}-{subset}"),
                {"type": "archive", "path": str(path)})
    return path, {"type": "local", "path": str(path)}


# ------------------------------------------------------------------------------------------ discovery

def find_category_csv(root: Path, subset: str) -> Path:
    candidates = sorted((p for p in root.rglob("category.csv") if store.outside(p, root) is None),
                        key=lambda p: (len(p.parts), str(p)))
    if not candidates:
        raise DataError(f"no category.csv under {root}: is this a SafeBench release?")
    mini = [c for c in candidates if "mini" in str(c.relative_to(root)).lower()]
    full = [c for c in candidates if c not in mini]
    chosen = (mini if subset == sb.MINI else full) or ([] if subset == sb.MINI else candidates)
    if not chosen:
        raise DataError(f"no MiniBench category.csv under {root} (found: {[str(c) for c in candidates]})")
    return chosen[0]


def read_category_csv(path: Path) -> tuple[dict[int, str], list[store.Problem]]:
    """{folder number k: scenario name as the release spells it}, and the rows left out: a folder number
    on several rows is ambiguous, so none of them is used."""
    try:
        rows = list(csv.reader(store.read_text(path).splitlines()))
    except csv.Error as exc:
        raise DataError(f"{path}: not readable CSV ({exc})") from None
    names: dict[int, list[str]] = {}
    for number, row in enumerate(rows, 1):
        if len(row) < 2 or not row[0].strip():
            continue
        try:
            k = int(row[0].strip())
        except ValueError:
            if number == 1:
                continue  # header row
            raise DataError(f"{path}:{number}: first column must be the folder number, got {row[0]!r}") from None
        names.setdefault(k, []).append(row[1].strip())
    mapping = {k: found[0] for k, found in names.items() if len(found) == 1}
    problems = [store.Problem(str(path), f"folder number {k} is on {len(found)} rows ({', '.join(map(repr, found))}); "
                              f"which scenario it holds is ambiguous, so folder {k} is left out", id=str(k),
                              field="folder number") for k, found in names.items() if len(found) > 1]
    if not names:
        raise DataError(f"{path}: no (number, scenario) rows")
    return mapping, problems


def _search_bases(category_csv: Path, root: Path) -> list[Path]:
    base = category_csv.parent
    return [b for b in dict.fromkeys([base, base.parent]) if store.outside(b, root) is None]


def _folders(base: Path, root: Path) -> list[Path]:
    """``base`` and the folders under it whose real path is inside ``root`` (a symlink out is not searched)."""
    return [base, *[p for p in base.rglob("*") if p.is_dir() and store.outside(p, root) is None]]


def find_text_dir(bases: list[Path], ks: list[int], root: Path) -> Path | None:
    best, best_hits = None, 0
    for base in bases:
        for folder in _folders(base, root):
            hits = sum((folder / f"{k}.csv").is_file() for k in ks)
            if hits > best_hits:
                best, best_hits = folder, hits
        if best is not None:
            return best
    return best


def find_media_dir(bases: list[Path], ks: list[int], suffix: str, root: Path, voice: str | None = None) -> Path | None:
    """The folder D with D/{k}/*.{suffix} for most k; for audio, ``voice`` must name D's voice."""
    def voice_of(folder: Path) -> str | None:
        name = folder.name.lower()
        if "female" in name:
            return "female"
        if re.search(r"(^|[^a-z])male", name):
            return "male"
        return None

    best, best_hits = None, 0
    for base in bases:
        for folder in _folders(base, root):
            if voice is not None and voice_of(folder) != voice:
                continue
            hits = sum(1 for k in ks if (folder / str(k)).is_dir() and any((folder / str(k)).glob(f"*{suffix}")))
            if hits > best_hits:
                best, best_hits = folder, hits
        if best is not None:
            return best
    return best


def read_queries(path: Path) -> list[str]:
    """Query i (1-based) is the first cell of row i. A blank line or a row whose first cell is empty keeps its
    number (so row i still pairs with ``{i}.png``) and comes back as ``""`` (named by the builder as an empty
    query); only blank lines at the end of the file are dropped."""
    try:
        rows = list(csv.reader(store.read_text(path).splitlines()))
    except csv.Error as exc:
        raise DataError(f"{path}: not readable CSV ({exc})") from None
    queries = [row[0].strip() if row else "" for row in rows]
    while queries and not queries[-1]:
        queries.pop()
    if queries and queries[0].lower() in _HEADER_WORDS:
        queries = queries[1:]
    return queries


@dataclass
class Release:
    """What :func:`discover` found of one set inside the folder the user named (``root``)."""

    root: Path
    category_csv: Path
    categories: dict[int, str]
    text_dir: Path
    folders: dict[str, Path | None]  # image / audio_female / audio_male
    problems: list = field(default_factory=list)


def discover(root: Path, subset: str) -> Release:
    """Find the set's category.csv and its text, image and audio folders inside ``root``; DataError when
    the set is not there at all."""
    category_csv = find_category_csv(root, subset)
    categories, problems = read_category_csv(category_csv)
    ks = sorted(categories)
    bases = _search_bases(category_csv, root)
    text_dir = find_text_dir(bases, ks, root)
    if text_dir is None:
        raise DataError(f"no text folder ({{k}}.csv files for k in {ks[:5]}...) near {category_csv}")
    folders = {"image": find_media_dir(bases, ks, ".png", root),
               "audio_female": find_media_dir(bases, ks, ".wav", root, "female"),
               "audio_male": find_media_dir(bases, ks, ".wav", root, "male")}
    for what, folder in folders.items():
        if folder is None:
            problems.append(store.Problem(str(category_csv.parent), f"no {what} folder found; {what} tasks will be "
                                          "empty", field=what))
    return Release(root, category_csv, categories, text_dir, folders, problems)


def _read_media(release: Release, what: str, path: Path, qid: str, slug: str) -> tuple[bytes | None, store.Problem | None]:
    """One image or audio file, decoded in full, or the problem that leaves it out of its modality's tasks."""
    def problem(what_is_wrong: str):
        return None, store.Problem(str(path), f"{what_is_wrong}; left out of the {what} tasks", id=qid, field=what,
                                   scenario=slug)

    if not path.is_file():
        return problem("missing")
    real = store.outside(path, release.root)
    if real is not None:
        return problem(f"resolves to {real}, outside --source {release.root}; not read")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return problem(f"cannot read ({exc.strerror or exc})")
    try:
        if what == "image":
            store.decode_image(data)
        else:
            store.decode_audio(data)
    except ValueError as exc:
        return problem(f"{'not a decodable image' if what == 'image' else 'unreadable audio'} ({exc})")
    return data, None


# ------------------------------------------------------------------------------------------ building

def features():
    import datasets  # heavy: only when data is built or loaded

    return datasets.Features({
        "id": datasets.Value("string"), "release_k": datasets.Value("int32"), "index": datasets.Value("int32"),
        "release_name": datasets.Value("string"), "scenario": datasets.Value("string"),
        "scenario_slug": datasets.Value("string"), "category": datasets.Value("string"),
        "category_abbr": datasets.Value("string"), "query": datasets.Value("string"),
        "image": datasets.Image(), "audio_female": datasets.Value("binary"), "audio_male": datasets.Value("binary"),
        "has_image": datasets.Value("bool"), "has_audio_female": datasets.Value("bool"),
        "has_audio_male": datasets.Value("bool"),
    })


def build_set(release: Release, subset: str, source: dict, data_root: Path | None = None,
              extra_problems: list | None = None) -> SetReport:
    """Write one set (a staging folder swapped in at the end); DataError when no scenario has a valid query."""
    import datasets  # heavy: only when data is built or loaded

    target = set_dir(subset, data_root)
    category_csv, text_dir, folders = release.category_csv, release.text_dir, release.folders
    report = SetReport(subset=subset, directory=target, release_root=category_csv.parent,
                       problems=[*release.problems, *(extra_problems or [])])

    # Which folder holds which scenario, and its queries, before anything is written.
    plan, seen = [], {}
    for k in sorted(release.categories):
        name = release.categories[k]
        scenario = sb.match_scenario(name)
        where = str(category_csv)
        if scenario is None:
            report.problems.append(store.Problem(where, f"scenario name {name!r} is not in the taxonomy; folder {k} is "
                                                 "left out", id=str(k), field="scenario name"))
            continue
        if scenario.slug in seen:
            report.problems.append(store.Problem(where, f"{name!r} names the scenario of folder {seen[scenario.slug]} "
                                                 f"again; folder {k} is left out", id=str(k), field="scenario name",
                                                 scenario=scenario.slug))
            continue
        seen[scenario.slug] = k
        text_file = text_dir / f"{k}.csv"
        real = store.outside(text_file, release.root)
        if not text_file.is_file():
            report.problems.append(store.Problem(str(text_file), "missing", scenario=scenario.slug))
            continue
        if real is not None:
            report.problems.append(store.Problem(str(text_file), f"resolves to {real}, outside --source "
                                                 f"{release.root}; not read", scenario=scenario.slug))
            continue
        try:
            queries = read_queries(text_file)
        except DataError as exc:
            report.problems.append(store.Problem(str(text_file), str(exc).removeprefix(f"{text_file}: "),
                                                 scenario=scenario.slug))
            continue
        plan.append((k, name, scenario, text_file, queries))

    scenarios_meta = {}
    total = sum(len(queries) for *_, queries in plan)
    with store.StagingDir(target) as staging, store.quiet_datasets(), \
            tqdm(total=total, desc=f"Building SafeBench {subset}", unit="q") as bar:
        for k, name, scenario, text_file, queries in plan:
            columns = {column: [] for column in features()}
            for i, query in enumerate(queries, 1):
                bar.update(1)
                qid = f"{k}-{i}"
                if not query:
                    report.problems.append(store.Problem(str(text_file), f"row {i} has an empty query; left out",
                                                         id=qid, field="query", scenario=scenario.slug))
                    continue
                media = {}
                for what, folder in folders.items():
                    media[what] = None
                    if folder is None:
                        continue
                    path = folder / str(k) / f"{i}{'.png' if what == 'image' else '.wav'}"
                    media[what], problem = _read_media(release, what, path, qid, scenario.slug)
                    if problem is not None:
                        report.problems.append(problem)
                row = {"id": qid, "release_k": k, "index": i, "release_name": name, "scenario": scenario.title,
                       "scenario_slug": scenario.slug, "category": scenario.category.title,
                       "category_abbr": scenario.category.abbr, "query": query,
                       "image": {"bytes": media["image"], "path": None} if media["image"] else None,
                       "audio_female": media["audio_female"], "audio_male": media["audio_male"],
                       "has_image": media["image"] is not None, "has_audio_female": media["audio_female"] is not None,
                       "has_audio_male": media["audio_male"] is not None}
                for column in columns:
                    columns[column].append(row[column])
            built = len(columns["id"])
            if not built:
                # An empty parquet file would load as a task with no documents and crash the run.
                report.problems.append(store.Problem(str(text_file), "no valid records; the scenario is not written, "
                                                     "and its tasks say so", scenario=scenario.slug))
                continue
            expected = sb.SETS[subset]["queries"]
            if len(queries) != expected:
                report.problems.append(store.Problem(str(text_file), f"{len(queries)} queries, expected {expected}",
                                                     scenario=scenario.slug, left_out=False))
            file_name = f"{scenario.slug}.parquet"
            datasets.Dataset.from_dict(columns, features=features()).to_parquet(str(staging / file_name))
            counts = {what: sum(columns[f"has_{what}"]) for what in folders}
            scenarios_meta[scenario.slug] = {"file": file_name, "release_k": k, "release_name": name,
                                             "queries": built, **counts}
            report.per_scenario[scenario.slug] = built
            report.queries += built
            report.images += counts["image"]
            report.audio_female += counts["audio_female"]
            report.audio_male += counts["audio_male"]
        if not scenarios_meta:
            raise DataError(f"nothing of the SafeBench {subset} set was built (an earlier build, if any, is left as "
                            "it was): no scenario has a valid query:\n" +
                            "\n".join(f"  {p}" for p in report.problems if p.left_out))
        if len(scenarios_meta) != sb.SETS[subset]["scenarios"]:
            report.problems.append(store.Problem(str(category_csv), f"{len(scenarios_meta)} scenarios built, expected "
                                                 f"{sb.SETS[subset]['scenarios']}", left_out=False))
        store.write_manifest(staging, {
            "benchmark": sb.NAME, "set": subset, "format": FORMAT_VERSION,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source,
            "release_root": str(category_csv.parent), "folders": {"text": str(text_dir),
                                                                 **{k: str(v) if v else None for k, v in folders.items()}},
            "scenarios": scenarios_meta,
            "totals": {"queries": report.queries, "image": report.images, "audio_female": report.audio_female,
                       "audio_male": report.audio_male},
            "problems": [p.to_dict() for p in report.problems],
        })
    return report


SET_NAMES = {sb.FULL: "full", sb.MINI: "MiniBench"}


def build(source: str | None = None, subset: str = "all", data_root: str | Path | None = None) -> list[SetReport]:
    """Build the set(s) asked for. With ``all``, a set that cannot be built is reported by name in a
    :class:`SetReport` with ``built=False`` (and, when the source lacks it, in the manifest of the other set),
    and the other set is still built; DataError when nothing is built, or when the one set asked for fails."""
    subsets = [sb.FULL, sb.MINI] if subset == "all" else [subset]
    if any(s not in sb.SETS for s in subsets):
        raise DataError(f"--set {subset!r}: expected full, mini or all")
    root_dir = store.data_root(data_root)
    for s in subsets:
        store.check_target(set_dir(s, root_dir))
    spec = (source or "hub").strip()
    found, not_built = {}, {}

    def fail(s: str, exc: DataError) -> None:
        if subset != "all":
            raise exc
        problem = store.Problem(spec, f"the {SET_NAMES[s]} set is not built: {exc}", id=s, field="set")
        not_built[s] = SetReport(subset=s, directory=set_dir(s, root_dir), built=False, problems=[problem])

    for s in subsets:  # find every set first, so a missing one is named in the manifest of the other
        try:
            root, description = resolve_release(source, s)
            found[s] = (discover(root, s), description)
        except DataError as exc:
            fail(s, exc)
    reports = {}
    for s, (release, description) in found.items():
        try:
            reports[s] = build_set(release, s, description, root_dir,
                                   [p for r in not_built.values() for p in r.problems])
        except DataError as exc:
            fail(s, exc)
    if not reports:
        raise DataError("nothing was built:\n" + "\n".join(f"  {p.what}" for r in not_built.values()
                                                          for p in r.problems))
    return [reports.get(s) or not_built[s] for s in subsets]


# ------------------------------------------------------------------------------------------ loading

def ensure_built(subset: str, data_root: Path | None = None) -> dict:
    return store.ensure_built(
        set_dir(subset, data_root), f"SafeBench ({subset} set)", f"the hub ({sb.HUB_REPO})",
        lambda: build(subset=subset, data_root=data_root),
        f"{BUILD_COMMAND} --set {subset} [--source hub|PATH_TO_RELEASE_OR_ARCHIVE]")


def load_docs(selector: sb.Selector, data_root: Path | None = None, directory: Path | None = None,
              build_command: str = BUILD_COMMAND):
    """The documents of one task. ``directory``: a folder in this build's schema that is not the official build
    (a generated benchmark; ``build_command`` then says how it is made)."""
    import datasets  # heavy: only when data is built or loaded

    directory, manifest = store.open_build(set_dir(selector.set, data_root),
                                           lambda: ensure_built(selector.set, data_root), directory, build_command)
    wanted = [selector.scenario.slug] if selector.scenario else list(manifest.get("scenarios", {}))
    missing = [slug for slug in wanted if slug not in manifest.get("scenarios", {})]
    left_out = [p for p in manifest.get("problems", []) if p.get("kind", "left_out") == "left_out"]
    if missing:
        reported = [p for p in left_out if p.get("scenario") in missing] or [p for p in left_out if not p.get("scenario")]
        raise DataError(f"scenario(s) {missing} are not in the built SafeBench {selector.set} set ({directory}); the "
                        f"build reported: {store.describe_problems(reported)}. Fix the release and rebuild with "
                        f"{build_command} --set {selector.set}")
    parts = [datasets.Dataset.from_parquet(str(directory / manifest["scenarios"][slug]["file"])) for slug in wanted]
    ds = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    media = {"image": "image", "audio_female": "audio_female", "audio_male": "audio_male", "text": None}[selector.modality]
    if media is not None:
        flags = ds[f"has_{media}"]
        absent = flags.count(False)
        if absent == len(flags):
            reported = [p for p in left_out if p.get("field") == media and p.get("scenario") in (None, *wanted)]
            raise DataError(f"the built SafeBench {selector.set} set has no usable {media} file for {selector} (the build "
                            f"reported: {store.describe_problems(reported)}); rebuild from a release that includes "
                            f"them: {build_command}")
        if absent:
            logger.warning(f"SafeBench {selector}: {absent} of {len(flags)} queries have no {media} file and are left "
                           f"out (listed under 'problems' in {directory}/manifest.json)")
            ds = ds.filter(lambda flag: flag, input_columns=[f"has_{media}"])
    drop = [c for c in ("image", "audio_female", "audio_male") if c != media]
    ds = ds.remove_columns(drop)
    n = len(ds)
    ds = ds.add_column("modality", [selector.modality] * n)
    ds = ds.add_column("mode", [selector.mode] * n)
    ds = ds.add_column("set", [selector.set] * n)
    ds = ds.add_column("benchmark", [sb.NAME] * n)
    return ds
