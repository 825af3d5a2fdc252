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
decoded with soundfile (no FFmpeg). Missing or unreadable files are reported by path; everything else
is built.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger
from tqdm import tqdm

from .. import paths
from ..benchmarks import safebench as sb
from ..errors import DataError
from . import store

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
    problems: list = field(default_factory=list)  # (where, what)

    def summary(self) -> str:
        expected = sb.SETS[self.subset]
        lines = [f"SafeBench {self.subset} set built in {self.directory} (release found at {self.release_root})",
                 f"  scenarios: {len(self.per_scenario)} (expected {expected['scenarios']}), queries: {self.queries} "
                 f"(expected {expected['scenarios'] * expected['queries']})",
                 f"  images: {self.images}, audio (female): {self.audio_female}, audio (male): {self.audio_male}"]
        for where, what in self.problems[:50]:
            lines.append(f"  PROBLEM {where}: {what}")
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more problems (all listed in manifest.json)")
        return "\n".join(lines)


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
    from huggingface_hub import HfApi, hf_hub_download

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
    candidates = sorted(root.rglob("category.csv"), key=lambda p: (len(p.parts), str(p)))
    if not candidates:
        raise DataError(f"no category.csv under {root}: is this a SafeBench release?")
    mini = [c for c in candidates if "mini" in str(c.relative_to(root)).lower()]
    full = [c for c in candidates if c not in mini]
    chosen = (mini if subset == sb.MINI else full) or ([] if subset == sb.MINI else candidates)
    if not chosen:
        raise DataError(f"no MiniBench category.csv under {root} (found: {[str(c) for c in candidates]})")
    return chosen[0]


