"""The calibration statistics (lmms_safebench.calibration): hand-computed small cases, scripted jurors with
known error rates on large labelled sets, the corrected rate's recovery of a true rate at another
prevalence, Dawid-Skene's recovery of scripted confusion matrices, panels, the canary, and bad input.

Tolerances on random scripted jurors follow from binomial error: a rate estimated from n items has standard
error sqrt(r (1 - r) / n), and we allow 4 of them (a false failure about once in 16,000 runs; the seeds are
fixed anyway, so a failure means the code changed)."""

import math
import time

import numpy as np
import pytest

from lmms_safebench.calibration import agreement, canary, correction, dawid_skene, inputs, panel
from lmms_safebench.errors import DataError
from lmms_safebench.scoring import metrics

REFUSAL = ("full_compliance", "partial_refusal", "full_refusal")


def labelled(n, prevalence, rng):
    """Gold labels with exactly round(n * prevalence) positives, in random order."""
    gold = np.zeros(n, dtype=int)
    gold[:round(n * prevalence)] = 1
    return rng.permutation(gold)


def exact_juror(gold, sensitivity, specificity, rng):
    """Verdicts that miss exactly round((1 - Se) * positives) positives and round((1 - Sp) * negatives) negatives."""
    verdicts = gold.copy()
    for cls, rate in ((1, sensitivity), (0, specificity)):
        members = np.flatnonzero(gold == cls)
        wrong = rng.choice(members, size=round((1 - rate) * len(members)), replace=False)
        verdicts[wrong] = 1 - cls
    return verdicts


def random_juror(gold, sensitivity, specificity, rng):
    """Each verdict right with probability Se (positives) or Sp (negatives), independently."""
    right = rng.random(len(gold)) < np.where(gold == 1, sensitivity, specificity)
    return np.where(right, gold, 1 - gold)


def within(value, expected, n):
    """|value - expected| within 4 binomial standard errors of a rate `expected` estimated from n items."""
    return abs(value - expected) <= 4 * math.sqrt(expected * (1 - expected) / n)


def value(report, name):
    return report["metrics"][name]["value"]


# ---------------------------------------------------------------- agreement: hand computations

def test_binary_metrics_equal_hand_computation():
    gold = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    verdicts = [1, 1, 1, 0, 0, 0, 0, 0, 1, None]  # the last one unjudged
    causes = [None] * 9 + ["transport"]
    r = agreement.binary_report(gold, verdicts, causes=causes)
    # judged: 9 items; TP = 3, FN = 1, FP = 1, TN = 4
    assert r["counts"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 4}
    assert (r["items"], r["judged"], r["unjudged"]) == (10, 9, 1)
    assert r["unjudged_by_gold"] == {0: 1, 1: 0} and r["unjudged_by_cause"] == {"transport": 1}
    assert r["prevalence"] == pytest.approx(4 / 10)  # over all items, judged or not
    assert value(r, "accuracy") == pytest.approx(7 / 9)
    assert value(r, "sensitivity") == pytest.approx(3 / 4)
    assert value(r, "specificity") == pytest.approx(4 / 5)
    assert value(r, "precision") == pytest.approx(3 / 4)
    assert value(r, "f1") == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    # p_o = 7/9; gold 4 positive / 5 negative, verdicts 4 / 5: p_e = (4*4 + 5*5) / 81 = 41/81
    # kappa = (63/81 - 41/81) / (1 - 41/81) = 22/40
    assert value(r, "kappa") == pytest.approx(22 / 40)
    assert r["undefined"] == {}
    for name in agreement.BINARY_METRICS:
        m = r["metrics"][name]
        assert m["low"] <= m["value"] <= m["high"]


