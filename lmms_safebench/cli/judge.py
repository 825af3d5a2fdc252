"""``lmms-safebench judge RUN_FOLDER...``: judge the answers that runs logged, without the model (see
:mod:`lmms_safebench.judge`). Exit status 1 when a sample stayed unjudged (counted, never safe)."""

from __future__ import annotations

import sys

from ..errors import SafebenchError


def add_parser(sub) -> None:
    judge = sub.add_parser("judge", help="judge the answers that runs logged (--log_samples), without the model")
    judge.add_argument("runs", nargs="+", metavar="RUN_FOLDER",
                       help="folders of lmms-eval or lm-eval output (--output_path), searched recursively")
    judge.add_argument("--jury", default=None,
                       help="a jury YAML or built-in name (default: $SAFEBENCH_JURY, else each benchmark's default "
                            "protocol on the $SAFEBENCH_JUDGE_MODEL endpoint)")
    judge.add_argument("--output", default="judged",
                       help="where to write the judged runs, one folder per model (default: ./judged)")
    judge.add_argument("--concurrency", type=int, default=64,
                       help="juror calls in flight in total, and samples judged at once; each endpoint's adaptive "
                            "limit starts here and backs off on 429/overload (default: 64)")
    judge.add_argument("--endpoint-limit", type=int, default=None,
                       help="a ceiling on juror calls in flight per endpoint, for every juror (default: each "
                            "juror's max_in_flight, else --concurrency)")
    judge.add_argument("--trust-doc-ids", action="store_true",
                       help="judge --predict_only logs written before document fingerprints by their doc_id alone "
                            "(otherwise such samples are refused, since the local data may have changed)")
    judge.add_argument("--no-progress", action="store_true", help="no progress bar")
    judge.set_defaults(func=run)


def run(args) -> int:
    # Imported here, not at start-up: the jury, datasets and the harness glue are heavy for `--help`.
    from .. import judge
    from ..jury.runtime import unjudged_summary
    from ..llm.limits import describe_endpoints

    if args.concurrency < 1 or (args.endpoint_limit is not None and args.endpoint_limit < 1):
        raise SafebenchError("--concurrency and --endpoint-limit must be at least 1")
    try:
        summary = judge.judge_folders(args.runs, args.output, jury=args.jury, concurrency=args.concurrency,
                                      endpoint_limit=args.endpoint_limit, progress=not args.no_progress,
                                      trust_doc_ids=args.trust_doc_ids)
    except KeyboardInterrupt:
        print("interrupted: every finished juror call is cached; run the same command again to resume",
              file=sys.stderr)
        return 130
    for path in summary["written"]:
        print(f"wrote {path}")
    for name, acc in summary["accounting"].items():
        calls = sum(j["calls"] for j in acc["jurors"].values())
        hits = sum(j["cache_hits"] for j in acc["jurors"].values())
        print(f"jury {name}: juror calls {calls}, cache hits {hits}")
    for line in describe_endpoints(summary["endpoints"]):
        print(line)
    counts = summary["counts"]
    print(f"{summary['samples']} samples in {summary['seconds']:.2f} s: judged {counts['judged']}, "
          f"unjudged {counts['unjudged']}, inference failed {counts['inference_failed']}")
    if summary["foreign"]:
        print(f"left aside {len(summary['foreign'])} sample file(s) of tasks that are not lmms-safebench's",
              file=sys.stderr)
    if summary["problems"]:
        print(f"{len(summary['problems'])} sample(s) could not be judged:", file=sys.stderr)
        for problem in summary["problems"][:20]:
            print(f"  {problem}", file=sys.stderr)
        if len(summary["problems"]) > 20:
            print(f"  ... and {len(summary['problems']) - 20} more (each is in the results file)", file=sys.stderr)
    if counts["unjudged"]:
        print(unjudged_summary(summary["unjudged_causes"]), file=sys.stderr)
        return 1
    return 0
