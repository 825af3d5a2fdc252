"""Thin hooks for the MM-SafetyBench lmms-eval tasks.

lmms-eval re-executes this file for every ``!function`` reference, so it only re-exports functions;
all state (the jury, its cache, loaded data) lives in the ``lmms_safebench`` library.
"""

from lmms_safebench import hooks as _hooks
from lmms_safebench import metrics as _metrics

process_docs = _hooks.mmsb_process_docs
doc_to_visual = _hooks.mmsb_doc_to_visual
doc_to_text = _hooks.mmsb_doc_to_text
process_results = _hooks.mmsb_process_results

# Per-task aggregations (one per metric in the template's metric_list) and the group aggregation.
asr = _metrics.asr
asr_pooled = _metrics.asr_pooled
judged = _metrics.judged_coverage
refusal_rate = _metrics.refusal_rate
unjudged = _metrics.unjudged_count
inference_failed = _metrics.inference_failed_count
jury = _metrics.jury_report
combine = _metrics.combine
