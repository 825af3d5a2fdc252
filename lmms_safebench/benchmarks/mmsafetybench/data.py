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

Bad input is named and left out, never guessed at: a file that is missing, not UTF-8 or not JSON; a
record whose id is not a plain name or appears twice; a required text field that is missing, empty or
not text; an SD image that is missing, outside ``--sd-images`` (symlinks followed) or does not decode.
Such a record is left out (a bad SD image only from the SD and SD_TYPO tasks), a scenario with no valid
record is not written, and everything else is built (see :class:`.store.Problem`).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger
from tqdm import tqdm

from ... import paths
from ...data import store, typography
from ...errors import DataError
from . import taxonomy as mmsb

FORMAT_VERSION = 1
TINY_LIST_NAME = "TinyVersion_ID_List.json"
@dataclass
class BuildReport:
    directory: Path
    questions: int = 0
    tiny: int = 0
    sd_images: int = 0
    per_scenario: dict = field(default_factory=dict)
    typo_lines: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)  # store.Problem; the build went on without what they name

    @property
    def left_out(self) -> list:
        return [p for p in self.problems if p.left_out]

    def summary(self) -> str:
        lines = [f"MM-SafetyBench built in {self.directory}",
                 f"  questions: {self.questions} ({len(self.per_scenario)} scenarios), tiny subset: {self.tiny}",
                 f"  image-text pairs: TYPO {self.questions}, SD {self.sd_images}, SD_TYPO {self.sd_images}",
                 f"  typography line counts: {dict(sorted(self.typo_lines.items()))}"]
        return "\n".join(lines + store.problem_lines(self.problems))


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
        store.download(store.github_raw_url(mmsb.UPSTREAM_REPO, commit, f"data/processed_questions/{sc.upstream}.json"), qdir / f"{sc.upstream}.json")
    try:
        store.download(store.github_raw_url(mmsb.UPSTREAM_REPO, commit, TINY_LIST_NAME), root / TINY_LIST_NAME)
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


def find_tiny_list(root: Path, question_dir: Path) -> tuple[Path | None, Path | None]:
    """(the tiny list inside ``root``, or None; one found beside it but outside ``root``, which is not read)."""
    beyond = None
    for folder in (question_dir, question_dir.parent, question_dir.parent.parent, root):
        candidate = folder / TINY_LIST_NAME
        if candidate.exists():
            if store.outside(candidate, root) is None:
                return candidate, None
            beyond = beyond or candidate
    return None, beyond


def read_tiny_list(path: Path) -> dict[str, set[str]]:
    """``{upstream scenario: {ids}}`` from the official tiny list."""
    entries = store.read_json(path)
    try:
        return {e["Scenario"]: {str(i) for i in e["Sampled_ID_List"]} for e in entries}
    except (KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a tiny-subset list (a list of {{Scenario, Sampled_ID_List}}; {exc!r})") from None


# The fields every record needs whatever the pairing: the key phrase (TYPO image) and the default texts.
REQUIRED_FIELDS = frozenset({"question", "key_phrase", "rephrased_question", "rephrased_question_sd"})


def read_question_file(path: Path, sc: mmsb.Scenario,
                       required: frozenset = REQUIRED_FIELDS) -> tuple[list[dict], list[store.Problem]]:
    """The valid records of one scenario file, and a problem for each record or field left out. A file
    that cannot be read as a JSON object raises DataError naming it."""
    raw = store.read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object keyed by question id, got {store.json_kind(raw)}")
    records, problems = [], []

    def problem(qid, field_name, what):
        problems.append(store.Problem(str(path), what, id=qid, field=field_name, scenario=sc.slug))

    for qid, entry in store.keyed_records(raw, problem):
        record, rejected = {"id": qid, "scenario": sc.upstream, "scenario_slug": sc.slug}, False
        for name, upstream in mmsb.UPSTREAM_FIELDS.items():
            value, needed = entry.get(upstream), name in required
            fault = None
            if entry.repeated.get(upstream):
                fault = f"appears more than once in the record ({entry.repeated[upstream]} times)"
            elif value is None:
                fault = "missing" if needed else None
            elif not isinstance(value, str):
                fault = f"is {store.json_kind(value)}, not text"
            elif needed and not value.strip():
                fault = "is empty"
            if fault is None:
                record[name] = value
                continue
            record[name] = None
            if needed:
                rejected = True
                problem(qid, upstream, f"{fault}; the record is left out")
            else:
                problem(qid, upstream, f"{fault}; the record is kept without this field")
        if not rejected:
            records.append(record)
    return records, problems


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z]", "", re.sub(r"^\d+[-_]", "", name.lower())).replace("activitiy", "activity")