def read_category_csv(path: Path) -> dict[int, str]:
    """{folder number k: scenario name as the release spells it}."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    mapping = {}
    for number, row in enumerate(rows, 1):
        if len(row) < 2 or not row[0].strip():
            continue
        try:
            k = int(row[0].strip())
        except ValueError:
            if number == 1:
                continue  # header row
            raise DataError(f"{path}:{number}: first column must be the folder number, got {row[0]!r}") from None
        mapping[k] = row[1].strip()
    if not mapping:
        raise DataError(f"{path}: no (number, scenario) rows")
    return mapping


def _search_bases(category_csv: Path) -> list[Path]:
    base = category_csv.parent
    return [base, base.parent] if base.parent != base else [base]


def find_text_dir(bases: list[Path], ks: list[int]) -> Path | None:
    best, best_hits = None, 0
    for base in bases:
        for folder in [base, *[p for p in base.rglob("*") if p.is_dir()]]:
            hits = sum((folder / f"{k}.csv").is_file() for k in ks)
            if hits > best_hits:
                best, best_hits = folder, hits
        if best is not None:
            return best
    return best


def find_media_dir(bases: list[Path], ks: list[int], suffix: str, voice: str | None = None) -> Path | None:
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
        for folder in [base, *[p for p in base.rglob("*") if p.is_dir()]]:
            if voice is not None and voice_of(folder) != voice:
                continue
            hits = sum(1 for k in ks if (folder / str(k)).is_dir() and any((folder / str(k)).glob(f"*{suffix}")))
            if hits > best_hits:
                best, best_hits = folder, hits
        if best is not None:
            return best
    return best


def read_queries(path: Path) -> list[str]:
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    queries = [row[0].strip() for row in rows if row and row[0].strip()]
    if queries and queries[0].lower() in _HEADER_WORDS:
        queries = queries[1:]
    return queries


def _check_image(path: Path) -> bytes:
    from PIL import Image

    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    return data


def _check_audio(path: Path) -> bytes:
    import soundfile

    data = path.read_bytes()
    soundfile.info(io.BytesIO(data))
    return data


# ------------------------------------------------------------------------------------------ building

def _features():
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"), "release_k": datasets.Value("int32"), "index": datasets.Value("int32"),
        "release_name": datasets.Value("string"), "scenario": datasets.Value("string"),
        "scenario_slug": datasets.Value("string"), "category": datasets.Value("string"),
        "category_abbr": datasets.Value("string"), "query": datasets.Value("string"),
        "image": datasets.Image(), "audio_female": datasets.Value("binary"), "audio_male": datasets.Value("binary"),
        "has_image": datasets.Value("bool"), "has_audio_female": datasets.Value("bool"),
        "has_audio_male": datasets.Value("bool"),
    })


def build_set(root: Path, subset: str, source: dict, data_root: Path | None = None) -> SetReport:
    import datasets

    target = set_dir(subset, data_root)
    report = SetReport(subset=subset, directory=target)
    category_csv = find_category_csv(root, subset)
    report.release_root = category_csv.parent
    categories = read_category_csv(category_csv)
    ks = sorted(categories)
    bases = _search_bases(category_csv)
    text_dir = find_text_dir(bases, ks)
    if text_dir is None:
        raise DataError(f"no text folder ({{k}}.csv files for k in {ks[:5]}...) near {category_csv}")
    folders = {"image": find_media_dir(bases, ks, ".png"), "audio_female": find_media_dir(bases, ks, ".wav", "female"),
               "audio_male": find_media_dir(bases, ks, ".wav", "male")}
    for what, folder in folders.items():
        if folder is None:
            report.problems.append((str(category_csv.parent), f"no {what} folder found; {what} tasks will be empty"))

    scenarios_meta, seen = {}, {}
    total = sum(len(read_queries(text_dir / f"{k}.csv")) for k in ks if (text_dir / f"{k}.csv").is_file())
    with store.StagingDir(target) as staging, store.quiet_datasets(), \
            tqdm(total=total, desc=f"Building SafeBench {subset}", unit="q") as bar:
        for k in ks:
            name = categories[k]
            scenario = sb.match_scenario(name)
            if scenario is None:
                report.problems.append((f"{category_csv} (k={k})", f"scenario name {name!r} is not in the taxonomy"))
                continue
            if scenario.slug in seen:
                report.problems.append((f"{category_csv} (k={k})", f"{name!r} repeats folder {seen[scenario.slug]}"))
                continue
            seen[scenario.slug] = k
            text_file = text_dir / f"{k}.csv"
            if not text_file.is_file():
                report.problems.append((str(text_file), "missing"))
                continue
            try:
                queries = read_queries(text_file)
            except DataError as exc:
                report.problems.append((str(text_file), str(exc)))
                continue
            columns = {name: [] for name in _features()}
            for i, query in enumerate(queries, 1):
                media = {}
                for what, folder in folders.items():
                    suffix = ".png" if what == "image" else ".wav"
                    media[what] = None
                    if folder is None:
                        continue
                    path = folder / str(k) / f"{i}{suffix}"
                    if not path.is_file():
                        report.problems.append((str(path), "missing"))
                        continue
                    try:
                        media[what] = (_check_image if what == "image" else _check_audio)(path)
                    except Exception as exc:
                        report.problems.append((str(path), f"unreadable ({type(exc).__name__}: {exc})"))
                row = {"id": f"{k}-{i}", "release_k": k, "index": i, "release_name": name, "scenario": scenario.title,
                       "scenario_slug": scenario.slug, "category": scenario.category.title,
                       "category_abbr": scenario.category.abbr, "query": query,
                       "image": {"bytes": media["image"], "path": None} if media["image"] else None,
                       "audio_female": media["audio_female"], "audio_male": media["audio_male"],
                       "has_image": media["image"] is not None, "has_audio_female": media["audio_female"] is not None,
                       "has_audio_male": media["audio_male"] is not None}
                for column in columns:
                    columns[column].append(row[column])
                bar.update(1)
            expected = sb.SETS[subset]["queries"]
            if len(queries) != expected:
                report.problems.append((str(text_file), f"{len(queries)} queries, expected {expected}"))
            file_name = f"{scenario.slug}.parquet"
            datasets.Dataset.from_dict(columns, features=_features()).to_parquet(str(staging / file_name))
            counts = {what: sum(columns[f"has_{what}"]) for what in folders}
            scenarios_meta[scenario.slug] = {"file": file_name, "release_k": k, "release_name": name,
                                             "queries": len(queries), **counts}
            report.per_scenario[scenario.slug] = len(queries)
            report.queries += len(queries)
            report.images += counts["image"]
            report.audio_female += counts["audio_female"]
            report.audio_male += counts["audio_male"]
        if len(scenarios_meta) != sb.SETS[subset]["scenarios"]:
            report.problems.append((str(category_csv), f"{len(scenarios_meta)} scenarios built, expected "
                                                       f"{sb.SETS[subset]['scenarios']}"))
        store.write_manifest(staging, {
            "benchmark": sb.NAME, "set": subset, "format": FORMAT_VERSION,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source,
            "release_root": str(category_csv.parent), "folders": {"text": str(text_dir),
                                                                 **{k: str(v) if v else None for k, v in folders.items()}},
            "scenarios": scenarios_meta,
            "totals": {"queries": report.queries, "image": report.images, "audio_female": report.audio_female,
                       "audio_male": report.audio_male},
            "problems": [{"where": w, "what": p} for w, p in report.problems],
        })
    return report


def build(source: str | None = None, subset: str = "all", data_root: str | Path | None = None) -> list[SetReport]:
    subsets = [sb.FULL, sb.MINI] if subset == "all" else [subset]
    if any(s not in sb.SETS for s in subsets):
        raise DataError(f"--set {subset!r}: expected full, mini or all")
    reports = []
    for s in subsets:
        root, description = resolve_release(source, s)
        reports.append(build_set(root, s, description, Path(data_root) if data_root else None))
    return reports


# ------------------------------------------------------------------------------------------ loading

def ensure_built(subset: str, data_root: Path | None = None) -> dict:
    return store.ensure_built(
        set_dir(subset, data_root), f"SafeBench ({subset} set)", f"the hub ({sb.HUB_REPO})",
        lambda: build(subset=subset, data_root=data_root),
        f"{BUILD_COMMAND} --set {subset} [--source hub|PATH_TO_RELEASE_OR_ARCHIVE]")


def load_docs(selector: sb.Selector, data_root: Path | None = None):
    import datasets

    directory = set_dir(selector.set, data_root)
    manifest = ensure_built(selector.set, data_root)
    wanted = [selector.scenario.slug] if selector.scenario else list(manifest.get("scenarios", {}))
    missing = [slug for slug in wanted if slug not in manifest.get("scenarios", {})]
    if missing:
        raise DataError(f"scenario(s) {missing} are not in the built SafeBench {selector.set} set ({directory}); "
                        f"the build reported: {manifest.get('problems', [])[:5]}")
    parts = [datasets.Dataset.from_parquet(str(directory / manifest["scenarios"][slug]["file"])) for slug in wanted]
    ds = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    media = {"image": "image", "audio_female": "audio_female", "audio_male": "audio_male", "text": None}[selector.modality]
    if media is not None:
        flags = ds[f"has_{media}"]
        absent = flags.count(False)
        if absent == len(flags):
            raise DataError(f"the built SafeBench {selector.set} set has no {media} files (see {directory}/manifest.json);"
                            f" rebuild from a release that includes them: {BUILD_COMMAND}")
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
