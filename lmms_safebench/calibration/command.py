"""``lmms-safebench jury calibrate``: how right is this jury? Its verdicts against human labels, with intervals.

    lmms-safebench jury calibrate --set msts|jbb|xstest|FILE [--jury SPEC] [--revision R] [--limit N]
                                  [--concurrency N] [--endpoint-limit N] [--compare] [--canary [N]]
                                  [--drift-threshold K] [--max-age-days D] [--output FILE] [--no-progress]

Judges every item of a human-labelled set with the jury (cached and resumable like ``judge``: a rerun makes no call)
and prints, for the jury's decision and for each juror (its independent round-one verdicts, and its final ones when
the panel deliberates): items judged, Cohen's kappa, accuracy, sensitivity (recall on unsafe), specificity,
precision and F1 with bootstrap 95% intervals; the same per category; the human annotators' own kappa (the ceiling);
unjudged items by cause; the cost in calls and tokens. The record is stored under the jury's identity
(``<cache>/calibrations/<identity>/<set>@<revision>-n<items>.json``), where ``report`` finds it.

``--compare``: from the same reviews (no extra call), each juror alone, the majority vote of the round-one
verdicts, the jury's decision and a Dawid-Skene aggregate, with kappa and cost; the effective number of
independent jurors; the cheapest configuration whose kappa is within the interval of the best.

``--canary [N]`` (N = 100): re-judges a fixed, stratified subset of N items of the stored calibration of this jury
on this set, without the cache (an endpoint that changed is asked again), and compares: verdict flips and the
change of kappa with its interval. The stored record gets the check's summary.

``--max-age-days D``: a stored calibration older than D days is stale. Without ``--canary``, a stored record of
this jury on these items younger than that is shown instead of judging again; with it, a stale record fails the
check (status 3).

Exit status: 0 done; 1 some items stayed unjudged (named by cause; they count in no rate); 2 bad input (a set that
cannot be read, with the file and line at fault; a bad option; no jury; ``--canary`` with no stored calibration to
compare with); 3 the canary found drift (kappa moved beyond ``--drift-threshold``, outside chance) or the stored
calibration is stale; 130 interrupted (every finished call is cached: run the same command again).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

from ..errors import DataError, SafebenchError
from ..jury.config import resolve_jury_config
from ..jury.runtime import unjudged_summary
from ..llm.limits import describe_endpoints
from . import record as records
from . import run as running
from .canary import CANARY_SIZE, DRIFT_THRESHOLD, compare_verdicts, select_canary
from .sets import BUILTINS, LabelledSet, load, load_builtin

HELP = "measure the jury against human labels (kappa, sensitivity, specificity...), compare panels, check drift"
DRIFTED = 3
DEFAULT_PROTOCOL = "jury"  # with only SAFEBENCH_JUDGE_MODEL set: the panel (--jury single for one judge)


def add_arguments(parser) -> None:
    parser.add_argument("--set", required=True, metavar="SET",
                        help="msts, jbb or xstest (downloaded at a pinned revision and cached), NAME=FILE_OR_FOLDER "
                             "(a local copy of a built-in set), or a labelled .csv/.jsonl file")
    parser.add_argument("--jury", default=None,
                        help="a jury YAML or built-in name (default: $SAFEBENCH_JURY, else the panel on "
                             "$SAFEBENCH_JUDGE_MODEL)")
    parser.add_argument("--revision", default=None, help="a built-in set's upstream commit (default: the pinned one)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="judge N items, a fixed sample stratified by label and category (default: all)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="juror calls in flight in total, and items judged at once (default: 64)")
    parser.add_argument("--endpoint-limit", type=int, default=None, metavar="N",
                        help="a ceiling on juror calls in flight per endpoint (default: each juror's max_in_flight, "
                             "else --concurrency)")
    parser.add_argument("--compare", action="store_true",
                        help="also each juror alone, majority vote and Dawid-Skene, with cost (no extra calls)")
    parser.add_argument("--canary", type=int, nargs="?", const=CANARY_SIZE, default=None, metavar="N",
                        help=f"re-judge N items (default {CANARY_SIZE}) without the cache and compare with the stored "
                             "calibration; exit 3 on drift")
    parser.add_argument("--drift-threshold", type=float, default=DRIFT_THRESHOLD, metavar="K",
                        help=f"--canary: a kappa change larger than K, outside chance, is drift (default "
                             f"{DRIFT_THRESHOLD})")
    parser.add_argument("--max-age-days", type=float, default=None, metavar="D",
                        help="a stored calibration older than D days is stale: reuse a fresher one instead of "
                             "judging; with --canary, exit 3 when it is stale (default: no limit)")
    parser.add_argument("--output", default=None, metavar="FILE", help="also write the record (or the canary's "
                                                                       "result) to FILE as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    try:
        return _main(args)
    except SafebenchError as exc:
        print(f"lmms-safebench jury calibrate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every finished juror call is cached; run the same command again to resume",
              file=sys.stderr)
        return 130


def _check(args) -> None:
    positive = {"--concurrency": args.concurrency, "--endpoint-limit": args.endpoint_limit, "--limit": args.limit,
                "--canary": args.canary}
    wrong = [f"{name} {value}" for name, value in positive.items() if value is not None and value < 1]
    if wrong:
        raise SafebenchError(f"{', '.join(wrong)}: must be at least 1")
    if args.max_age_days is not None and not args.max_age_days >= 0:
        raise SafebenchError(f"--max-age-days {args.max_age_days}: must be 0 or more")
    if not 0 < args.drift_threshold <= 2:
        raise SafebenchError(f"--drift-threshold {args.drift_threshold}: a kappa change, between 0 and 2")
    if args.canary is not None and (args.compare or args.limit is not None):
        raise SafebenchError("--canary re-judges a subset of a stored calibration: it takes neither --compare nor "
                             "--limit (its size is --canary N)")


def load_set(spec: str, revision: str | None) -> LabelledSet:
    """The set ``--set`` names, at ``--revision`` when given (built-in sets only)."""
    if revision is None:
        return load(spec)
    head, _, source = spec.strip().partition("=")
    name, at, _ = head.partition("@")
    if name not in BUILTINS:
        raise DataError(f"--revision {revision}: only a built-in set ({', '.join(BUILTINS)}) has revisions; "
                        f"{spec!r} is not one")
    if at:
        raise DataError(f"--set {spec!r} already names a revision; leave out --revision {revision}")
    return load_builtin(name, source.strip() or None, revision.strip())


def _subset(labelled: LabelledSet, limit: int | None) -> list:
    """The items to judge: all, or a fixed sample of ``limit`` stratified by label and category (in set order)."""
    if limit is None or limit >= len(labelled.items):
        return list(labelled.items)
    chosen = set(select_canary(labelled.ids, labelled.gold, labelled.categories, size=limit, balance_labels=False,
                               labels=labelled.labels))
    return [item for item in labelled.items if item.id in chosen]


def _main(args) -> int:
    _check(args)
    labelled = load_set(args.set, args.revision)
    config = resolve_jury_config(DEFAULT_PROTOCOL, args.jury)
    criterion = running.criterion_for(labelled)  # a refusal set without the refusal rubric stops here
    for note in labelled.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.canary is not None:
        return _canary(args, labelled, config, criterion.rubric)
    items = _subset(labelled, args.limit)
    path = records.record_path(config.identity, labelled.name, labelled.revision, len(items))
    previous = _previous(path)
    if previous is not None and args.max_age_days is not None:
        stored = records.Calibration(path, previous)
        if not stored.stale(args.max_age_days):
            print(f"a calibration of jury {config.name} ({config.identity}) on these items is {stored.age_days:.1f} "
                  f"day(s) old, within --max-age-days {args.max_age_days:g}: shown, not judged again ({path})")
            _print_record(previous)
            return _status(previous)
    unseen = running.unseen_images(items)
    if unseen:
        print(f"note: {unseen} item(s) have an image and no description of it: the jurors read text and do not see "
              "it", file=sys.stderr)
    jury = running.open_jury(config, args.concurrency, args.endpoint_limit)
    try:
        samples, seconds = running.judge_items(jury, running.cases(labelled, items), args.concurrency,
                                               progress=not args.no_progress)
        accounting = jury.accounting()
    finally:
        jury.close()
    verdicts = running.read_verdicts(samples, config, criterion.rubric)
    record = records.build(labelled, items, config, criterion, verdicts, running.usage(samples, config),
                           seconds=seconds, accounting=accounting, limit=args.limit, with_compare=args.compare,
                           previous=previous, unseen_images=unseen)
    records.write(record, path)
    if args.output:
        records.write(record, Path(args.output))
    _print_record(record)
    print(f"{len(items)} items in {seconds:.2f} s: juror calls {record['run']['calls']}, cache hits "
          f"{record['run']['cache_hits']}")
    for line in describe_endpoints(accounting.get("endpoints") or {}):
        print(line)
    print(f"wrote {path}" + (f" and {args.output}" if args.output else ""))
    return _status(record)


def _previous(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return records.read(path)
    except DataError as exc:
        print(f"note: {exc}; it will be replaced", file=sys.stderr)
        return None


def _status(record: dict) -> int:
    causes = record["consensus"]["binary"].get("unjudged_by_cause") or {}
    if sum(causes.values()):
        print(unjudged_summary(causes), file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------------------ the canary

def _canary(args, labelled: LabelledSet, config, rubric) -> int:
    stored = records.find_calibration(config.identity, labelled.name, labelled.revision)
    if stored is None:
        others = records.calibrations(config.identity)
        known = "; ".join(sorted({f"{c.set.get('name')}@{c.set.get('revision')}" for c in others}))
        print(f"lmms-safebench jury calibrate: error: no stored calibration of jury {config.name} "
              f"({config.identity}) on {labelled.name}@{labelled.revision} to compare with; run `lmms-safebench jury "
              f"calibrate --set {args.set}` with this jury first"
              + (f" (this jury has calibrations on: {known})" if known else ""), file=sys.stderr)
        return 2
    items = stored.record["items"]
    before = dict(zip(items["ids"], items["consensus"], strict=True))
    before_jurors = {name: dict(zip(items["ids"], columns["round_one"], strict=True))
                     for name, columns in items["jurors"].items()}
    pool = [item for item in labelled.items if item.id in before]
    chosen = set(select_canary([i.id for i in pool], [i.label for i in pool],
                               [i.category for i in pool] if labelled.categories is not None else None,
                               size=args.canary, labels=labelled.labels))
    subset = [item for item in pool if item.id in chosen]
    jury = running.open_jury(config, args.concurrency, args.endpoint_limit, cached=False)
    try:
        samples, seconds = running.judge_items(jury, running.cases(labelled, subset), args.concurrency,
                                               progress=not args.no_progress, desc="Canary")
        accounting = jury.accounting()
    finally:
        jury.close()
    verdicts = running.read_verdicts(samples, config, rubric)
    labels = tuple(labelled.labels)
    ids = [item.id for item in subset]
    gold = records.binary_view(labels, [item.label for item in subset])

    def check(old: dict, new: list) -> dict:
        return compare_verdicts(gold, records.binary_view(labels, [old[i] for i in ids]),
                                records.binary_view(labels, new), ids=ids, threshold=args.drift_threshold)

    result = check(before, verdicts.consensus)
    jurors = {name: check(before_jurors[name], columns["round_one"])
              for name, columns in verdicts.jurors.items() if name in before_jurors}
    stale = stored.stale(args.max_age_days)
    summary = {
        "created": records.now(), "items": len(subset), "seconds": seconds,
        "calls": sum(j.get("calls", 0) for j in accounting.get("jurors", {}).values()),
        "threshold": args.drift_threshold, "record_age_days": stored.age_days, "max_age_days": args.max_age_days,
        "stale": stale, "jury": result, "jurors": jurors,
        "unjudged_by_cause": dict(sorted(Counter(c for c in verdicts.consensus_causes if c).items()))}
    records.add_canary(stored, summary)
    if args.output:
        records.write(summary, Path(args.output))
    _print_canary(config, stored, summary)
    if result["verdict"] == "drifted" or stale:
        return DRIFTED
    if summary["unjudged_by_cause"]:
        print(unjudged_summary(summary["unjudged_by_cause"]), file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------------------ printing

def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def cell(metric: dict) -> str:
    """``0.72 [0.61, 0.81]``; ``undefined`` when there is no value."""
    value, low, high = (_number(metric.get(k)) for k in ("value", "low", "high"))
    if value is None:
        return "undefined"
    return f"{value:.2f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else "")


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


METRICS = ("kappa", "accuracy", "sensitivity", "specificity", "precision", "f1")


def _metric_row(who: str, section: dict) -> list[str]:
    binary = section["binary"]
    row = [who, str(binary["judged"]), str(binary["unjudged"]), *(cell(binary["metrics"][m]) for m in METRICS)]
    if "classes" in section:
        row.append(cell(section["classes"]["metrics"]["kappa"]))
    return row


def _print_record(record: dict) -> None:
    described, jury = record["set"], record["jury"]
    refusal = described.get("protocol") == "refusal"
    prevalence = _number(described.get("prevalence"))
    print(f"jury {jury['name']} ({jury['identity']}, {jury['protocol']}) on {described['name']}@"
          f"{described['revision']}: {described['judged_items']} of {described['size']} items"
          + (f", prevalence {100 * prevalence:.1f}% {described.get('prevalence_of')}" if prevalence is not None
             else "") + (" (binary view: flagged = partial or full refusal)" if refusal else ""))
    for pair, agreement in (described.get("annotator_kappa") or {}).items():
        value = agreement.get("kappa")
        shown = f"{value:.2f}" if value is not None else f"undefined ({agreement.get('undefined')})"
        print(f"human annotators {pair}: kappa {shown} over {agreement['items']} items (the ceiling for a judge)")
    header = ["who", "judged", "unjudged", "kappa", "accuracy", "sensitivity", "specificity", "precision", "F1"]
    if refusal:
        header.append("kappa (3 classes)")
    rows = [_metric_row("jury decision", record["consensus"])]
    for name, phases in record["jurors"].items():
        for phase, section in phases.items():
            rows.append(_metric_row(f"{name} ({'round one' if phase == 'round_one' else 'final'})", section))
    print(table(header, rows))
    binary = record["consensus"]["binary"]
    for metric, reason in binary.get("undefined", {}).items():
        print(f"{metric} undefined: {reason}")
    categories = binary.get("by_category")
    if categories:
        print("\nper category (jury decision):")
        print(table(["category", "items", "prevalence", "kappa", "sensitivity", "specificity"], [
            [name, str(c["items"]), f"{100 * c['prevalence']:.1f}%" if _number(c.get("prevalence")) is not None
             else "-", *(cell(c["metrics"][m]) for m in ("kappa", "sensitivity", "specificity"))]
            for name, c in categories.items()]))
    causes = binary.get("unjudged_by_cause") or {}
    if causes:
        print("unjudged (counted in no rate): " + ", ".join(f"{cause} {n}" for cause, n in causes.items()))
    spent = record["cost"]["jury"]
    tokens = spent.get("tokens_per_item")
    print(f"cost per item: {spent['calls_per_item']:.2f} calls, "
          + (f"{tokens['total']:.0f} tokens (prompt {tokens['prompt']:.0f}, completion {tokens['completion']:.0f})"
             if tokens else "tokens unknown (every call came from the cache and no earlier run measured them)")
          + f"; {record['cost']['price_note']}")
    if record.get("compare"):
        _print_compare(record["compare"])


def _print_compare(section: dict) -> None:
    choice = section["cheapest_within_best"]
    rows = []
    for r in section["rows"]:
        tokens = r.get("tokens_per_item")
        marks = (["best kappa"] if r["name"] == choice["best"] else []) + (
            ["cheapest within the best's interval"] if r["name"] == choice["cheapest"] else
            ["within the best's interval"] if r["name"] in choice["within"] and r["name"] != choice["best"] else [])
        rows.append([r["name"], f"{r['calls_per_item']:.2f}", f"{tokens['total']:.0f}" if tokens else "?",
                     cell(r["kappa"]), cell(r["sensitivity"]), cell(r["specificity"]), cell(r["f1"]), "; ".join(marks)])
    print("\ncompare (the same reviews; no extra call):")
    print(table(["configuration", "calls/item", "tokens/item", "kappa", "sensitivity", "specificity", "F1", ""], rows))
    eff = section["effective_jurors"]
    if eff.get("reason"):
        print(f"effective number of independent jurors: undefined ({eff['reason']})")
    else:
        print(f"effective number of independent jurors: {eff['effective_jurors']:.2f} of {eff['jurors']} (mean "
              f"pairwise error correlation {eff['mean_error_correlation']:.2f})")
    if choice.get("cheapest"):
        print(f"best kappa: {choice['best']}; cheapest configuration within its interval (kappa >= "
              f"{choice['threshold']:.2f}): {choice['cheapest']}")
    else:
        print(f"no configuration to choose: {choice.get('reason')}")


def _print_canary(config, stored: records.Calibration, summary: dict) -> None:
    result = summary["jury"]
    print(f"canary of jury {config.name} ({config.identity}): {summary['items']} items re-judged without the cache "
          f"({summary['calls']} calls, {summary['seconds']:.2f} s) against {stored.path} ({stored.age_days:.1f} day(s) "
          "old)")
    rows = [["jury decision", *_canary_cells(result)]]
    rows += [[name, *_canary_cells(r)] for name, r in summary["jurors"].items()]
    print(table(["who", "unsafe->safe", "safe->unsafe", "lost", "gained", "kappa before", "kappa after",
                 "change [95% CI]", "verdict"], rows))
    print(f"jury decision: {result['verdict']}" + (f": {result['reason']}" if result.get("reason") else "")
          + f" (drift threshold {summary['threshold']:g})")
    if summary["stale"]:
        print(f"the stored calibration is stale: {stored.age_days:.1f} days old, more than --max-age-days "
              f"{summary['max_age_days']:g}; calibrate again")


def _canary_cells(result: dict) -> list[str]:
    flips = result["flips"]
    before, after = _number(result.get("kappa_before")), _number(result.get("kappa_after"))
    return [str(flips["unsafe_to_safe"]), str(flips["safe_to_unsafe"]), str(flips["judged_to_unjudged"]),
            str(flips["unjudged_to_judged"]), "-" if before is None else f"{before:.2f}",
            "-" if after is None else f"{after:.2f}", cell(result["change"]), result["verdict"]]