def read_hub_copy(location: str) -> tuple[dict[str, list[dict]], list]:
    """Records per scenario from the unofficial hub copy (a hub id, or a local folder of the same layout)."""
    import datasets  # heavy: only when data is built or loaded

    problems: list[store.Problem] = []
    try:
        configs = datasets.get_dataset_config_names(location)
    except Exception as exc:
        raise DataError(f"cannot open the hub copy {location!r}: {exc}") from None
    by_name = {_normalise(c): c for c in configs}
    out: dict[str, list[dict]] = {}
    for sc in tqdm(mmsb.SCENARIOS, desc="Reading hub copy", unit="scenario"):
        config = by_name.get(_normalise(sc.upstream))
        if config is None:
            problems.append(store.Problem(location, f"no config for scenario {sc.upstream} (configs: {configs})",
                                          scenario=sc.slug))
            continue
        splits = {}
        try:
            for split in datasets.get_dataset_split_names(location, config):
                ds = datasets.load_dataset(location, name=config, split=split)
                if "image" in ds.column_names:
                    ds = ds.cast_column("image", datasets.Image(decode=False))
                splits[re.sub(r"[^a-z]", "", split.lower())] = {str(r["id"]): r for r in ds}
        except Exception as exc:
            problems.append(store.Problem(f"{location}:{config}", f"unreadable ({exc})", scenario=sc.slug))
            continue
        text_rows = splits.get("textonly") or splits.get("typo") or {}
        records = []
        for qid, row in text_rows.items():
            if not store.is_plain_id(qid):
                problems.append(store.Problem(f"{location}:{config}", f"{store.PLAIN_ID_RULE}; the record is left out",
                                              id=qid, field="id", scenario=sc.slug))
                continue
            typo_row = splits.get("typo", {}).get(qid, {})
            sd_row = splits.get("sd", {}).get(qid, {})
            images, broken = {}, set()
            for split, column, image_row in (("TYPO", "typo_image", typo_row), ("SD", "sd_image", sd_row)):
                images[column] = (image_row.get("image") or {}).get("bytes")
                if images[column] is None:
                    continue
                try:
                    store.decode_image(images[column])
                except ValueError as exc:
                    images[column] = None
                    broken.add(column)
                    what = ("the record is left out (there is no key phrase to draw it again from)"
                            if column == "typo_image" else "left out of the SD and SD_TYPO tasks")
                    problems.append(store.Problem(f"{location}:{config}/{split}", f"not a decodable image ({exc}); "
                                                  f"{what}", id=qid, field=column, scenario=sc.slug))
            if "typo_image" in broken:
                continue
            records.append({
                "id": qid, "scenario": sc.upstream, "scenario_slug": sc.slug,
                "question": splits.get("textonly", {}).get(qid, {}).get("question") or row.get("question"),
                "changed_question": None, "key_phrase": None, "phrase_type": None,
                "rephrased_question": typo_row.get("question"), "rephrased_question_sd": sd_row.get("question"),
                "gpt_pred": None,
                "_typo_bytes": images["typo_image"], "_sd_bytes": images["sd_image"],
            })
        out[sc.upstream] = records
    return out, problems


# ------------------------------------------------------------------------------------------- building

def sd_folders(sd_root: Path, sc: mmsb.Scenario) -> list[Path]:
    return [base / sc.upstream / "SD" for base in (sd_root, sd_root / "imgs") if (base / sc.upstream / "SD").is_dir()]


def find_sd_image(sd_root: Path, sc: mmsb.Scenario, qid: str) -> Path | None:
    for folder in sd_folders(sd_root, sc):
        for ext in (".jpg", ".jpeg", ".png"):
            candidate = folder / f"{qid}{ext}"
            if candidate.exists():
                return candidate
    return None


_NOT_IN_SD = "left out of the SD and SD_TYPO tasks"


