"""MOSSBench's published refusal rates: the authors' README leaderboard (``xirui-li/MOSSBench`` at the pinned commit,
"Oversensitivity on MOSSBench", dated 2024-06-22), transcribed here so that ``lmms-safebench report`` shows them beside
a run of the same model.

Values are refusal rates in percent: ALL and per stimulus type. ALL is the mean of the three type rates in every row but
"Claude 3 Opus" (published 34.67; its type rates average 36.33): it is kept as published. The authors' judge was
GPT-4-Turbo with their own prompt, and it counted an empty answer as a refusal (here an empty answer is an inference
failure, not judged): compare with care.

A run's model matches a row when one of the row's model ids, reduced to lower-case letters and digits, is contained in
the run's model name (the rule of SafeBench's published numbers, :func:`..safebench.published.match`; the longest id
wins). Rows measured through a web interface, and rows whose name says too little to tell one model from another
(Reka, MiniCPM-V 2.0), have no id: only ``--paper-name RUN=PAPER`` matches them.
"""

from __future__ import annotations

from ..safebench.published import match

CITATION = "Li et al., MOSSBench (arXiv:2406.17806), the authors' README leaderboard of 2024-06-22"

# (model as published, model ids it matches, ALL, Exaggerated Risk, Negated Harm, Counterintuitive Interpretation)
LEADERBOARD = (
    ("Claude 3 Opus (web)", (), 70.67, 41, 93, 78),
    ("Gemini Advanced", (), 61, 41, 67, 75),
    ("Claude 3 Sonnet", ("claude-3-sonnet",), 55, 39, 65, 61),
    ("Claude 3 Haiku", ("claude-3-haiku",), 49.33, 27, 58, 63),
    ("Claude 3 Opus", ("claude-3-opus",), 34.67, 11, 43, 55),
    ("Gemini Pro 1.5", ("gemini-1.5-pro",), 29.33, 25, 28, 35),
    ("Qwen-VL-Chat", ("qwen-vl-chat",), 21.67, 16, 13, 36),
    ("InternLM-Xcomposer2-7b", ("internlm-xcomposer2-7b", "internlm-xcomposer2-vl-7b"), 17.67, 14, 11, 28),
    ("Gemini Pro Vision", ("gemini-pro-vision",), 17, 20, 9, 22),
    ("Reka", (), 16.67, 11, 21, 18),
    ("InstructBLIP-Vicuna-7b", ("instructblip-vicuna-7b",), 15.67, 21, 23, 3),
    ("IDEFICS-9b-Instruct", ("idefics-9b-instruct",), 13.67, 17, 9, 15),
    ("MiniCPM-V 2.0", (), 12.33, 16, 11, 10),
    ("LLaVA-1.5-7b", ("llava-1.5-7b", "llava-v1.5-7b"), 12.33, 18, 10, 9),
    ("mPLUG-Owl2", ("mplug-owl2",), 10, 11, 7, 12),
    ("LLaVA-1.5-13b", ("llava-1.5-13b", "llava-v1.5-13b"), 9.67, 9, 9, 11),
    ("GPT-4o", ("gpt-4o-2024-05-13",), 6.33, 6, 8, 5),
    ("MiniCPM-Llama3-V 2.5", ("minicpm-llama3-v-2.5", "minicpm-llama3-v-2_5"), 6, 8, 5, 5),
    ("GPT-4o (web)", (), 4, 6, 2, 4),
)
STIMULUS_ORDER = ("exaggerated_risk", "negated_harm", "counterintuitive")


def published(model: str, title: str, overrides: dict[str, str] | None = None) -> tuple[str, dict] | None:
    """``(published model, {"citation": ..., title: {stimulus slug: rate, "AVG": ALL}})`` for ``model``, or None.
    ``overrides`` (``--paper-name RUN=PAPER``) names the published model of a run directly."""
    rows = {row[0]: row for row in LEADERBOARD}
    if overrides and model in overrides:
        name = overrides[model] if overrides[model] in rows else None
    else:
        ids = {model_id: row[0] for row in LEADERBOARD for model_id in row[1]}
        found = match(model, ids)
        name = ids[found] if found else None
    if name is None:
        return None
    _, _, average, *per_type = rows[name]
    return name, {"citation": CITATION, title: {**dict(zip(STIMULUS_ORDER, per_type, strict=True)), "AVG": average}}
