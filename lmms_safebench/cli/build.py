"""``lmms-safebench build BENCHMARK``: normalise a benchmark into the local data folder. The benchmarks and their
options come from the registry: every registered adapter that can build (``Benchmark.build``) adds its own.

Exit status: 0 when everything the source holds was built (notes, such as counts that differ from the published
ones or SD images not supplied, allowed); 1 when something was left out (each item named in the summary and the
manifest); 2 (an error) when nothing could be built.
"""

from __future__ import annotations

import sys

from ..benchmarks import registry
from ..errors import SafebenchError


def add_parser(sub) -> None:
    adapters = buildable()
    build = sub.add_parser("build", help="normalise a benchmark into the local data folder")
    build.add_argument("benchmark", choices=[adapter.key for adapter in adapters])
    build.add_argument("--source", default=None,
                       help="; ".join(f"{adapter.key}: {adapter.build_source}" for adapter in adapters))
    build.add_argument("--data-dir", default=None,
                       help="data folder (default: $SAFEBENCH_DATA or ~/.cache/lmms_safebench/data)")
    owners: dict[str, tuple[str, str]] = {}  # option dest -> (benchmark, option as written)
    for adapter in adapters:
        known = {action.dest for action in build._actions}
        adapter.add_build_arguments(build)
        owners.update({action.dest: (adapter.key, action.option_strings[0]) for action in build._actions
                       if action.dest not in known})
    build.set_defaults(func=run, build_options=owners)


def buildable() -> list:
    """The registered benchmarks that ``build`` can build."""
    return [adapter for adapter in registry.builtins() if adapter.buildable]


def run(args) -> int:
    misplaced: dict[str, list[str]] = {}
    for dest, (owner, option) in args.build_options.items():
        if owner != args.benchmark and getattr(args, dest, None) is not None:
            misplaced.setdefault(owner, []).append(option)
    if misplaced:
        raise SafebenchError("; ".join(f"{', '.join(options)}: only for `build {owner}`"
                                       for owner, options in misplaced.items()))
    reports = registry.get(args.benchmark).build(args)
    for report in reports:
        print(report.summary())
    left_out = sum(len(report.left_out) for report in reports)
    if left_out:
        print(f"lmms-safebench: {left_out} problem(s) left something out of the build; everything else was built "
              "(see LEFT OUT above and 'problems' in manifest.json)", file=sys.stderr)
        return 1
    return 0