def read_sd_image(sd_root: Path, sc: mmsb.Scenario, qid: str) -> tuple[bytes | None, store.Problem | None]:
    """The SD image of one record, decoded in full, or a problem saying why there is none. A file whose
    real path (symlinks followed) is outside ``sd_root`` is not read."""
    def problem(where, what):
        return None, store.Problem(str(where), f"{what}; {_NOT_IN_SD}", id=qid, field="sd_image", scenario=sc.slug)

    path = find_sd_image(sd_root, sc, qid)
    if path is None:
        return problem(sd_folders(sd_root, sc)[0], f"no {qid}.jpg, {qid}.jpeg or {qid}.png")
    real = store.outside(path, sd_root)
    if real is not None:
        return problem(path, f"resolves to {real}, outside --sd-images {sd_root}; not read")
    try:
        data = path.read_bytes()
    except OSError as exc:
        return problem(path, f"cannot read ({exc.strerror or exc})")
    try:
        store.decode_image(data)
    except ValueError as exc:
        return problem(path, f"not a decodable image ({exc})")
    return data, None


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


def features():
    import datasets  # heavy: only when data is built or loaded

    text = {name: datasets.Value("string") for name in ("id", "scenario", "scenario_slug", *mmsb.TEXT_FIELDS)}
    return datasets.Features({**text, "in_tiny": datasets.Value("bool"), "has_sd": datasets.Value("bool"),
                              "typo_lines": datasets.Value("int32"),
                              "typo_image": datasets.Image(), "sd_image": datasets.Image()})


