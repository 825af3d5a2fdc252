"""Thin hooks for the SafeBench lmms-eval tasks.

lmms-eval re-executes this file for every ``!function`` reference, so it only re-exports functions;
all state (the jury, its cache, loaded data) lives in the ``lmms_safebench`` library.
"""

from lmms_safebench import hooks as _hooks
from lmms_safebench.metrics import combine  # noqa: F401  (group aggregation, see the group YAMLs)

process_docs = _hooks.sb_process_docs
doc_to_visual = _hooks.sb_doc_to_visual
doc_to_text = _hooks.sb_doc_to_text
doc_to_messages = _hooks.sb_doc_to_messages
doc_to_target = _hooks.doc_to_target  # the document's fingerprint, logged as `target`
process_results = _hooks.sb_process_results

# One aggregation per metric of the templates' metric_list, generated from the same tables.
globals().update(_hooks.task_aggregations())