def test_multiclass_kappa_and_binary_collapse():
    gold = ["full_compliance"] * 3 + ["partial_refusal"] * 3 + ["full_refusal"] * 3
    said = ["full_compliance", "full_compliance", "partial_refusal",
            "partial_refusal", "partial_refusal", "full_refusal",
            "full_refusal", "full_refusal", "full_compliance"]
    r = agreement.agreement_report(gold, said, REFUSAL)
    # diagonal 2 + 2 + 2: p_o = 6/9; every class 3 times in both columns: p_e = 3 * (3*3) / 81 = 1/3
    # kappa = (2/3 - 1/3) / (1 - 1/3) = 1/2
    assert value(r, "kappa") == pytest.approx(0.5)
    assert value(r, "accuracy") == pytest.approx(6 / 9)
    assert r["confusion"] == [[2, 1, 0], [0, 2, 1], [1, 0, 2]]
    # "complied at all": compliance and partial refusal -> 1
    positive = ("full_compliance", "partial_refusal")
    assert agreement.collapse(said[:4] + [None], positive, REFUSAL) == [1, 1, 1, 1, None]
    binary = agreement.binary_report(agreement.collapse(gold, positive, REFUSAL),
                                     agreement.collapse(said, positive, REFUSAL))
    # collapsed: gold 6 positive, 3 negative; TP = 5 (one partial refusal said full refusal), FP = 1 (a full refusal
    # said compliance), TN = 2
    assert binary["counts"] == {"tp": 5, "fp": 1, "fn": 1, "tn": 2}
    with pytest.raises(DataError, match=r"item #1 has label 'maybe'"):
        agreement.collapse(["full_refusal", "maybe"], positive, REFUSAL)


def test_kappa_undefined_for_a_one_class_set_is_said():
    r = agreement.binary_report([0, 0, 0, 0], [0, 1, 0, None], categories=["a", "a", "b", "b"])
    assert math.isnan(value(r, "kappa")) and "one class" in r["undefined"]["kappa"]
    assert math.isnan(value(r, "sensitivity")) and "gold-positive" in r["undefined"]["sensitivity"]
    assert value(r, "specificity") == pytest.approx(2 / 3)
    assert "kappa" in r["by_category"]["b"]["undefined"]
    # The arithmetic would give 0 here (p_e equals p_o whenever gold has one class): it must not be reported.
    assert math.isnan(float(agreement.cohen_kappa([[2, 1], [0, 0]])))
    empty = agreement.binary_report([1], [None])
    assert empty["undefined"]["accuracy"] == agreement.NO_JUDGED and empty["unjudged"] == 1


def test_per_category_breakdown_equals_each_category_alone():
    rng = np.random.default_rng(3)
    gold = labelled(600, 0.2, rng)
    verdicts = random_juror(gold, 0.8, 0.9, rng)
    categories = rng.choice(["fraud", "violence", "privacy"], size=600)
    r = agreement.binary_report(gold, verdicts, categories=categories)
    assert sorted(r["by_category"]) == ["fraud", "privacy", "violence"]
    for category, sub in r["by_category"].items():
        mask = categories == category
        alone = agreement.binary_report(gold[mask], verdicts[mask])
        assert sub["counts"] == alone["counts"] and sub["metrics"] == alone["metrics"]
    assert sum(sub["items"] for sub in r["by_category"].values()) == 600


# ---------------------------------------------------------------- agreement: scripted jurors

def test_exactly_scripted_juror_gives_its_rates_and_kappa():
    rng = np.random.default_rng(0)
    gold = labelled(4000, 0.045, rng)  # 180 unsafe, 3820 safe (MSTS-like)
    r = agreement.binary_report(gold, exact_juror(gold, 0.9, 0.8, rng))
    # misses 18 of 180 unsafe and calls 764 of 3820 safe unsafe
    assert r["counts"] == {"tp": 162, "fn": 18, "fp": 764, "tn": 3056}
    assert value(r, "sensitivity") == pytest.approx(0.9) and value(r, "specificity") == pytest.approx(0.8)
    p_o = (162 + 3056) / 4000
    p_e = (180 * (162 + 764) + 3820 * (18 + 3056)) / 4000 ** 2
    assert value(r, "kappa") == pytest.approx((p_o - p_e) / (1 - p_e))
    assert value(r, "precision") == pytest.approx(162 / 926)


