"""Build MM-SafetyBench into the local data folder, and load the slice a task asks for.

Sources (``lmms-safebench build mmsafetybench --source SRC``):

- ``github`` (default) or ``github@<commit>``: the official question files, downloaded from the
  upstream repository at a pinned commit;
- a local path: a copy of the upstream repository, or of its ``data/processed_questions`` folder;
- ``hub`` or ``hub:<repo-or-folder>``: the unofficial parquet copy on the Hugging Face hub
  (``PKU-Alignment/MM-SafetyBench``; configs per scenario, splits ``SD``/``TYPO``/``SD_TYPO``/``Text_only``),
  which carries its own SD and TYPO images but not the key phrases.

TYPO images are rendered here to the published specification (:mod:`.typography`); SD images come
from the official image folder (``--sd-images DIR``, laid out ``DIR/<scenario>/SD/<id>.jpg``) when
the user has it; SD_TYPO is composed from the two when a task needs it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger
from tqdm import tqdm

from .. import paths
from ..benchmarks import mmsafetybench as mmsb
from ..errors import DataError
from . import store, typography

FORMAT_VERSION = 1
TINY_LIST_NAME = "TinyVersion_ID_List.json"
# Where `--source github` downloads from. SAFEBENCH_GITHUB_RAW replaces the host part (a mirror, or a
# file:// copy of the repository for offline use): files are fetched from <base>/<repo>/<commit>/<path>.
GITHUB_RAW = "https://raw.githubusercontent.com"


def raw_url(commit: str, path: str) -> str:
    base = os.environ.get("SAFEBENCH_GITHUB_RAW", GITHUB_RAW).rstrip("/")
    return f"{base}/{mmsb.UPSTREAM_REPO}/{commit}/{path}"


@dataclass
class BuildReport:
    directory: Path
    questions: int = 0
    tiny: int = 0
    sd_images: int = 0
    per_scenario: dict = field(default_factory=dict)
    typo_lines: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)  # (where, what) pairs; the build went on without them

    def summary(self) -> str:
        lines = [f"MM-SafetyBench built in {self.directory}",
                 f"  questions: {self.questions} ({len(self.per_scenario)} scenarios), tiny subset: {self.tiny}",
                 f"  image-text pairs: TYPO {self.questions}, SD {self.sd_images}, SD_TYPO {self.sd_images}",
                 f"  typography line counts: {dict(sorted(self.typo_lines.items()))}"]
        if self.sd_images < self.questions:
            lines.append("  SD and SD_TYPO tasks need the official SD images: rebuild with --sd-images DIR")
        for where, what in self.problems:
            lines.append(f"  PROBLEM {where}: {what}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- sources

@dataclass
class Source:
    kind: str  # "github", "local", "hub"
    location: str
    description: dict


def parse_source(spec: str | None) -> Source:
    spec = (spec or "github").strip()
    if spec == "github" or spec.startswith("github@"):
        commit = spec.split("@", 1)[1] if "@" in spec else mmsb.UPSTREAM_COMMIT
        return Source("github", commit, {"type": "github", "repo": mmsb.UPSTREAM_REPO, "commit": commit})
    if spec == "hub" or spec.startswith("hub:"):
        location = spec.split(":", 1)[1] if ":" in spec else mmsb.HUB_COPY
        return Source("hub", location, {"type": "hub", "location": location, "official": False})
    path = Path(spec).expanduser()
    if path.exists():
        return Source("local", str(path.resolve()), {"type": "local", "path": str(path.resolve())})
    raise DataError(f"--source {spec!r}: not an existing folder, and not one of: github, github@<commit>, hub, "
                    "hub:<repo-or-folder>")


def download_upstream(commit: str) -> Path:
    """Fetch the 13 question files and the tiny-subset list into the download cache."""
    root = paths.downloads_dir() / "mmsafetybench" / commit
    qdir = root / "data" / "processed_questions"
    for sc in tqdm(mmsb.SCENARIOS, desc="Downloading MM-SafetyBench questions", unit="file"):
        store.download(raw_url(commit, f"data/processed_questions/{sc.upstream}.json"), qdir / f"{sc.upstream}.json")
    try:
        store.download(raw_url(commit, TINY_LIST_NAME), root / TINY_LIST_NAME)
    except DataError as exc:
        logger.warning(f"tiny-subset list not downloaded ({exc}); tiny tasks will need --tiny-list")
    return root


def find_question_dir(root: Path) -> Path:
    candidates = [root, root / "processed_questions", root / "data" / "processed_questions"]
    candidates += [c / "data" / "processed_questions" for c in root.glob("*") if c.is_dir()]
    for candidate in candidates:
        if any((candidate / f"{sc.upstream}.json").exists() for sc in mmsb.SCENARIOS):
            return candidate
    raise DataError(f"no MM-SafetyBench question files (such as {mmsb.SCENARIOS[0].upstream}.json) in {root}, "
                    "its processed_questions/ or data/processed_questions/; point --source at a copy of the "
                    "upstream repository or of that folder")


def find_tiny_list(root: Path, question_dir: Path) -> Path | None:
    for folder in (question_dir, question_dir.parent, question_dir.parent.parent, root):
        candidate = folder / TINY_LIST_NAME
        if candidate.exists():
            return candidate
    return None


def read_tiny_list(path: Path) -> dict[str, set[str]]:
    """``{upstream scenario: {ids}}`` from the official tiny list."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {e["Scenario"]: {str(i) for i in e["Sampled_ID_List"]} for e in entries}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a readable tiny-subset list ({exc})") from None


