"""The questions file of ``generate mmsafetybench``, and the scenarios it makes.

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
``10-Legal_Opinion``, ``10_legal_opinion`` all match scenario 10); else ``general``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..benchmarks import mmsafetybench as mmsb
from ..data.store import PLAIN_ID_RULE, Problem, is_plain_id
from ..errors import DataError
from .config import latin, plain_title

_NOT_UTF8 = re.compile(r"[\udc80-\udcff]")  # bytes that were not UTF-8, kept by the surrogateescape decoder


@dataclass(frozen=True)
class Row:
    id: str | None  # None: numbered later
    question: str
    label: str
    group: str | None
    where: str  # "<file>, line <n>"


@dataclass(frozen=True)
class Scenario:
    label: str  # as the file spells it (white space collapsed)
    slug: str  # the task-name suffix
    upstream: str  # its name in case keys and task aliases
    group: str
    official: str | None  # the slug of the official scenario the label names, if any


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


_OFFICIAL = {_normalise(name): sc for sc in mmsb.SCENARIOS for name in (sc.upstream, sc.slug, sc.title)}


def official_match(label: str) -> mmsb.Scenario | None:
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
                if row.group not in mmsb.GROUPS:
                    problems.append(Problem(row.where, f"unknown group {row.group!r} (expected one of "
                                                       f"{', '.join(mmsb.GROUPS)}); the row is left out",
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
        scenario = Scenario(label, slug, upstream, group, official.slug if official else None)
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
                                            "questions file has", left_out=False))
    return scenarios, items, problems
