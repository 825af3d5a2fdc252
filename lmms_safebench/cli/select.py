"""``lmms-safebench select RUN_FOLDER... --from BOARD --name NAME --budget N`` or ``--refresh BOARD --with POOL
--replace K`` (see :mod:`lmms_safebench.selection.command` and :mod:`lmms_safebench.selection.refresh`)."""

from __future__ import annotations

import argparse

from ..selection import command, refresh


def main(args) -> int:
    return (refresh.main if args.refresh is not None else command.main)(args)


def add_parser(sub, plain) -> None:
    select = sub.add_parser("select", help=command.HELP, description=plain(command.__doc__), usage=command.USAGE,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_arguments(select)
    select.set_defaults(func=main)
