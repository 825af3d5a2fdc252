"""Thin hooks for the MM-SafetyBench text tasks under lm-eval; the logic lives in ``lmms_safebench``."""

from lmms_safebench import hooks as _hooks

load_docs = _hooks.mmsb_custom_dataset
doc_to_text = _hooks.mmsb_doc_to_text
doc_to_target = _hooks.doc_to_target  # the document's fingerprint, logged as `target`
process_results = _hooks.mmsb_process_results

# One aggregation per metric of the template's metric_list, generated from the same table.
globals().update(_hooks.task_aggregations())
