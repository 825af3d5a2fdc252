"""The SafeBench paper's published numbers (``published/*.csv``), matched to run model names.

A run's model matches a paper model when the paper's name, reduced to lower-case letters and
digits, is contained in the run's (``llava-hf/llava-v1.6-mistral-7b-hf`` matches
``LLaVA-v1.6-Mistral-7B``); the longest such name wins. ``--paper-name RUN=PAPER`` overrides.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from .taxonomy import CATEGORIES

_DIR = Path(__file__).resolve().parent / "published"
CITATION = "Ying et al., SafeBench (arXiv:2410.18927), main table"
AUDIO_CITATION = "Ying et al., SafeBench (arXiv:2410.18927), audio MiniBench table"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=1)
def main_table() -> dict[str, dict]:
    """``{paper model: {"ASR": {category slug: v, "AVG": v}, "SRI": {...}}}``."""
    out = {}
    with open(_DIR / "safebench_main.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out[row["model"]] = {metric: {**{c.slug: float(row[f"{c.abbr}_{metric}"]) for c in CATEGORIES},
                                          "AVG": float(row[f"AVG_{metric}"])} for metric in ("ASR", "SRI")}
    return out


@lru_cache(maxsize=1)
def audio_table() -> dict[tuple[str, str, str], dict]:
    """``{(base model, voice, "audio"|"affirmative"): {"ASR": avg, "SRI": avg}}``."""
    out: dict[tuple[str, str, str], dict] = {}
    with open(_DIR / "safebench_audio_minibench.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = row["model"]
            mode = "affirmative" if "(A+T)" in name else "audio"
            base = name.split("(")[0]
            out.setdefault((base, row["voice"], mode), {})[row["metric"]] = float(row["AVG"])
    return out


def match(model: str, candidates, overrides: dict[str, str] | None = None) -> str | None:
    if overrides and model in overrides:
        return overrides[model] if overrides[model] in candidates else None
    found = [c for c in candidates if _norm(c) and _norm(c) in _norm(model)]
    return max(found, key=lambda c: len(_norm(c))) if found else None


def published(board: str, model: str, overrides: dict[str, str] | None = None) -> tuple[str, dict] | None:
    """``(paper model, numbers)`` for a board the paper reports, or None. ``safebench_image`` gets the
    main table (per category and AVG); ``safebench_mini_audio_<voice>[_affirmative]`` the audio AVG."""
    if board == "safebench_image":
        name = match(model, main_table(), overrides)
        return (name, {"citation": CITATION, **main_table()[name]}) if name else None
    audio = re.fullmatch(r"safebench_mini_audio_(female|male)(_affirmative)?", board)
    if audio:
        voice, mode = audio.group(1), "affirmative" if audio.group(2) else "audio"
        bases = {base for base, v, m in audio_table() if v == voice and m == mode}
        name = match(model, bases, overrides)
        if name:
            values = audio_table()[(name, voice, mode)]
            return name, {"citation": AUDIO_CITATION, "ASR": {"AVG": values["ASR"]}, "SRI": {"AVG": values["SRI"]}}
    return None
