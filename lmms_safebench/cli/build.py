"""``lmms-safebench build BENCHMARK``: normalise a benchmark into the local data folder.

Exit status: 0 when everything the source holds was built (notes, such as counts that differ from the published
ones or SD images not supplied, allowed); 1 when something was left out (each item named in the summary and the
manifest); 2 (an error) when nothing could be built.
"""

from __future__ import annotations

import sys

from ..errors import SafebenchError


def add_parser(sub) -> None:
    build = sub.add_parser("build", help="normalise a benchmark into the local data folder")
    build.add_argument("benchmark", choices=["mmsafetybench", "safebench"])
    build.add_argument("--source", default=None,
                       help="mmsafetybench: github (default), github@<commit>, hub, hub:<repo-or-folder>, or a local "
                            "folder; safebench: hub (default), hub:<repo>, an extracted release folder, a .tar(.gz) "
                            "archive, a part_a? split part, or a folder holding the archives")
    build.add_argument("--set", default="all", choices=["full", "mini", "all"],
                       help="safebench only: the 2,300-query benchmark, MiniBench, or both (default: all)")
    build.add_argument("--sd-images", default=None,
                       help="mmsafetybench only: the official image folder (<scenario>/SD/<id>.jpg)")
    build.add_argument("--data-dir", default=None, help="data folder (default: $SAFEBENCH_DATA or ~/.cache/lmms_safebench/data)")
    build.add_argument("--pairing", default=None,
                       help="mmsafetybench only: which text goes with which image kind, e.g. 'typo=rephrased_question_sd' (default: upstream's)")
    build.add_argument("--font", default=None, help="mmsafetybench only: TrueType font for typography images (default: Liberation Sans)")
    build.add_argument("--tiny-list", default=None, help="mmsafetybench only: TinyVersion_ID_List.json, when it is not next to the questions")
    build.set_defaults(func=run)


def run(args) -> int:
    if args.benchmark == "mmsafetybench":
        from ..benchmarks.mmsafetybench import data as mmsafetybench

        report = mmsafetybench.build(source=args.source, sd_images=args.sd_images, data_root=args.data_dir,
                                     pairing=args.pairing, font=args.font, tiny_list=args.tiny_list)
        print(report.summary())
        return _build_status(len(report.left_out))
    if args.benchmark == "safebench":
        from ..benchmarks.safebench import data as safebench

        misplaced = [f"--{name.replace('_', '-')}" for name in ("sd_images", "pairing", "font", "tiny_list")
                     if getattr(args, name) is not None]
        if misplaced:
            raise SafebenchError(f"{', '.join(misplaced)}: only for `build mmsafetybench`")

        reports = safebench.build(source=args.source, subset=args.set, data_root=args.data_dir)
        for report in reports:
            print(report.summary())
        return _build_status(sum(len(report.left_out) for report in reports))
    raise SafebenchError(f"unknown benchmark {args.benchmark!r}")


def _build_status(left_out: int) -> int:
    if left_out:
        print(f"lmms-safebench: {left_out} problem(s) left something out of the build; everything else was built "
              "(see LEFT OUT above and 'problems' in manifest.json)", file=sys.stderr)
        return 1
    return 0