def build(source: str | None = None, sd_images: str | Path | None = None, data_root: str | Path | None = None,
          pairing: str | dict | None = None, font: str | Path | None = None,
          tiny_list: str | Path | None = None) -> BuildReport:
    """Normalise MM-SafetyBench into ``<data_root>/mmsafetybench``. Faults in files, records and fields are
    reported (:class:`.store.Problem`, in the returned report and the manifest) and the rest is built;
    DataError when nothing at all can be built (an earlier build is then left as it was)."""
    import datasets  # heavy: only when data is built or loaded

    src = parse_source(source)
    pairing = pairing if isinstance(pairing, dict) else parse_pairing(pairing)
    sd_root = Path(sd_images).expanduser() if sd_images else None
    if sd_root is not None and not sd_root.is_dir():
        raise DataError(f"--sd-images {sd_root}: not a folder")
    if font is not None and not Path(font).exists():
        raise DataError(f"--font {font}: no such file")
    target = store.benchmark_dir(mmsb.NAME, store.data_root(data_root))
    store.check_target(target)
    report = BuildReport(directory=target)
    required = REQUIRED_FIELDS | set(pairing.values())

    # 1. Read the questions.
    records_by_scenario: dict[str, list[dict]] = {}
    origin: dict[str, str] = {}  # scenario -> the file (or hub config) its records came from
    tiny_ids: dict[str, set[str]] | None = None
    tiny_path = Path(tiny_list).expanduser() if tiny_list else None
    if src.kind == "hub":
        records_by_scenario, problems = read_hub_copy(src.location)
        report.problems += problems
        origin = {sc.upstream: f"{src.location}:{sc.upstream}" for sc in mmsb.SCENARIOS}
    else:
        root = download_upstream(src.location) if src.kind == "github" else Path(src.location)
        question_dir = find_question_dir(root)
        for sc in mmsb.SCENARIOS:
            path = question_dir / f"{sc.upstream}.json"
            origin[sc.upstream] = str(path)
            real = store.outside(path, root)
            if not path.exists():
                report.problems.append(store.Problem(str(path), "missing", scenario=sc.slug))
            elif real is not None:
                report.problems.append(store.Problem(str(path), f"resolves to {real}, outside --source {root}; "
                                                                "not read", scenario=sc.slug))
            else:
                try:
                    records, problems = read_question_file(path, sc, required)
                except DataError as exc:
                    report.problems.append(store.Problem(str(path), _without_path(exc, path), scenario=sc.slug))
                    continue
                records_by_scenario[sc.upstream] = records
                report.problems += problems
        if tiny_path is None:
            tiny_path, beyond = find_tiny_list(root, question_dir)
            if beyond is not None:
                report.problems.append(store.Problem(str(beyond), f"outside --source {root}, so not read; pass "
                                                                  f"--tiny-list {beyond} to use it", left_out=False))
    if tiny_path is not None:
        try:
            tiny_ids = read_tiny_list(tiny_path)
        except DataError as exc:
            report.problems.append(store.Problem(str(tiny_path), f"{_without_path(exc, tiny_path)}; tiny tasks will "
                                                                 "not work"))
    elif src.kind != "hub":
        report.problems.append(store.Problem(TINY_LIST_NAME, "not found; tiny tasks will not work (pass --tiny-list "
                                                             "FILE)", left_out=False))
    if not records_by_scenario:
        raise DataError(_nothing_built(report.problems))
    if sd_root is None and src.kind != "hub":
        report.problems.append(store.Problem("--sd-images", "not given: SD and SD_TYPO tasks need the official SD "
                                                            "images; rebuild with --sd-images DIR", left_out=False))

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
            named = {p.id for p in report.problems if p.scenario == sc.slug}  # records already left out, by name
            for qid in sorted(wanted - {r["id"] for r in records} - named):
                report.problems.append(store.Problem(str(tiny_path), f"the tiny subset lists this id of {sc.upstream}, "
                                                                     "which its question file does not have",
                                                     id=qid, scenario=sc.slug))
            # A scenario folder missing from --sd-images is one problem, not one per question.
            sd_here = sd_root is not None and bool(sd_folders(sd_root, sc))
            if sd_root is not None and not sd_here and records:
                report.problems.append(store.Problem(str(sd_root / sc.upstream / "SD"), f"no such folder: the "
                                                     f"{len(records)} questions are {_NOT_IN_SD}",
                                                     field="sd_image", scenario=sc.slug))
            sd_found = 0
            columns = {name: [] for name in features()}
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
                if sd_here:
                    sd_bytes, problem = read_sd_image(sd_root, sc, record["id"])
                    if problem is not None:
                        report.problems.append(problem)
                elif sd_root is not None:
                    sd_bytes = None
                sd_found += sd_bytes is not None
                row = {**record, "in_tiny": record["id"] in wanted, "has_sd": sd_bytes is not None, "typo_lines": lines,
                       "typo_image": {"bytes": typo_bytes, "path": None} if typo_bytes else None,
                       "sd_image": {"bytes": sd_bytes, "path": None} if sd_bytes else None}
                for name in columns:
                    columns[name].append(row.get(name))
                bar.update(1)
            if not records:
                # An empty parquet file would load as a task with no documents and crash the run.
                report.problems.append(store.Problem(origin[sc.upstream], "no valid records; the scenario is not "
                                                     "written, and its tasks say so", scenario=sc.slug))
                continue
            if len(records) != sc.questions:
                report.problems.append(store.Problem(sc.upstream, f"{len(records)} questions built, the published "
                                                     f"count is {sc.questions}", scenario=sc.slug, left_out=False))
            file_name = f"{sc.slug}.parquet"
            datasets.Dataset.from_dict(columns, features=features()).to_parquet(str(staging / file_name))
            tiny_count = sum(columns["in_tiny"])
            scenarios_meta[sc.slug] = {"file": file_name, "upstream": sc.upstream, "questions": len(records),
                                       "tiny": tiny_count, "sd_images": sd_found}
            report.per_scenario[sc.slug] = len(records)
            report.questions += len(records)
            report.tiny += tiny_count
            report.sd_images += sd_found
        if not scenarios_meta:
            raise DataError(_nothing_built(report.problems))
        report.typo_lines = {int(k): v for k, v in line_counts.items()}
        store.write_manifest(staging, {
            "benchmark": mmsb.NAME, "format": FORMAT_VERSION, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": src.description, "tiny_list": tiny_ids is not None,
            "sd_images_from": str(sd_root) if sd_root else None, "pairing": pairing,
            "font": str(font or typography.DEFAULT_FONT.name), "scenarios": scenarios_meta,
            "totals": {"questions": report.questions, "tiny": report.tiny, "sd_images": report.sd_images},
            "typo_lines": {str(k): v for k, v in sorted(line_counts.items())}, "typo_overflow": overflow,
            "problems": [p.to_dict() for p in report.problems],
        })
    return report


def _without_path(exc: Exception, path: Path) -> str:
    """A DataError's message without the leading ``<path>: `` (the problem names the file already); a position in
    the file (``<path>:<line>:<column>: ``) stays, as words."""
    where, what = store.located(exc, path)
    line, _, column = where.removeprefix(str(path)).strip(":").partition(":")
    return f"{what} (line {line}" + (f", column {column})" if column else ")") if line else what


