"""`lmms-safebench report`: leaderboards per board and jury, bootstrap intervals, paper comparison,
radar charts and a self-contained HTML page, from real lmms-eval runs and a re-judge."""

import math

from lmms_safebench.benchmarks.safebench import published as paper
from lmms_safebench.report.stats import bootstrap_ci


def outcome(unsafe, scenario, category, rating=None):
    return {"status": "judged", "unsafe": unsafe, "rating": rating, "scenario": scenario, "category": category}


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible():
    certain = [outcome(1, "a", "x", 1) for _ in range(10)]
    assert bootstrap_ci(certain, "asr") == (100.0, 100.0) and bootstrap_ci(certain, "sri") == (20.0, 20.0)
    mixed = [outcome(i % 3 == 0, s, c, 1 + i % 5) for i in range(60) for s, c in (("a", "x"), ("b", "y"))]
    low, high = bootstrap_ci(mixed, "asr")
    assert low < 100 * 20 / 60 < high and (low, high) == bootstrap_ci(mixed, "asr")
    assert all(math.isnan(v) for v in bootstrap_ci([], "asr"))  # nothing judged: no interval


def test_paper_names_match_run_names():
    assert paper.match("llava-hf/llava-v1.6-mistral-7b-hf", paper.main_table()) == "LLaVA-v1.6-Mistral-7B"
    assert paper.match("gpt-4o-mini-2024-07-18", paper.main_table()) == "GPT-4o-mini"
    assert paper.match("my-model", paper.main_table()) is None
    name, numbers = paper.published("safebench_mini_audio_male_affirmative", "Qwen/Qwen2-Audio-7B-Instruct")
    assert name == "Qwen2-Audio" and numbers["ASR"]["AVG"] > 50  # the affirmative setting is far less safe