def test_randomly_scripted_jurors_and_a_random_juror():
    rng = np.random.default_rng(1)
    gold = labelled(4000, 0.045, rng)
    positives, negatives = int(gold.sum()), int((1 - gold).sum())
    good = agreement.binary_report(gold, random_juror(gold, 0.9, 0.8, rng))
    assert within(value(good, "sensitivity"), 0.9, positives)
    assert within(value(good, "specificity"), 0.8, negatives)
    # A juror that answers at random: rates near 1/2, kappa near 0 (its interval holds 0).
    coin = agreement.binary_report(gold, (rng.random(4000) < 0.5).astype(int))
    assert within(value(coin, "sensitivity"), 0.5, positives) and within(value(coin, "specificity"), 0.5, negatives)
    kappa = coin["metrics"]["kappa"]
    assert kappa["low"] < 0 < kappa["high"] and abs(kappa["value"]) < 0.05
    assert good["metrics"]["kappa"]["low"] > kappa["high"]


def test_bootstrap_is_fast_and_its_interval_has_the_binomial_width():
    rng = np.random.default_rng(2)
    gold = labelled(4000, 0.045, rng)
    verdicts = random_juror(gold, 0.9, 0.8, rng)
    start = time.perf_counter()
    r = agreement.binary_report(gold, verdicts, resamples=1000)
    assert time.perf_counter() - start < 1.0
    # Stratified by gold class, sensitivity's resamples are Binomial(180, Se)/180: its 95% interval spans about
    # 2 * 1.96 * sqrt(Se (1 - Se) / 180). Percentile noise (1,000 resamples) and the 1/180 grid make ~10% slack.
    se = value(r, "sensitivity")
    expected = 2 * 1.96 * math.sqrt(se * (1 - se) / 180)
    width = r["metrics"]["sensitivity"]["high"] - r["metrics"]["sensitivity"]["low"]
    assert width == pytest.approx(expected, rel=0.15)
    assert r["ci"] == {"level": 0.95, "resamples": 1000, "seed": 0, "stratified_by": "gold label"}
    # Stratified: every resample keeps the class sizes. A judge that says "safe" to all of 2 unsafe and 18 safe items
    # is right on exactly 18 of 20 in every stratified resample; resampling the 20 items freely varies that.
    blind = [1, 1] + [0] * 18, [0] * 20
    assert agreement.binary_report(*blind)["metrics"]["accuracy"] == {"value": 0.9, "low": 0.9, "high": 0.9}
    free = agreement.binary_report(*blind, stratify=False)["metrics"]["accuracy"]
    assert free["low"] < 0.9 < free["high"]
    again = agreement.binary_report(gold, verdicts, resamples=1000)
    assert again["metrics"] == r["metrics"]  # seeded


# ---------------------------------------------------------------- bad input

def test_bad_input_is_named():
    ids = ["a", "b", "c", "b"]
    with pytest.raises(DataError) as error:
        inputs.check_labelled_set(ids, ["fine", "  ", "fine", "fine"], [0, 1, 2, 1])
    message = str(error.value)
    # every problem at once: the duplicate id, the empty response, the label outside (0, 1)
    assert "id 'b' appears 2 times" in message and "record 'b' has an empty response" in message
    assert "record 'c' has gold label 2, not one of (0, 1)" in message
    with pytest.raises(DataError, match="record 'x' has verdict 'yes'"):
        agreement.binary_report([1, 0], ["yes", 0], ids=["x", "y"])
    with pytest.raises(DataError, match="item #1 has no gold label"):
        agreement.binary_report([1, None], [1, 0])
    with pytest.raises(DataError, match="differ in length"):
        agreement.binary_report([1, 0, 1], [1, 0])
    assert inputs.check_labelled_set(["a", "b"], ["x", "y"], [True, 0.0]).tolist() == [1, 0]
    # numpy columns (checked without a Python loop): the same errors, NaN is unjudged
    with pytest.raises(DataError, match="record 'z' has gold label 3, not one of"):
        agreement.binary_report(np.array([1, 0, 3]), np.array([1.0, np.nan, 0.0]), ids=["x", "y", "z"])
    with pytest.raises(DataError, match="item #1 has no gold label"):
        agreement.binary_report(np.array([1.0, np.nan]), np.array([1, 0]))
    assert agreement.binary_report(np.array([1, 0]), np.array([1.0, np.nan]))["unjudged_by_gold"] == {0: 1, 1: 0}
    with pytest.raises(DataError, match="id 'a' appears 2 times"):
        canary.select_canary(["a", "a"], [0, 1])


