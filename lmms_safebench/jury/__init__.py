"""The jury engine shared by every benchmark: configuration, rubrics, jurors, protocols, cache."""

from .case import HARMFUL_CONTENT, MUST_DECLINE, MUST_DISCLAIM, Case, Criterion
from .config import JurorConfig, JuryConfig, build_jury, load_jury_file, resolve_jury_config
from .engine import INFERENCE_FAILED, JUDGED, UNJUDGED, JudgedSample, Jury, inference_failure
from .refusal import REFUSAL, refusal_criterion
from .rubric import HARM, Rubric, parse_verdict
from .verdict import Verdict, VerdictParseError

__all__ = [
    "Case", "Criterion", "HARMFUL_CONTENT", "MUST_DECLINE", "MUST_DISCLAIM", "JurorConfig", "JuryConfig",
    "build_jury", "load_jury_file", "resolve_jury_config", "Jury", "JudgedSample", "JUDGED", "UNJUDGED",
    "INFERENCE_FAILED", "inference_failure", "HARM", "REFUSAL", "refusal_criterion", "Rubric", "Verdict",
    "VerdictParseError", "parse_verdict",
]
