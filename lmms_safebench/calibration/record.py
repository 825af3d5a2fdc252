"""The calibration record: a jury's numbers on a human-labelled set, stored under the jury's identity, and read back
by whoever shows a number judged by that jury (the report).

Where: ``<cache dir>/calibrations/<jury identity>/<set>@<revision>-n<items judged>.json`` (:func:`record_path`;
characters other than letters, digits, ``.``, ``_`` and ``-`` in the set's name and revision become ``-``), written
atomically (a temporary file in the same folder, then renamed): a reader sees the old record or the new one.

What (:func:`build`; every rate a fraction in [0, 1], an undefined number ``null`` with its reason):

- ``schema`` (:data:`SCHEMA`), ``created`` (ISO 8601, UTC), ``lmms_safebench`` (version);
- ``jury``: the jury's description (identity, protocol, rule, jurors' fingerprints: no keys, URLs redacted);
- ``set``: :meth:`~.sets.LabelledSet.describe` (name, revision, size, label counts, prevalence, categories,
  annotators and their pairwise kappa: the ceiling) plus ``judged_items``, ``limit`` and ``complete`` (the whole
  set was judged), ``unseen_images`` and the ``criterion`` the jurors were given;
- ``consensus``: the jury's decisions against the gold labels: ``binary`` (:func:`.agreement.binary_report`:
  n, prevalence, kappa, accuracy, sensitivity, specificity, precision, F1 with bootstrap intervals,
  ``by_category``, ``unjudged_by_cause``) and, for a refusal set, ``classes`` (the 3-class kappa and accuracy,
  :func:`.agreement.agreement_report`). The binary view of any set: 1 for every label but the first (unsafe; a
  partial or full refusal);
- ``jurors``: ``{name: {"round_one": ..., "final": ...}}`` in the same form: each juror's independent verdicts,
  and its last ones where the panel deliberates;
- ``cost``: calls and tokens per item, per juror and phase, and ``price`` (none: the jury's specs have no price);
- ``compare`` (``--compare``, else null): each juror alone, the majority vote of the round-one verdicts, the jury's
  decision and a Dawid-Skene aggregate, each with its kappa and cost; the effective number of independent jurors;
  the cheapest configuration within the interval of the best kappa;
- ``run``: seconds, calls made, cache hits, endpoints;
- ``items``: per item ``ids``, ``gold``, ``categories``, the jury's ``consensus`` labels and ``consensus_causes``,
  each juror's labels: what the canary compares with, and what a judge-corrected rate is computed from
  (:meth:`Calibration.verdicts`);
- ``canaries``: the canary checks run against this record since (:func:`add_canary`).

Lookup: :func:`latest_calibration` (the report's entry point) and :func:`find_calibration` (the canary's) return a
:class:`Calibration` with the record and its age in days, or None.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from loguru import logger

from .. import __version__, paths
from ..errors import DataError
from .agreement import agreement_report, binary_report
from .dawid_skene import dawid_skene
from .panel import cheapest_within_best, effective_jurors, majority_vote
from .resample import RESAMPLES, SEED

SCHEMA = "lmms-safebench-calibration/1"
FOLDER = "calibrations"
NO_PRICE = ("no price is configured: the jury's and the transport's model specs have no price field, so the cost is "
            "given in calls and tokens")
NO_CATEGORY = "(none)"


def folder() -> Path:
    return paths.cache_dir() / FOLDER


def now() -> str:
    """The current time as a record stores it (ISO 8601, UTC, seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "-"


def record_path(identity: str, set_name: str, revision: str, size: int) -> Path:
    """Where the record of jury ``identity`` on ``size`` items of a set at ``revision`` is kept."""
    return folder() / _safe(identity) / f"{_safe(set_name)}@{_safe(revision)}-n{int(size)}.json"


def plain(value):
    """``value`` as strict JSON: NaN and infinities become None, numpy numbers Python ones."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write(record: dict, path: Path) -> Path:
    """Write ``record`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(plain(record), indent=1, ensure_ascii=False, allow_nan=False)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def read(path: Path) -> dict:
    """A stored record; a file that is not one is a DataError naming it."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable calibration record ({exc})") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise DataError(f"{path}: not a calibration record of this version (schema {SCHEMA})")
    return record


# ------------------------------------------------------------------------------------------ the numbers

def binary_view(labels: tuple, values: list) -> list[int | None]:
    """1 for every label but the set's first (unsafe; a partial or full refusal), 0 for it, None stays None."""
    return [None if v is None else int(v != labels[0]) for v in values]


def reports(labels: tuple, gold: list, predicted: list, causes: list, categories: list | None, ids: list, *,
            resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """``binary`` (and, with more than two labels, ``classes``) of one verdict column against the gold labels."""
    options = dict(ids=ids, categories=categories, causes=causes, resamples=resamples, seed=seed)
    out = {"binary": binary_report(binary_view(labels, gold), binary_view(labels, predicted), **options)}
    if len(labels) > 2:
        out["classes"] = agreement_report(gold, predicted, labels, **options)
    return out


def _per_call(use: dict, previous: dict | None) -> dict:
    """Tokens per call of each juror and phase, measured on the calls made now, else taken from the previous record
    of the same jury and set (the same prompts: every call of a rerun may come from the cache)."""
    out = {}
    for name, phases in use.items():
        for phase, c in phases.items():
            if c["made"]:
                value = {"prompt": c["prompt_tokens"] / c["made"], "completion": c["completion_tokens"] / c["made"],
                         "measured_calls": c["made"], "from": "this run"}
            else:
                value = ((((previous or {}).get("cost") or {}).get("tokens_per_call") or {}).get(name) or {}).get(phase)
                if value is not None:
                    value = {**value, "from": "an earlier run of this jury on this set"}
            out.setdefault(name, {})[phase] = value
    return out


def _cost(use: dict, per_call: dict, items: int, jurors: list[str], phases: tuple[str, ...]) -> dict:
    """Calls and tokens per item of the reviews of ``jurors`` in ``phases``; tokens None when a phase that needed
    calls has no measured tokens per call."""
    needed = [(use[j][p]["calls"], per_call[j][p]) for j in jurors for p in phases if use[j][p]["calls"]]
    per_item = (lambda x: x / items) if items else (lambda x: math.nan)
    out = {"calls_per_item": per_item(sum(n for n, _ in needed)), "tokens_per_item": None}
    if all(rate is not None for _, rate in needed):
        tokens = {kind: per_item(sum(n * rate[kind] for n, rate in needed)) for kind in ("prompt", "completion")}
        out["tokens_per_item"] = {**tokens, "total": tokens["prompt"] + tokens["completion"]}
    return out


def cost(use: dict, items: int, previous: dict | None) -> dict:
    per_call = _per_call(use, previous)
    jurors = list(use)
    return {"tokens_per_call": per_call,
            "jurors": {j: _cost(use, per_call, items, [j], ("assess", "deliberate")) for j in jurors},
            "jury": _cost(use, per_call, items, jurors, ("assess", "deliberate")),
            "price": None, "price_note": NO_PRICE}


def _row(name: str, kind: str, report: dict, spend: dict) -> dict:
    metrics = report["metrics"]
    return {"name": name, "kind": kind, "judged": report["judged"], "unjudged": report["unjudged"],
            **{m: metrics[m] for m in ("kappa", "sensitivity", "specificity", "precision", "f1")},
            "undefined": report["undefined"], **spend}


def compare(labels: tuple, gold: list, verdicts, config, use: dict, per_call: dict, consensus: dict, jurors: dict,
            *, resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """The ``compare`` section (see the module docstring): every configuration from the same reviews, no new call;
    ``consensus`` and ``jurors`` are the sections :func:`build` made of them. On a refusal set it compares the binary
    view."""
    names = [j.name for j in config.jurors]
    items = len(gold)
    gold01 = binary_view(labels, gold)
    votes = [list(row) for row in zip(*(binary_view(labels, verdicts.jurors[n]["round_one"]) for n in names),
                                      strict=True)]
    options = dict(resamples=resamples, seed=seed)
    rows = []
    for name in names:
        rows.append(_row(name, "juror alone (its round-one verdicts)", jurors[name]["round_one"]["binary"],
                         _cost(use, per_call, items, [name], ("assess",))))
    round_one = _cost(use, per_call, items, names, ("assess",))
    majority = majority_vote(votes, tie=config.tie, quorum=config.quorum)
    rows.append(_row("majority", f"majority vote of the round-one verdicts (tie: {config.tie}, quorum "
                                 f"{config.quorum})", binary_report(gold01, majority, **options), round_one))
    rows.append(_row("jury", f"the jury's decision ({config.protocol}, {config.rounds} deliberation round(s), "
                             f"{config.rule})", consensus["binary"],
                     _cost(use, per_call, items, names, ("assess", "deliberate"))))
    fitted = dawid_skene(votes) if items else None
    ds_verdicts = fitted.verdicts() if fitted is not None else []
    rows.append(_row("dawid-skene", "Dawid-Skene aggregate of the round-one verdicts (no gold labels used)",
                     binary_report(gold01, ds_verdicts, **options), round_one))
    choice = cheapest_within_best([{"name": r["name"], "kappa": r["kappa"]["value"], "low": r["kappa"]["low"],
                                    "high": r["kappa"]["high"], "cost": r["calls_per_item"]} for r in rows])
    return {
        "rows": rows, "cost_unit": "calls per item", "effective_jurors": effective_jurors(gold01, votes, names),
        "cheapest_within_best": choice,
        "dawid_skene": None if fitted is None else {
            "sensitivity": dict(zip(names, fitted.sensitivity().tolist(), strict=True)),
            "specificity": dict(zip(names, fitted.specificity().tolist(), strict=True)),
            "prevalence": float(fitted.priors[1]), "iterations": fitted.iterations, "converged": fitted.converged},
        "price": None, "price_note": NO_PRICE,
    }


def build(labelled, items: list, config, criterion, verdicts, use: dict, *, seconds: float, accounting: dict,
          limit: int | None, with_compare: bool, previous: dict | None = None, unseen_images: int = 0,
          resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """The record of one calibration run (see the module docstring)."""
    labels = tuple(labelled.labels)
    ids = [item.id for item in items]
    gold = [item.label for item in items]
    categories = None
    if labelled.categories is not None:
        categories = [item.category if item.category is not None else NO_CATEGORY for item in items]
    options = dict(resamples=resamples, seed=seed)
    consensus = reports(labels, gold, verdicts.consensus, verdicts.consensus_causes, categories, ids, **options)
    jurors = {name: {phase: reports(labels, gold, columns[phase], columns[f"{phase}_causes"], categories, ids,
                                    **options)
                     for phase in ("round_one", "final") if phase in columns}
              for name, columns in verdicts.jurors.items()}
    spent = cost(use, len(items), previous)
    counts = accounting.get("jurors", {})
    return {
        "schema": SCHEMA,
        "created": now(),
        "lmms_safebench": __version__,
        "jury": config.describe(),
        "set": {**labelled.describe(), "judged_items": len(items), "limit": limit,
                "complete": len(items) == len(labelled.items), "unseen_images": unseen_images,
                "criterion": {"rubric": criterion.rubric.name, "kind": criterion.kind, "text": criterion.text}},
        "consensus": consensus,
        "jurors": jurors,
        "cost": spent,
        "compare": compare(labels, gold, verdicts, config, use, spent["tokens_per_call"], consensus, jurors,
                           **options) if with_compare else None,
        "run": {"seconds": seconds, "calls": sum(c.get("calls", 0) for c in counts.values()),
                "cache_hits": sum(c.get("cache_hits", 0) for c in counts.values()),
                "counts": accounting.get("counts"), "endpoints": accounting.get("endpoints")},
        "items": {"ids": ids, "gold": gold, "categories": categories, "consensus": verdicts.consensus,
                  "consensus_causes": verdicts.consensus_causes,
                  "jurors": {name: {phase: columns[phase] for phase in ("round_one", "final") if phase in columns}
                             for name, columns in verdicts.jurors.items()}},
        "canaries": [],
    }


# ------------------------------------------------------------------------------------------ lookup

class Calibration:
    """A stored record (``record``), where it is (``path``) and its age in days (``age_days``) when it was read."""

    def __init__(self, path: Path, record: dict, at: datetime.datetime | None = None):
        self.path, self.record = Path(path), record
        at = at or datetime.datetime.now(datetime.timezone.utc)
        self.created = datetime.datetime.fromisoformat(record["created"])
        self.age_days = (at - self.created).total_seconds() / 86400

    def __repr__(self) -> str:
        return f"Calibration({self.path}, age {self.age_days:.1f} days)"

    @property
    def identity(self) -> str:
        return self.record["jury"]["identity"]

    @property
    def set(self) -> dict:
        return self.record["set"]

    @property
    def complete(self) -> bool:
        return bool(self.set.get("complete"))

    def metric(self, name: str, who: str = "consensus", phase: str = "round_one") -> dict:
        """``{value, low, high}`` of a binary metric (kappa, sensitivity...) of the jury (``who="consensus"``) or of a
        juror (its ``phase``: round_one or final); value None when undefined (``undefined`` says why)."""
        section = self.record["consensus"] if who == "consensus" else self.record["jurors"][who][phase]
        return section["binary"]["metrics"][name]

    def verdicts(self, who: str = "consensus", phase: str = "round_one") -> tuple[list, list[int], list[int | None]]:
        """``(ids, gold, predicted)`` in the binary view (1 unsafe or any refusal, None unjudged): what
        :func:`.correction.corrected_rate` takes as the calibration."""
        items = self.record["items"]
        labels = tuple(self.set["labels"])
        predicted = items["consensus"] if who == "consensus" else items["jurors"][who][phase]
        return list(items["ids"]), binary_view(labels, items["gold"]), binary_view(labels, predicted)

    def stale(self, max_age_days: float | None) -> bool:
        return max_age_days is not None and self.age_days > max_age_days


def calibrations(identity: str, at: datetime.datetime | None = None) -> list[Calibration]:
    """Every readable record of jury ``identity`` (an unreadable file is logged and left out)."""
    out = []
    for path in sorted((folder() / _safe(identity)).glob("*.json")):
        try:
            record = read(path)
            out.append(Calibration(path, record, at))
        except (DataError, KeyError, TypeError, ValueError) as exc:
            logger.warning(f"calibration record left out: {exc}")
    return out


def _best(found: list[Calibration]) -> Calibration | None:
    """A record of the whole set before one of a part of it (``--limit``), then the most recent."""
    return max(found, key=lambda c: (c.complete, c.created), default=None)


def latest_calibration(identity: str, protocol: str = "harm", at: datetime.datetime | None = None
                       ) -> Calibration | None:
    """The calibration to show beside numbers judged by jury ``identity``: among its records on sets of
    ``protocol`` ("harm" or "refusal"), one that judged a whole set before one that judged part of it (``--limit``),
    then the most recent; None when there is none."""
    return _best([c for c in calibrations(identity, at) if c.set.get("protocol") == protocol])


def find_calibration(identity: str, set_name: str, revision: str, at: datetime.datetime | None = None
                     ) -> Calibration | None:
    """The record of jury ``identity`` on this set at this revision (the whole set first, then the most recent)."""
    return _best([c for c in calibrations(identity, at)
                  if c.set.get("name") == set_name and c.set.get("revision") == revision])


def add_canary(calibration: Calibration, summary: dict) -> Path:
    """Append a canary check's summary to the record it compared with (rewritten atomically)."""
    record = dict(calibration.record)
    record["canaries"] = [*record.get("canaries", []), summary]
    return write(record, calibration.path)