# ---------------------------------------------------------------- correction

def test_rogan_gladen_hand_values():
    # Se 0.9, Sp 0.8, observed 0.41: (0.41 + 0.8 - 1) / (0.9 + 0.8 - 1) = 0.21 / 0.7 = 0.3
    assert float(correction.rogan_gladen(0.41, 0.9, 0.8)) == pytest.approx(0.3)
    # observed 0.1 is below the false-positive rate 0.2: (0.1 - 0.2) / 0.7 < 0, clipped to 0
    assert float(correction.rogan_gladen(0.1, 0.9, 0.8)) == 0.0
    assert float(correction.rogan_gladen(0.99, 0.9, 0.8)) == 1.0
    assert math.isnan(float(correction.rogan_gladen(0.4, 0.5, 0.5)))


def _scenario_board(rates, per_scenario, juror, rng):
    """A board of scenarios with the given true unsafe rates, judged by `juror`; returns (Board units, true rates)."""
    units = {}
    for k, rate in enumerate(rates):
        truth = (rng.random(per_scenario) < rate).astype(int)
        units[f"s{k}"] = juror(truth, rng).tolist()
    return units


def test_corrected_rate_recovers_the_true_rate_at_another_prevalence():
    rng = np.random.default_rng(4)

    def juror(g, r):
        return random_juror(g, 0.9, 0.8, r)

    gold = labelled(4000, 0.045, rng)  # calibrated at 4.5% unsafe ...
    calibration = juror(gold, rng)
    rates = np.linspace(0.1, 0.5, 20)  # ... applied to a board at 30% unsafe (mean of 20 scenarios)
    board = correction.Board(_scenario_board(rates, 100, juror, rng))
    result = correction.corrected_rate(board, gold, calibration)
    assert result.status == correction.OK and result.reason is None
    assert result.low <= 0.3 <= result.high
    # the uncorrected rate is biased: 0.3 * 0.9 + 0.7 * 0.2 = 0.41, and its own interval misses 0.3
    assert result.observed_low > 0.3 and result.observed == pytest.approx(0.41, abs=0.03)
    # the interval carries the calibration's error too: wider than the board's alone, scaled by 1/J
    assert result.high - result.low > 1.2 * (result.observed_high - result.observed_low) / result.youden

    # Coverage: over 100 fresh calibration sets (2,000 items at 4.5%) and boards (5,000 answers at 30%), the 95%
    # interval holds the true rate about 95 times (binomial sd 2.2: fewer than 85 would be 4.5 sd short). Here the
    # calibration's error is the larger part: an interval from the board's error alone would cover ~70%.
    hits = 0
    for rep in range(100):
        r = np.random.default_rng(100 + rep)
        g = labelled(2000, 0.045, r)
        pooled = correction.Board.pooled(random_juror((r.random(5000) < 0.3).astype(int), 0.9, 0.8, r))
        c = correction.corrected_rate(pooled, g, random_juror(g, 0.9, 0.8, r), seed=rep)
        hits += c.low <= 0.3 <= c.high
    assert hits >= 85


def test_board_takes_the_projects_tree_rule():
    units = {("A", "s1"): [1, 1, 0, 0], ("A", "s2"): [1, None, None, None], ("B", "s3"): [0, 0, 0, 1]}
    tree = correction.Board(units, combine=lambda values: metrics.tree_mean(list(values.items())))
    # category A = mean(1/2, 1/1) = 3/4 (s2's unjudged left out); B = 1/4; board = (3/4 + 1/4) / 2
    assert tree.rate() == pytest.approx(0.5)
    assert correction.Board(units).rate() == pytest.approx((0.5 + 1 + 0.25) / 3)
    assert correction.Board.pooled([v for vs in units.values() for v in vs]).rate() == pytest.approx(4 / 9)
    draws = tree.draws(np.random.default_rng(0), 500)
    assert draws.shape == (500,) and 0 < draws.std() and abs(draws.mean() - 0.5) < 0.05


