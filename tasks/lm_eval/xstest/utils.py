"""Thin hooks for the tasks in this folder (written by _generate_configs.py; do not edit by hand).

lmms-eval and lm-eval re-execute this file for every ``!function`` reference, so it only re-exports the
generic hooks; all state (the jury, its cache, loaded data) lives in the ``lmms_safebench`` library.
"""

from lmms_safebench.harness import hooks as _hooks
from lmms_safebench.scoring.tree import combine  # noqa: F401  (the group YAMLs' aggregation)

BENCHMARK = "xstest"  # the registry key of the benchmark whose tasks these are

process_docs = _hooks.process_docs  # lmms-eval
load_docs = _hooks.custom_dataset  # lm-eval
doc_to_visual = _hooks.doc_to_visual
doc_to_text = _hooks.doc_to_text
doc_to_messages = _hooks.doc_to_messages
doc_to_target = _hooks.doc_to_target  # the document's fingerprint, logged as `target`
process_results = _hooks.process_results


def __getattr__(name):
    """The aggregation of each metric of the templates' metric_list, from the benchmark's metric table."""
    return _hooks.aggregation(BENCHMARK, name)
