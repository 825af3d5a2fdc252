"""The questions of ``generate mmsafetybench``: a questions file and the scenarios it makes, or the official build.

A CSV file (a header row) or JSON lines (one object a line, ``.jsonl``/``.ndjson``) with the fields
``question`` and ``scenario`` (a label of your choosing), and optionally ``id`` (a plain name, unique within
its scenario; default: the row's number within its scenario) and ``group`` (how the scenario is judged and
rewritten: one of :data:`~lmms_safebench.benchmarks.mmsafetybench.GROUPS`).

A bad row is named (file and line) and left out; the rest is read: a missing or empty question or scenario,
a line that is not UTF-8 (or not a JSON object), an id that is not a plain name or that appears more than
once in its scenario (every copy is left out: which one is meant is ambiguous), an unknown group, or a group
that contradicts the one given for the same scenario on an earlier row.

A scenario's group: the ``group`` column when its rows give one; else the config's ``groups`` entry for the
label; else the group of the official MM-SafetyBench scenario the label names (``Legal Opinion``,
``10-Legal_Opinion``, ``10_legal_opinion`` all match scenario 10); else ``general``. A scenario is the generators'
one taxonomy type (:class:`~..core.taxonomy.Scenario`): its title is the label as the file spells it.

With ``--official`` the questions are the official build's (:func:`read_official`): its 1,680 questions, key phrases
and typography images, judged with the official scenarios' criteria.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from ...benchmarks import mmsafetybench as official_benchmark
from ...data import store
from ...data.store import PLAIN_ID_RULE, is_plain_id
from ...errors import DataError
from ..core.config import latin, plain_title
from ..core.problems import NOTE, Problem
from ..core.taxonomy import Scenario

_NOT_UTF8 = re.compile(r"[\udc80-\udcff]")  # bytes that were not UTF-8, kept by the surrogateescape decoder


@dataclass(frozen=True)
class Row:
    id: str | None  # None: numbered later
    question: str
    label: str
    group: str | None
    where: str  # "<file>, line <n>"


@dataclass(frozen=True)
class Item:
    key: str  # "<slug>/<id>": the work item, its files and its image seed
    id: str
    question: str
    scenario: Scenario


def _text(value) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def read_rows(path: Path) -> tuple[list[Row], list[Problem]]:
    """The rows of a questions file; DataError when the file cannot be read at all."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"--questions {path}: cannot read ({exc.strerror or exc})") from None
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, text)
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(path, text)
    raise DataError(f"--questions {path}: expected a .csv or .jsonl file (question, scenario, optional id and group)")


def _row(path: Path, line: int, raw: dict, problems: list[Problem]) -> Row | None:
    where = f"{path}, line {line}"
    values = {name: raw.get(name) for name in ("question", "scenario", "id", "group")}
    if any(isinstance(v, str) and _NOT_UTF8.search(v) for v in values.values()):
        problems.append(Problem(where, "not UTF-8 text; the row is left out"))
        return None
    fields = {name: _text(value) for name, value in values.items()}
    for name in ("question", "scenario"):
        if fields[name] is None:
            value = values[name]
            what = "missing or empty" if value is None or isinstance(value, str) else \
                f"is {type(value).__name__}, not text"
            problems.append(Problem(where, f"{what}; the row is left out", id=fields["id"], field=name))
            return None
    label = plain_title(fields["scenario"])  # the scenario's title in task groups and the data card
    if not label:
        problems.append(Problem(where, "the scenario holds only control characters; the row is left out",
                                id=fields["id"], field="scenario"))
        return None
    return Row(fields["id"], fields["question"], label, fields["group"], where)


def _csv_rows(path: Path, text: str) -> tuple[list[Row], list[Problem]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in ("question", "scenario") if name not in header]
    if missing:
        raise DataError(f"--questions {path}: the header row has no {' or '.join(missing)} column (found: "
                        f"{', '.join(header) or 'nothing'})")
    reader.fieldnames = header
    rows, problems = [], []
    for raw in reader:
        row = _row(path, reader.line_num, raw, problems)
        if row is not None:
            rows.append(row)
    return rows, problems


def _jsonl_rows(path: Path, text: str) -> tuple[list[Row], list[Problem]]:
    rows, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        if _NOT_UTF8.search(line):
            problems.append(Problem(where, "not UTF-8 text; the row is left out"))
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(where, f"not valid JSON ({exc.msg}); the row is left out"))
            continue
        if not isinstance(raw, dict):
            problems.append(Problem(where, f"a JSON {type(raw).__name__}, not an object; the row is left out"))
            continue
        row = _row(path, number, {k.strip().lower(): v for k, v in raw.items()}, problems)
        if row is not None:
            rows.append(row)
    return rows, problems


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z]", "", re.sub(r"^\d+[-_ ]", "", name.lower())).replace("activitiy", "activity")


_OFFICIAL = {_normalise(name): sc for sc in official_benchmark.SCENARIOS for name in (sc.upstream, sc.slug, sc.title)}


def official_match(label: str) -> official_benchmark.Scenario | None:
    return _OFFICIAL.get(_normalise(label))


def slugify(label: str, taken: set[str]) -> str:
    # A label with no Latin letter or digit gets "scenario", "scenario_2", ...: the label itself stays its title.
    base = re.sub(r"[^a-z0-9]+", "_", latin(label).lower()).strip("_")[:40].strip("_") or "scenario"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}_{n}"
    taken.add(slug)
    return slug