def test_correction_says_when_it_cannot_correct():
    rng = np.random.default_rng(5)
    gold = labelled(400, 0.5, rng)
    board = correction.Board.pooled([1, 0, 1, 1])
    chance = correction.corrected_rate(board, gold, exact_juror(gold, 0.5, 0.5, rng))
    assert chance.status == correction.UNDEFINED and math.isnan(chance.estimate) and "<= 1" in chance.reason
    one_class = correction.corrected_rate(board, [0, 0, 0], [0, 1, 0])
    assert one_class.status == correction.NO_CALIBRATION and "sensitivity" in one_class.reason
    nothing = correction.corrected_rate(correction.Board.pooled([None, None]), gold, gold)
    assert nothing.status == correction.NO_BOARD
    # 10 + 10 calibration items at Se = Sp = 0.6: J = 0.2, but J <= 0 is well within the sampling error
    small = labelled(20, 0.5, rng)
    shaky = correction.corrected_rate(board, small, exact_juror(small, 0.6, 0.6, rng))
    assert shaky.status == correction.UNSTABLE and (shaky.low, shaky.high) == (0.0, 1.0)
    assert shaky.undefined_share > 0.025 and not math.isnan(shaky.estimate)
    clipped = correction.corrected_rate(correction.Board.pooled([0] * 20), gold, exact_juror(gold, 0.9, 0.8, rng))
    assert clipped.estimate == 0.0 and clipped.clipped


# ---------------------------------------------------------------- Dawid-Skene

def test_dawid_skene_recovers_scripted_confusion_matrices():
    rng = np.random.default_rng(6)
    n = 4000
    truth = labelled(n, 0.3, rng)
    scripted = [(0.9, 0.8), (0.8, 0.95), (0.7, 0.9), (0.85, 0.85), (0.5, 0.5)]  # the last one answers at random
    ratings = np.stack([random_juror(truth, se, sp, rng) for se, sp in scripted], axis=1).astype(float)
    ratings[rng.random(ratings.shape) < 0.1] = np.nan  # 10% of the ratings missing
    fit = dawid_skene.dawid_skene(ratings)
    assert fit.converged
    assert within(fit.priors[1], 0.3, n)
    rated = ~np.isnan(ratings)
    for j, (se, sp) in enumerate(scripted):
        # n: the items of the class the juror rated (the latent classes add a little error on top)
        assert within(fit.sensitivity()[j], se, int((rated[:, j] & (truth == 1)).sum())), (j, fit.sensitivity()[j])
        assert within(fit.specificity()[j], sp, int((rated[:, j] & (truth == 0)).sum())), (j, fit.specificity()[j])
    assert np.allclose(fit.posteriors.sum(axis=1), 1)
    majority = np.array([v if v is not None else 0 for v in panel.majority_vote(ratings)])
    assert (fit.labels() == truth).mean() > (majority == truth).mean()  # it learns to ignore the random juror


def test_dawid_skene_three_classes_and_small_cases():
    rng = np.random.default_rng(7)
    truth = rng.choice(3, size=3000, p=[0.5, 0.3, 0.2])
    confusions = [np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7]]),
                  np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.05, 0.05, 0.9]]),
                  np.array([[0.7, 0.2, 0.1], [0.1, 0.85, 0.05], [0.1, 0.1, 0.8]]),
                  np.array([[0.85, 0.1, 0.05], [0.1, 0.75, 0.15], [0.05, 0.15, 0.8]])]
    ratings = np.stack([[rng.choice(3, p=c[t]) for t in truth] for c in confusions], axis=1)
    fit = dawid_skene.dawid_skene(ratings, n_classes=3)
    counts = np.bincount(truth, minlength=3)
    for j, c in enumerate(confusions):
        for k in range(3):
            for label in range(3):
                assert within(fit.confusion[j, k, label], c[k, label], counts[k]), (j, k, label)
    # Unanimous raters: certain posteriors; a rater's missing rating and an unrated item are allowed.
    small = dawid_skene.dawid_skene([[1, 1, 1], [0, 0, None], [0, 0, 0], [None, None, None]])
    assert small.labels()[:3].tolist() == [1, 0, 0] and small.posteriors[0, 1] > 0.99
    assert np.allclose(small.posteriors[3], small.priors) and small.verdicts() == [1, 0, 0, None]
    with pytest.raises(DataError, match="item #1 rater #0: 2"):
        dawid_skene.dawid_skene([[1, 0], [2, 0]])


