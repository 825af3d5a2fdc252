"""``lmms-safebench generate GENERATOR CONFIG --name NAME``: generate a fresh benchmark. Each generator is a module
exposing ``HELP``, ``add_arguments(parser)`` and ``main(args)``, import-light by contract (heavy imports happen in
``main``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util

# `lmms-safebench generate <name>`: the module of each generator.
GENERATORS = {"safebench": "lmms_safebench.generate.safebench", "mmsafetybench": "lmms_safebench.generate.mmsafetybench",
              "vlsafety": "lmms_safebench.generate.vlsafety"}


def modules() -> dict:
    """The generators that are installed."""
    return {name: importlib.import_module(module) for name, module in GENERATORS.items()
            if importlib.util.find_spec(module) is not None}


def listing(found: dict) -> str:
    """The generators' lines of the top-level help."""
    if not found:
        return ("  generate GENERATOR CONFIG --name NAME\n"
                "                        generate a fresh benchmark (no generator installed)")
    return "\n".join(f"  generate {name} CONFIG --name NAME\n{'':24}{module.HELP}" for name, module in found.items())


def add_parser(sub, found: dict, plain) -> None:
    generate = sub.add_parser("generate", help="generate a fresh benchmark (SafeBench pipeline, MM-SafetyBench "
                                               "visual prompts, VLSafetyBencher)")
    generators = generate.add_subparsers(dest="generator", required=True, metavar="GENERATOR")
    for name, module in found.items():
        generator = generators.add_parser(name, help=module.HELP, description=plain(module.__doc__),
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
        generator.add_argument("config", metavar="CONFIG", help="the generation YAML (see the README)")
        generator.add_argument("--name", required=True,
                               help="the benchmark's name: lower-case letters, digits, '_' (it becomes task names)")
        generator.add_argument("--data-dir", default=None,
                               help="data folder (default: $SAFEBENCH_DATA); the benchmark goes to <it>/generated/<name>")
        generator.add_argument("--restart", action="store_true",
                               help="delete an earlier run of this benchmark and start over (default: resume it)")
        generator.add_argument("--no-progress", action="store_true", help="no progress bars")
        module.add_arguments(generator)
        generator.set_defaults(func=module.main)
