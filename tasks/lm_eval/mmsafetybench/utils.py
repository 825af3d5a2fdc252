"""Thin hooks for the MM-SafetyBench text tasks under lm-eval; the logic lives in ``lmms_safebench``."""

from lmms_safebench import hooks as _hooks
from lmms_safebench import metrics as _metrics

load_docs = _hooks.mmsb_custom_dataset
doc_to_text = _hooks.mmsb_doc_to_text
process_results = _hooks.mmsb_process_results

asr = _metrics.asr
asr_pooled = _metrics.asr_pooled
judged = _metrics.judged_coverage
refusal_rate = _metrics.refusal_rate
unjudged = _metrics.unjudged_count
inference_failed = _metrics.inference_failed_count
jury = _metrics.jury_report