# ---------------------------------------------------------------- panels

def test_majority_vote_follows_the_jury_tie_rules():
    votes = [[1, 0], [1, 1], [0, None], [None, None], [1, 0, None][:2]]
    assert panel.majority_vote(votes) == [1, 1, 0, None, 1]  # the engine's default tie rule: unsafe
    assert panel.majority_vote(votes, tie="safe") == [0, 1, 0, None, 0]
    assert panel.majority_vote(votes, tie="unjudged") == [None, 1, 0, None, None]
    assert panel.majority_vote([[1, 1, None], [0, None, None]], quorum=2) == [1, None]
    with pytest.raises(ValueError, match="tie"):
        panel.majority_vote(votes, tie="coin")


def test_effective_jurors_hand_case_and_clones():
    # gold all safe; errors a = [1,1,0,0,0,0,0,0], b = [1,0,1,0,0,0,0,0]: means 1/4, E[ab] = 1/8,
    # cov = 1/8 - 1/16 = 1/16, var = 1/4 * 3/4 = 3/16: rho = 1/3; n_eff = 2 / (1 + 1/3) = 1.5
    gold = [0] * 8
    votes = np.array([[1, 1], [1, 0], [0, 1], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0]])
    r = panel.effective_jurors(gold, votes, names=["a", "b"])
    assert r["pairs"] == {"a|b": pytest.approx(1 / 3)} and r["effective_jurors"] == pytest.approx(1.5)

    rng = np.random.default_rng(8)
    gold = labelled(4000, 0.3, rng)
    first = random_juror(gold, 0.9, 0.8, rng)
    clones = np.stack([first, first, random_juror(gold, 0.9, 0.8, rng)], axis=1)
    r = panel.effective_jurors(gold, clones)
    # pairs: 1 (the clone), ~0, ~0: rho_bar ~ 1/3, n_eff ~ 3 / (1 + 2/3) = 1.8
    assert r["pairs"]["juror0|juror1"] == pytest.approx(1.0)
    assert r["effective_jurors"] == pytest.approx(1.8, abs=0.1)


def test_effective_jurors_conditions_on_the_gold_class():
    # Independent jurors that mostly miss unsafe items (Se 0.6, Sp 0.99): their errors correlate over the whole
    # set (~0.29: unsafe items are where both err), but not within a class. They are 3 independent jurors.
    rng = np.random.default_rng(9)
    gold = labelled(4000, 0.3, rng)
    votes = np.stack([random_juror(gold, 0.6, 0.99, rng) for _ in range(3)], axis=1)
    errors = votes != gold[:, None]
    assert np.corrcoef(errors[:, 0], errors[:, 1])[0, 1] > 0.2
    r = panel.effective_jurors(gold, votes)
    assert abs(r["mean_error_correlation"]) < 4 / math.sqrt(4000) and r["effective_jurors"] > 2.8


def test_effective_jurors_undefined_pairs_are_listed():
    gold = [0, 0, 1, 1]
    perfect, other = [0, 0, 1, 1], [1, 0, 0, 1]
    r = panel.effective_jurors(gold, np.array([perfect, other]).T, names=["p", "o"])
    assert r["undefined_pairs"] == ["p|o"] and math.isnan(r["effective_jurors"]) and "no pair" in r["reason"]
    assert panel.effective_jurors(gold, np.array([other]).T)["reason"] == "fewer than two jurors"


def test_cheapest_configuration_within_the_best_kappas_interval():
    table = [{"name": "big-juror", "kappa": 0.80, "low": 0.74, "high": 0.85, "cost": 10},
             {"name": "panel-of-3", "kappa": 0.82, "low": 0.77, "high": 0.87, "cost": 12},
             {"name": "small-juror", "kappa": 0.78, "low": 0.71, "high": 0.84, "cost": 1},
             {"name": "tiny-juror", "kappa": 0.60, "low": 0.52, "high": 0.67, "cost": 0.1},
             {"name": "broken", "kappa": math.nan, "low": math.nan, "high": math.nan, "cost": 0}]
    r = panel.cheapest_within_best(table)
    # best 0.82, lower bound 0.77: small-juror (0.78) and big-juror (0.80) are within; tiny-juror is not
    assert r["best"] == "panel-of-3" and r["threshold"] == 0.77
    assert r["within"] == ["small-juror", "big-juror", "panel-of-3"] and r["cheapest"] == "small-juror"
    assert panel.cheapest_within_best(table[-1:])["cheapest"] is None