def read_question_file(path: Path, sc: mmsb.Scenario) -> list[dict]:
    """Records of one scenario file; raises DataError naming the file (and the record) at fault."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object keyed by question id, got {type(raw).__name__}")
    records = []
    for qid, entry in raw.items():
        if not isinstance(entry, dict):
            raise DataError(f"{path}: record {qid!r} is not an object")
        record = {"id": str(qid), "scenario": sc.upstream, "scenario_slug": sc.slug}
        for name, upstream in mmsb.UPSTREAM_FIELDS.items():
            value = entry.get(upstream)
            if value is None and name in ("question", "key_phrase", "rephrased_question", "rephrased_question_sd"):
                raise DataError(f"{path}: record {qid!r} has no {upstream!r} field")
            record[name] = None if value is None else str(value)
        records.append(record)
    return records


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z]", "", re.sub(r"^\d+[-_]", "", name.lower())).replace("activitiy", "activity")


def read_hub_copy(location: str) -> tuple[dict[str, list[dict]], list]:
    """Records per scenario from the unofficial hub copy (a hub id, or a local folder of the same layout)."""
    import datasets

    problems = []
    try:
        configs = datasets.get_dataset_config_names(location)
    except Exception as exc:
        raise DataError(f"cannot open the hub copy {location!r}: {exc}") from None
    by_name = {_normalise(c): c for c in configs}
    out: dict[str, list[dict]] = {}
    for sc in tqdm(mmsb.SCENARIOS, desc="Reading hub copy", unit="scenario"):
        config = by_name.get(_normalise(sc.upstream))
        if config is None:
            problems.append((location, f"no config for scenario {sc.upstream} (configs: {configs})"))
            continue
        splits = {}
        try:
            for split in datasets.get_dataset_split_names(location, config):
                ds = datasets.load_dataset(location, name=config, split=split)
                if "image" in ds.column_names:
                    ds = ds.cast_column("image", datasets.Image(decode=False))
                splits[re.sub(r"[^a-z]", "", split.lower())] = {str(r["id"]): r for r in ds}
        except Exception as exc:
            problems.append((f"{location}:{config}", f"unreadable ({exc})"))
            continue
        text_rows = splits.get("textonly") or splits.get("typo") or {}
        records = []
        for qid, row in text_rows.items():
            typo_row = splits.get("typo", {}).get(qid, {})
            sd_row = splits.get("sd", {}).get(qid, {})
            records.append({
                "id": qid, "scenario": sc.upstream, "scenario_slug": sc.slug,
                "question": splits.get("textonly", {}).get(qid, {}).get("question") or row.get("question"),
                "changed_question": None, "key_phrase": None, "phrase_type": None,
                "rephrased_question": typo_row.get("question"), "rephrased_question_sd": sd_row.get("question"),
                "gpt_pred": None,
                "_typo_bytes": (typo_row.get("image") or {}).get("bytes"),
                "_sd_bytes": (sd_row.get("image") or {}).get("bytes"),
            })
        out[sc.upstream] = records
    return out, problems


# ------------------------------------------------------------------------------------------- building

def find_sd_image(sd_root: Path, sc: mmsb.Scenario, qid: str) -> Path | None:
    for base in (sd_root, sd_root / "imgs"):
        for ext in (".jpg", ".jpeg", ".png"):
            candidate = base / sc.upstream / "SD" / f"{qid}{ext}"
            if candidate.exists():
                return candidate
    return None


def parse_pairing(spec: str | None) -> dict:
    """``"sd=rephrased_question_sd,typo=rephrased_question"`` -> a full pairing dict."""
    pairing = dict(mmsb.DEFAULT_PAIRING)
    for item in filter(None, (spec or "").split(",")):
        kind, _, text_field = item.partition("=")
        kind, text_field = kind.strip(), text_field.strip()
        if kind not in mmsb.IMAGE_KINDS or text_field not in mmsb.TEXT_FIELDS:
            raise DataError(f"--pairing {item!r}: expected <kind>=<field> with kind in {mmsb.IMAGE_KINDS} and field in "
                            f"{mmsb.TEXT_FIELDS}")
        pairing[kind] = text_field
    return pairing


def _features():
    import datasets

    text = {name: datasets.Value("string") for name in ("id", "scenario", "scenario_slug", *mmsb.TEXT_FIELDS)}
    return datasets.Features({**text, "in_tiny": datasets.Value("bool"), "has_sd": datasets.Value("bool"),
                              "typo_lines": datasets.Value("int32"),
                              "typo_image": datasets.Image(), "sd_image": datasets.Image()})


def build(source: str | None = None, sd_images: str | Path | None = None, data_root: str | Path | None = None,
          pairing: str | dict | None = None, font: str | Path | None = None,
          tiny_list: str | Path | None = None) -> BuildReport:
    """Normalise MM-SafetyBench into ``<data_root>/mmsafetybench``. Problems with individual files are
    reported (by path) in the returned report and the manifest; the rest is still built."""
    import datasets

    src = parse_source(source)
    pairing = pairing if isinstance(pairing, dict) else parse_pairing(pairing)
    sd_root = Path(sd_images).expanduser() if sd_images else None
    if sd_root is not None and not sd_root.is_dir():
        raise DataError(f"--sd-images {sd_root}: not a folder")
    if font is not None and not Path(font).exists():
        raise DataError(f"--font {font}: no such file")
    target = store.benchmark_dir(mmsb.NAME, Path(data_root) if data_root else None)
    report = BuildReport(directory=target)

    # 1. Read the questions.
    records_by_scenario: dict[str, list[dict]] = {}
    tiny_ids: dict[str, set[str]] | None = None
    if src.kind == "hub":
        records_by_scenario, problems = read_hub_copy(src.location)
        report.problems += problems
    else:
        root = download_upstream(src.location) if src.kind == "github" else Path(src.location)
        question_dir = find_question_dir(root)
        for sc in mmsb.SCENARIOS:
            path = question_dir / f"{sc.upstream}.json"
            if not path.exists():
                report.problems.append((str(path), "missing"))
                continue
            try:
                records_by_scenario[sc.upstream] = read_question_file(path, sc)
            except DataError as exc:
                report.problems.append((str(path), str(exc)))
        found = Path(tiny_list) if tiny_list else find_tiny_list(root, question_dir)
        tiny_list = found
    if tiny_list:
        tiny_ids = read_tiny_list(Path(tiny_list))
    if not records_by_scenario:
        raise DataError("no MM-SafetyBench scenario could be read:\n" +
                        "\n".join(f"  {where}: {what}" for where, what in report.problems))

    # 2. Images, per scenario, written to a staging folder swapped in at the end.
    line_counts: Counter = Counter()
    overflow = []
    font_obj = typography.load_font(str(font) if font else None)
    total = sum(len(r) for r in records_by_scenario.values())
    with store.StagingDir(target) as staging, store.quiet_datasets(), \
            tqdm(total=total, desc="Building MM-SafetyBench", unit="q") as bar:
        scenarios_meta = {}
        for sc in mmsb.SCENARIOS:
            records = records_by_scenario.get(sc.upstream)
            if records is None:
                continue
            wanted = (tiny_ids or {}).get(sc.upstream, set())
            known = {r["id"] for r in records}
            for qid in sorted(wanted - known):
                report.problems.append((str(tiny_list), f"tiny id {qid} of {sc.upstream} is not in the question file"))
            sd_found = 0
            columns = {name: [] for name in _features()}
            for record in records:
                typo_bytes = record.pop("_typo_bytes", None)
                sd_bytes = record.pop("_sd_bytes", None)
                lines = -1
                if record.get("key_phrase") is not None:
                    image, lines = typography.render(record["key_phrase"], font)
                    typo_bytes = typography.to_jpeg(image)
                    line_counts[lines] += 1
                    if any(font_obj.getlength(x) > typography.WIDTH for x in typography.wrap(record["key_phrase"],
                                                                                              font_obj)):
                        overflow.append(f"{sc.upstream}/{record['id']}")
                if sd_root is not None:
                    sd_path = find_sd_image(sd_root, sc, record["id"])
                    sd_bytes = sd_path.read_bytes() if sd_path else None
                sd_found += sd_bytes is not None
                row = {**record, "in_tiny": record["id"] in wanted, "has_sd": sd_bytes is not None, "typo_lines": lines,
                       "typo_image": {"bytes": typo_bytes, "path": None} if typo_bytes else None,
                       "sd_image": {"bytes": sd_bytes, "path": None} if sd_bytes else None}
                for name in columns:
                    columns[name].append(row.get(name))
                bar.update(1)
            if sd_root is not None and sd_found < len(records):
                report.problems.append((str(sd_root / sc.upstream / "SD"),
                                        f"{len(records) - sd_found} of {len(records)} SD images not found"))
            if len(records) != sc.questions:
                report.problems.append((sc.upstream, f"{len(records)} questions, the published count is {sc.questions}"))
            file_name = f"{sc.slug}.parquet"
            datasets.Dataset.from_dict(columns, features=_features()).to_parquet(str(staging / file_name))
            tiny_count = sum(columns["in_tiny"])
            scenarios_meta[sc.slug] = {"file": file_name, "upstream": sc.upstream, "questions": len(records),
                                       "tiny": tiny_count, "sd_images": sd_found}
            report.per_scenario[sc.slug] = len(records)
            report.questions += len(records)
            report.tiny += tiny_count
            report.sd_images += sd_found
        report.typo_lines = {int(k): v for k, v in line_counts.items()}
        store.write_manifest(staging, {
            "benchmark": mmsb.NAME, "format": FORMAT_VERSION, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": src.description, "tiny_list": tiny_ids is not None,
            "sd_images_from": str(sd_root) if sd_root else None, "pairing": pairing,
            "font": str(font or typography.DEFAULT_FONT.name), "scenarios": scenarios_meta,
            "totals": {"questions": report.questions, "tiny": report.tiny, "sd_images": report.sd_images},
            "typo_lines": {str(k): v for k, v in sorted(line_counts.items())}, "typo_overflow": overflow,
            "problems": [{"where": w, "what": p} for w, p in report.problems],
        })
    return report


# ------------------------------------------------------------------------------------------- loading

BUILD_COMMAND = "lmms-safebench build mmsafetybench"


def ensure_built(data_root: Path | None = None) -> dict:
    """The manifest of the built dataset; builds it from the default source when it is missing and the
    network may be used; otherwise raises :class:`DataNotBuiltError` saying which command builds it."""
    return store.ensure_built(
        store.benchmark_dir(mmsb.NAME, data_root), "MM-SafetyBench", f"github ({mmsb.UPSTREAM_REPO})",
        lambda: build(data_root=data_root),
        f"{BUILD_COMMAND} [--source PATH_OR_github|hub] [--sd-images OFFICIAL_IMG_DIR]")


def load_docs(selector: mmsb.Selector, data_root: Path | None = None):
    """The documents of one task: a ``datasets.Dataset`` with the paired ``query`` and the images its kind needs."""
    import datasets

    directory = store.benchmark_dir(mmsb.NAME, data_root)
    manifest = ensure_built(data_root)
    sc = selector.scenario
    entry = manifest.get("scenarios", {}).get(sc.slug)
    if entry is None:
        raise DataError(f"scenario {sc.upstream} is not in the built dataset {directory} (problems reported by the "
                        f"build: {manifest.get('problems')}); rebuild with {BUILD_COMMAND}")
    ds = datasets.Dataset.from_parquet(str(directory / entry["file"]))
    if selector.subset == "tiny":
        if not manifest.get("tiny_list"):
            raise DataError(f"the dataset in {directory} was built without the tiny-subset list "
                            f"({TINY_LIST_NAME}); rebuild with {BUILD_COMMAND} --tiny-list FILE")
        ds = ds.filter(lambda flag: flag, input_columns=["in_tiny"])
    if selector.kind in mmsb.KINDS_NEEDING_SD:
        missing = sum(1 for flag in ds["has_sd"] if not flag)
        if missing:
            raise DataError(
                f"task needs Stable Diffusion images, but {missing} of {len(ds)} questions of {sc.upstream} have none "
                f"in {directory}. The SD images are distributed by the MM-SafetyBench authors (see their repository "
                f"{mmsb.UPSTREAM_REPO}, 'imgs' archive). Unpack them and rebuild: {BUILD_COMMAND} --sd-images "
                "/path/to/imgs. TYPO and text-only tasks work without them.")
    field_name = manifest.get("pairing", mmsb.DEFAULT_PAIRING)[selector.kind]
    queries = ds[field_name]
    for position, (qid, query) in enumerate(zip(ds["id"], queries, strict=True)):
        if not query:
            raise DataError(f"{directory / entry['file']}: record {qid!r} (row {position}) has no {field_name!r} text")
    keep_images = {"sd": ["sd_image"], "typo": ["typo_image"], "sd_typo": ["sd_image", "typo_image"], "text": []}
    drop = [c for c in ("sd_image", "typo_image") if c not in keep_images[selector.kind]]
    ds = ds.remove_columns(drop)
    n = len(ds)
    ds = ds.add_column("query", queries)
    ds = ds.add_column("kind", [selector.kind] * n)
    ds = ds.add_column("defended", [selector.prompt == "defended"] * n)
    ds = ds.add_column("benchmark", [mmsb.NAME] * n)
    return ds
