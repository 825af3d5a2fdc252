"""Thin hooks for the MM-SafetyBench lmms-eval tasks.

lmms-eval re-executes this file for every ``!function`` reference, so it only re-exports functions;
all state (the jury, its cache, loaded data) lives in the ``lmms_safebench`` library.
"""

from lmms_safebench import hooks as _hooks
from lmms_safebench.metrics import combine  # noqa: F401  (group aggregation, see the group YAMLs)

process_docs = _hooks.mmsb_process_docs
doc_to_visual = _hooks.mmsb_doc_to_visual
doc_to_text = _hooks.mmsb_doc_to_text
doc_to_target = _hooks.doc_to_target  # the document's fingerprint, logged as `target`
process_results = _hooks.mmsb_process_results

# One aggregation per metric of the template's metric_list (asr, asr_pooled, judged, refusal_rate,
# unjudged, inference_failed, jury), generated from the same table.
globals().update(_hooks.task_aggregations())