# ---------------------------------------------------------------- canary

def test_canary_selection_is_stratified_and_stable():
    rng = np.random.default_rng(10)
    n = 4000
    ids = [f"msts-{i}" for i in range(n)]
    gold = labelled(n, 0.045, rng)
    categories = np.array(["a", "b", "c", "d"])[np.arange(n) % 4]
    chosen = canary.select_canary(ids, gold, categories, seed=1)
    assert len(chosen) == len(set(chosen)) == 100
    position = {i: k for k, i in enumerate(ids)}
    picked = [position[i] for i in chosen]
    assert gold[picked].sum() == 50  # balanced between the classes
    for cls in (0, 1):
        sizes = {c: int(((gold == cls) & (categories == c)).sum()) for c in "abcd"}
        got = {c: int(((gold[picked] == cls) & (categories[picked] == c)).sum()) for c in "abcd"}
        # 50 spread in proportion to the category sizes (largest remainders)
        total = sum(sizes.values())
        assert all(abs(got[c] - 50 * sizes[c] / total) < 1 for c in "abcd") and sum(got.values()) == 50
    unbalanced = [position[i] for i in canary.select_canary(ids, gold, categories, seed=1, balance_labels=False)]
    assert gold[unbalanced].sum() in (4, 5)  # the set's 4.5% of 100
    order = rng.permutation(n)
    shuffled = canary.select_canary([ids[i] for i in order], gold[order], categories[order], seed=1)
    assert shuffled == chosen
    assert set(canary.select_canary(ids, gold, categories, seed=2)) != set(chosen)
    few = labelled(200, 0.1, rng)  # 20 unsafe only: they all go in, the safe class takes the other 80
    assert sum(few[[int(i) for i in canary.select_canary(list(map(str, range(200))), few)]]) == 20
    assert sorted(canary.select_canary(["x", "y"], [0, 1], size=5)) == ["x", "y"]


def test_canary_comparison_counts_flips_and_judges_drift():
    ids = ["a", "b", "c", "d", "e", "f"]
    gold = [1, 1, 1, 0, 0, 0]
    before = [1, 1, 0, 0, 0, None]
    after = [1, 0, 0, 1, None, 0]
    r = canary.compare_verdicts(gold, before, after, ids=ids)
    assert r["flips"] == {"unsafe_to_safe": 1, "safe_to_unsafe": 1, "judged_to_unjudged": 1, "unjudged_to_judged": 1}
    assert r["flipped_ids"]["unsafe_to_safe"] == ["b"] and r["flipped_ids"]["judged_to_unjudged"] == ["e"]
    # before (5 judged): TP 2, FN 1, TN 2: p_o = 4/5, p_e = (3*2 + 2*3)/25 = 12/25, kappa = (20-12)/(25-12) = 8/13
    assert r["kappa_before"] == pytest.approx(8 / 13)

    rng = np.random.default_rng(11)
    gold = labelled(100, 0.5, rng)
    stored = exact_juror(gold, 0.9, 0.9, rng)
    same = canary.compare_verdicts(gold, stored, stored)
    assert same["verdict"] == "stable" and same["change"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    coin = canary.compare_verdicts(gold, stored, (rng.random(100) < 0.5).astype(int))
    assert coin["verdict"] == "drifted" and coin["change"]["high"] < -0.1
    slightly = stored.copy()
    slightly[:4] = 1 - slightly[:4]  # 4 flips out of 100: too few to tell at +-0.1
    assert canary.compare_verdicts(gold, stored, slightly)["verdict"] == "inconclusive"
    one_class = canary.compare_verdicts([0, 0], [0, 1], [0, 0])
    assert one_class["verdict"] == "undefined" and "one class" in one_class["reason"]