def plan(rows: list[Row], groups: dict[str, str], source: str) -> tuple[list[Scenario], list[Item], list[Problem]]:
    """The scenarios (in order of first appearance) and the items to build; problems for rows left out."""
    problems: list[Problem] = []
    labels: list[str] = []
    by_label: dict[str, list[Row]] = {}
    for row in rows:
        if row.label not in by_label:
            labels.append(row.label)
        by_label.setdefault(row.label, []).append(row)

    scenarios, items, taken = [], [], set()
    for label in labels:
        slug = slugify(label, taken)
        kept, given = [], None  # the group the file gives this scenario (its first valid group value)
        for row in by_label[label]:
            if row.group is not None:
                if row.group not in official_benchmark.GROUPS:
                    problems.append(Problem(row.where, f"unknown group {row.group!r} (expected one of "
                                                       f"{', '.join(official_benchmark.GROUPS)}); the row is left out",
                                            id=row.id, field="group", scenario=slug))
                    continue
                if given is None:
                    given = (row.group, row.where)
                elif row.group != given[0]:
                    problems.append(Problem(row.where, f"group {row.group!r} contradicts group {given[0]!r} given "
                                                       f"for scenario {label!r} at {given[1]}; the row is left out",
                                            id=row.id, field="group", scenario=slug))
                    continue
            kept.append(row)
        official = official_match(label)
        group = given[0] if given else groups.get(label) or (official.group if official else "general")
        upstream = re.sub(r'["\\/\x00-\x1f]', "-", label)
        scenario = Scenario(slug, label, group=group, upstream=upstream, official=official.slug if official else None)
        kept_set = set(kept)
        numbered = [(row.id or str(n), row) for n, row in enumerate(by_label[label], 1) if row in kept_set]
        counts: dict[str, int] = {}
        for qid, _ in numbered:
            counts[qid] = counts.get(qid, 0) + 1
        chosen = []
        for qid, row in numbered:
            if not is_plain_id(qid):
                problems.append(Problem(row.where, f"id {qid!r} is {PLAIN_ID_RULE}; the row is left out", id=qid,
                                        field="id", scenario=slug))
            elif counts[qid] > 1:
                problems.append(Problem(row.where, f"id {qid!r} appears {counts[qid]} times in scenario {label!r}; "
                                                   "every copy is left out (which one is meant is ambiguous)",
                                        id=qid, field="id", scenario=slug))
            else:
                chosen.append(Item(f"{slug}/{qid}", qid, row.question, scenario))
        if chosen:
            scenarios.append(scenario)
            items += chosen
    for label in groups:
        if label not in by_label:
            problems.append(Problem(source, f"the config's groups name scenario {label!r}, which no row of the "
                                            "questions file has", kind=NOTE))
    return scenarios, items, problems


# ------------------------------------------------------------------------------------------ what a run works on

@dataclass
class Questions:
    """The questions of a run: its scenarios and items (keyed ``<slug>/<id>``), the input's problems (rows left out,
    notes) and what the data card says of the input."""

    scenarios: list[Scenario] = field(default_factory=list)
    items: dict[str, Item] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    official: dict[str, dict] = field(default_factory=dict)  # --official: item key -> the official build's row


def read_questions(path: Path, groups: dict[str, str], config_path: Path) -> Questions:
    """A questions file's questions; DataError (naming every row at fault) when no row can be built."""
    rows, problems = read_rows(path)
    scenarios, items, planned = plan(rows, groups, str(config_path))
    problems += planned
    if not items:
        raise DataError(f"--questions {path}: no row can be built:\n" + "\n".join(store.problem_lines(problems)))
    return Questions(scenarios, {item.key: item for item in items}, problems,
                     {"questions_file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                      "rows_read": len(rows), "questions_kept": len(items),
                      "rows_left_out": sum(p.left_out for p in problems)})


def read_official(root: Path, data_dir) -> Questions:
    """The official build's questions with a key phrase and a typography image (the others are named and left
    out); DataError when the build is missing or has none (``data_dir``: the --data-dir given, for the message)."""
    directory = store.benchmark_dir(official_benchmark.NAME, root)
    manifest = store.read_manifest(directory)
    if manifest is None:
        raise DataError(f"--official renders SD images for the official MM-SafetyBench build, which is not in "
                        f"{directory}. Build it first: lmms-safebench build mmsafetybench"
                        f"{' --data-dir ' + str(data_dir) if data_dir else ''} "
                        "(--source PATH reads a local copy of the upstream repository)")
    out = Questions()
    columns = ["id", *official_benchmark.TEXT_FIELDS, "typo_image", "typo_lines"]
    for sc in official_benchmark.SCENARIOS:
        entry = manifest.get("scenarios", {}).get(sc.slug)
        if entry is None:
            out.problems.append(Problem(str(directory), f"scenario {sc.upstream} is not in the official build; it is "
                                                        "left out", scenario=sc.slug))
            continue
        scenario = Scenario(sc.slug, sc.title, group=sc.group, upstream=sc.upstream, official=sc.slug)
        kept = 0
        for row in pq.read_table(str(directory / entry["file"]), columns=columns).to_pylist():
            typo = (row.get("typo_image") or {}).get("bytes")
            if not row.get("key_phrase") or not typo:
                out.problems.append(Problem(
                    str(directory / entry["file"]), "no key phrase or typography image in the official build "
                    "(a build from the hub copy has none: rebuild from github or a local copy); left out",
                    id=row["id"], scenario=sc.slug))
                continue
            item = Item(f"{sc.slug}/{row['id']}", row["id"], row["question"], scenario)
            out.items[item.key] = item
            out.official[item.key] = row
            kept += 1
        if kept:
            out.scenarios.append(scenario)
    if not out.items:
        raise DataError(f"the official build in {directory} has no question with a key phrase; rebuild it with "
                        "lmms-safebench build mmsafetybench (from github or a local copy of the repository)")
    out.info = {"official_build": str(directory), "built_at": manifest.get("built_at"),
                "source": manifest.get("source"), "questions_kept": len(out.items)}
    return out
