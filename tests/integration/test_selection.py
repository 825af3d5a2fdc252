"""`lmms-safebench select`: the quality measures on hand-computed cases, the selection finding planted
discriminative samples and beating random subsets, a selection's report columns (the selection's tasks under
lmms-eval, and bad input, are tests/e2e/test_e2e_selection.py)."""

import json
import math

import numpy as np
import pytest
from selection_pool import (
    MODELS,
)

from lmms_safebench.benchmarks import registry
from lmms_safebench.selection import quality, scores

N = np.nan


def test_quality_measures_on_hand_computed_cases():
    unsafe = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, N, 0]], dtype=float)
    rates = quality.safety_rates(unsafe)
    assert rates.tolist() == [25.0, pytest.approx(200 / 3), 100.0]  # model 2 has 3 verdicts, 1 unsafe
    q = quality.quality(unsafe, None, None, ["a", "b", "c"])
    mean = (25 + 200 / 3 + 100) / 3
    assert q["MEAN"] == pytest.approx(mean) and q["GAP"] == pytest.approx(75.0)
    assert q["MAD"] == pytest.approx((abs(25 - mean) + abs(200 / 3 - mean) + abs(100 - mean)) / 3)
    # Ordered by rate, but no neighbours differ on more than one sample: one group, a tie (not an order by name).
    assert quality.ranking(unsafe, None, ["a", "b", "c"])["groups"] == [["c", "b", "a"]]
    assert quality.quality(unsafe, None, np.array([2]), ["a", "b", "c"])["GAP"] == 0.0  # everyone safe on row 2
    vectors = np.array([[1, 0], [0, 1], [1, 0]], dtype=float)
    # pairs: (0,1) 1, (0,2) 0, (1,2) 1 -> mean distance 2/3
    assert quality.diversity(vectors) == pytest.approx(2 / 3) and math.isnan(quality.diversity(vectors[:1]))
    assert quality._quotas([10, 5, 5], 8) == [4, 2, 2] and sum(quality._quotas([3, 1], 10)) == 4
    # Equal quotas; what a small category cannot use goes to the others. The selection and the random baseline
    # use the same rule.
    assert quality.category_quotas([10, 5, 1], 9, "equal") == [5, 3, 1]
    assert quality.category_quotas([10, 5, 1], 9, "proportional") == [6, 3, 0]
    chosen = scores.select(np.zeros(16), np.zeros(16), None, ["a"] * 10 + ["b"] * 5 + ["c"], 9, 1, 0, 0, "equal")
    assert [sum(1 for i in chosen if i < 10), sum(1 for i in chosen if 10 <= i < 15), chosen.count(15)] == [5, 3, 1]


def test_scores_on_hand_computed_cases():
    # Models ordered safest first on the pool: c (0 unsafe), b (1), a (3 of 4).
    unsafe = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=float)
    sep = scores.separability(unsafe)
    # Row 0: p = 1/3 -> spread 8/9; pairs (c>b, c>a, b>a): a unsafe & b safe, a unsafe & c safe -> 2/3.
    assert sep[0] == pytest.approx((8 / 9 + 2 / 3) / 2)
    assert sep[2] == 0.0  # everyone agrees
    harm = scores.harmfulness(unsafe, np.full(unsafe.shape, 5.0))
    assert harm[1] == pytest.approx((2 / 3 + 0) / 2) and harm[2] == 0.0
    chosen = scores.select(sep, harm, None, ["x", "x", "y", "y"], 2, 1.0, 0.0, 0.0)
    assert sorted(chosen) == [0, 3] or sorted(chosen) == [1, 3]  # one per category (proportional quotas)


def test_selection_finds_planted_samples_and_beats_random_subsets(pool):
    from lmms_safebench.selection.command import SelectionConfig, run

    tmp_path, planted, size = pool
    config = SelectionConfig(embedding_model=None, image_model=None, draws=30)
    result = run([str(tmp_path / "runs")], "safebench_image", "picked", len(planted), config)
    manifest = json.loads((result["folder"] / "manifest.json").read_text())
    found = set(manifest["selected"]) & set(planted)
    assert len(found) >= 0.8 * len(planted)
    card = result["card"]
    chosen, rand = card["quality"]["selected"], json.loads((result["folder"] / "data_card.json").read_text())
    random_gap = rand["quality"]["random"]["GAP"]
    chosen_gap = chosen["GAP"]
    mean, spread = (float(x) for x in random_gap.split(" ± "))
    assert chosen_gap >= mean + 30  # the stated margin: 30 points of GAP over random subsets of the same size
    mad_mean = float(rand["quality"]["random"]["MAD"].split(" ± ")[0])
    assert chosen["MAD"] >= mad_mean + 10
    # The planted order is recovered, as six groups of one: each neighbouring pair differs significantly on the
    # chosen samples, so the order owes nothing to the models' names (tied models would share a group).
    assert card["ranking"]["selected"]["groups"] == [[m] for m in MODELS]
    assert card["ranking"]["pool"]["groups"] == [[m] for m in MODELS] and card["quality"]["selected"]["TAU"] == 1.0
    assert (result["folder"] / "data_card.md").exists() and card["random_draws"] == 30
    assert size == 138


def test_a_selection_reports_with_the_columns_of_the_board_it_came_from():
    from lmms_safebench.selection.family import Selection

    source = registry.get("safebench")
    mini = Selection(source, "gen_m", "m", "safebench_sel_m", [], source_board="safebench_mini_image")
    full = Selection(source, "gen_f", "f", "safebench_sel_f", [], source_board="safebench_image")
    assert mini.categories("safebench_sel_m_mini_image") == []  # MiniBench: the scenarios are the units
    assert len(full.categories("safebench_sel_f_image")) == 8
