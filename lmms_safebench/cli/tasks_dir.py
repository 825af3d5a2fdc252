"""``lmms-safebench tasks-dir``: print the task folder to pass as ``--include_path``."""

from __future__ import annotations

from ..harness.discovery import lm_eval_tasks_dir, lmms_eval_tasks_dir


def add_parser(sub) -> None:
    tasks_dir = sub.add_parser("tasks-dir", help="print the task folder to pass as --include_path")
    tasks_dir.add_argument("--harness", choices=["lm-eval", "lmms-eval"], default="lm-eval",
                           help="lm-eval (text-only tasks; default) or lmms-eval (registered automatically)")
    tasks_dir.set_defaults(func=run)


def run(args) -> int:
    print(lmms_eval_tasks_dir() if args.harness == "lmms-eval" else lm_eval_tasks_dir())
    return 0