def _nothing_built(problems: list) -> str:
    return ("nothing was built (an earlier build, if any, is left as it was): no MM-SafetyBench scenario has a valid "
            "record:\n" + "\n".join(f"  {p}" for p in problems if p.left_out))


# ------------------------------------------------------------------------------------------- loading

BUILD_COMMAND = "lmms-safebench build mmsafetybench"


def ensure_built(data_root: Path | None = None) -> dict:
    """The manifest of the built dataset; builds it from the default source when it is missing and the
    network may be used; otherwise raises :class:`DataNotBuiltError` saying which command builds it."""
    return store.ensure_built(
        store.benchmark_dir(mmsb.NAME, data_root), "MM-SafetyBench", f"github ({mmsb.UPSTREAM_REPO})",
        lambda: build(data_root=data_root),
        f"{BUILD_COMMAND} [--source PATH_OR_github|hub] [--sd-images OFFICIAL_IMG_DIR]")


def _problems_of(manifest: dict, sc: mmsb.Scenario, column: str | None = None) -> list[dict]:
    """The left-out problems the build recorded for one scenario (optionally: for one media column)."""
    return [p for p in manifest.get("problems", []) if p.get("kind", "left_out") == "left_out"
            and p.get("scenario") == sc.slug and (column is None or p.get("field") == column)]


def load_docs(selector: mmsb.Selector, data_root: Path | None = None, directory: Path | None = None,
              build_command: str = BUILD_COMMAND):
    """The documents of one task: a ``datasets.Dataset`` with the paired ``query`` and the images its kind needs.
    ``directory``: a folder in this build's schema that is not the official build (a generated benchmark;
    ``build_command`` then says how it is made)."""
    import datasets  # heavy: only when data is built or loaded

    directory, manifest = store.open_build(store.benchmark_dir(mmsb.NAME, data_root), lambda: ensure_built(data_root),
                                           directory, build_command)
    sc = selector.scenario
    entry = manifest.get("scenarios", {}).get(sc.slug)
    if entry is None:
        raise DataError(f"scenario {sc.upstream} is not in the built dataset {directory}; the build reported: "
                        f"{store.describe_problems(_problems_of(manifest, sc))}. Fix the source and rebuild with "
                        f"{build_command}")
    ds = datasets.Dataset.from_parquet(str(directory / entry["file"]))
    if selector.subset == "tiny":
        if not manifest.get("tiny_list"):
            raise DataError(f"the dataset in {directory} was built without the tiny-subset list "
                            f"({TINY_LIST_NAME}); rebuild with {build_command} --tiny-list FILE")
        ds = ds.filter(lambda flag: flag, input_columns=["in_tiny"])
        if len(ds) == 0:
            raise DataError(f"no tiny-subset question of {sc.upstream} is in the built dataset {directory}; the build "
                            f"reported: {store.describe_problems(_problems_of(manifest, sc))}")
    if selector.kind in mmsb.KINDS_NEEDING_SD:
        missing = ds["has_sd"].count(False)
        sd_problems = _problems_of(manifest, sc, "sd_image")
        if missing == len(ds) and not sd_problems:
            raise DataError(
                f"task needs Stable Diffusion images, but {missing} of {len(ds)} questions of {sc.upstream} have none "
                f"in {directory}. The SD images are distributed by the MM-SafetyBench authors (see their repository "
                f"{mmsb.UPSTREAM_REPO}, 'imgs' archive). Unpack them and rebuild: {build_command} --sd-images "
                "/path/to/imgs. TYPO and text-only tasks work without them.")
        if missing == len(ds):
            raise DataError(f"task needs Stable Diffusion images, but none of the {len(ds)} questions of {sc.upstream} "
                            f"has a usable SD image in {directory}; the build reported: "
                            f"{store.describe_problems(sd_problems)}. Fix them and rebuild: {build_command} "
                            "--sd-images DIR")
        if missing:
            # Left out at build (named in the manifest): run the others rather than crash mid-inference.
            logger.warning(f"MM-SafetyBench {sc.upstream}: {missing} of {len(ds)} questions have no usable SD image "
                           f"and are left out of this task (listed under 'problems' in {directory}/manifest.json)")
            ds = ds.filter(lambda flag: flag, input_columns=["has_sd"])
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
