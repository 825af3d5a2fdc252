"""The selection keeps every distinction the pool makes (issue 17): the coverage term orders all five reference
models (nested and non-nested unsafe sets) where the plain objective splits them in two bands; ties are reported
as ties; a pool whose models agree is refused; DIV in closed form; the lazy greedy picks what the plain one does;
the same through the `select` command (in process), whose data card reports TAU and rank groups."""

import json
import math
import tracemalloc

import numpy as np
import pytest
from helpers import write_verdict_logs

from lmms_safebench import cli
from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.selection import quality, scores
from lmms_safebench.selection.quality import category_quotas

# Safest first; the names are not in that order, so nothing here can pass by sorting names.
MODELS = ["delta", "bravo", "echo", "alpha", "charlie"]
# Each row: the models judged unsafe on a sample (indices into MODELS), and how many such samples.
NESTED = [((), 400), ((4,), 60), ((3, 4), 60), ((2, 3, 4), 200), ((1, 2, 3, 4), 60), ((0, 1, 2, 3, 4), 220)]
NON_NESTED = [((), 350), ((2, 3, 4), 200), ((0, 1, 2, 3, 4), 150), ((1,), 40), ((0,), 20), ((3, 4), 30),
              ((2,), 15), ((4,), 45), ((3,), 10), ((0, 4), 20), ((1, 3), 25), ((1, 2), 15), ((2, 4), 30),
              ((0, 3), 10)]


def verdicts(patterns, seed=0):
    rows = [[float(m in unsafe) for m in range(len(MODELS))] for unsafe, count in patterns for _ in range(count)]
    return np.array(rows)[np.random.default_rng(seed).permutation(len(rows))]


@pytest.mark.parametrize("patterns", [NESTED, NON_NESTED], ids=["nested", "non-nested"])
@pytest.mark.parametrize("with_vectors", [False, True], ids=["no-embeddings", "embeddings"])
def test_coverage_orders_every_model_at_a_tenth_of_the_pool(patterns, with_vectors):
    unsafe = verdicts(patterns)
    n = len(unsafe)
    pool = quality.safety_rates(unsafe)
    assert [MODELS[m] for m in np.argsort(-pool)] == MODELS and len(set(pool)) == 5  # a strict order to keep
    categories = ["a" if i % 3 else "b" for i in range(n)]
    vectors = None
    if with_vectors:
        vectors = np.random.default_rng(1).normal(size=(n, 8))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sep, harm, separation = scores.separability(unsafe), scores.harmfulness(unsafe), scores.separation_matrix(unsafe)
    budget = n // 10

    def chosen(coverage):
        return np.array(sorted(scores.select(sep, harm, vectors, categories, budget, 0.6, 0.2, 0.2,
                                             separation=separation, coverage=coverage)))

    # Without the coverage term, the selection's samples all split the two safest from the three least safe.
    plain = chosen(0.0)
    assert quality.ranking(unsafe, plain, MODELS)["groups"] == [["delta", "bravo"], ["echo", "alpha", "charlie"]]
    assert quality.quality(unsafe, vectors, plain, MODELS, pool)["TAU"] < 0.8

    rows = chosen(scores.COVERAGE)
    assert len(rows) == budget
    assert [sum(1 for r in rows if categories[r] == c) for c in "ab"] == category_quotas(
        [categories.count(c) for c in "ab"], budget)
    picked = quality.quality(unsafe, vectors, rows, MODELS, pool)
    assert picked["TAU"] == 1.0
    # Every neighbouring pair of the pool's order keeps at least the documented minimum of net separating samples.
    assert (separation[rows].sum(axis=0) >= quality.fewest_significant()).all()
    strata = [np.flatnonzero(np.array(categories) == c) for c in "ab"]
    random = quality.random_baseline(unsafe, vectors, budget, MODELS, 30, 0, strata, "proportional", pool)
    assert picked["GAP"] >= random["GAP"]["mean"] + 30 and picked["MAD"] >= random["MAD"]["mean"] + 20
    assert picked["TAU"] >= random["TAU"]["mean"]


def test_coverage_asks_no_more_than_the_pool_offers():
    # bravo is less safe than delta on two samples only: both are needed, and the rest goes to the objective.
    unsafe = verdicts([((), 50), ((1,), 2), ((0, 1, 2, 3, 4), 30), ((2, 3, 4), 30), ((3, 4), 20), ((4,), 20)])
    separation = scores.separation_matrix(unsafe)
    assert separation.shape[1] == 4
    rows = scores.select(scores.separability(unsafe), scores.harmfulness(unsafe), None, ["x"] * len(unsafe), 30,
                         0.6, 0.2, 0.2, separation=separation)
    assert separation[rows, 0].sum() == 2 and (separation[rows].sum(axis=0) >= [2, 6, 6, 6]).all()


def test_ties_are_reported_as_ties_with_intervals():
    # 6 one-way discordant samples: significant (p = 1/32); 5: not (p = 1/16); equal rates always tie.
    assert quality.mcnemar(6, 0) == pytest.approx(1 / 32) and quality.mcnemar(5, 0) == pytest.approx(1 / 16)
    assert quality.mcnemar(10, 3) == pytest.approx(2 * (1 + 13 + 78 + 286) / 2 ** 13)
    assert quality.fewest_significant() == 6 and quality.mcnemar(0, 0) == 1.0
    # delta and bravo differ on 5 samples (tie); bravo and echo on 6, all one way (separate); echo and alpha
    # have equal rates on different samples (tie); charlie has no verdict.
    unsafe = np.array([[0, 1, 1, 1, np.nan]] * 5 + [[0, 0, 1, 0, np.nan]] * 6 + [[0, 0, 0, 1, np.nan]] * 6
                      + [[0, 0, 0, 0, np.nan]] * 3)
    ranked = quality.ranking(unsafe, None, MODELS)
    assert ranked["groups"] == [["delta", "bravo"], ["echo", "alpha"]]
    assert [(p["safer_only"], p["less_safe_only"], p["significant"]) for p in ranked["neighbours"]] == [
        (5, 0, False), (6, 0, True), (6, 6, False)]
    assert ranked["rates"]["delta"]["rate"] == 100.0 and "charlie" not in ranked["rates"]
    low, high = ranked["rates"]["bravo"]["ci95"]  # 15 of 20 safe: Wilson's interval, by hand
    z = quality.Z95
    centre, half = (0.75 + z * z / 40) / (1 + z * z / 20), z * math.sqrt(0.75 * 0.25 / 20 + z * z / 1600) / (1 + z * z / 20)
    assert (low, high) == (pytest.approx(100 * (centre - half)), pytest.approx(100 * (centre + half)))
    assert ranked["rates"]["delta"]["ci95"][1] == 100.0 and ranked["rates"]["delta"]["ci95"][0] < 100.0
    # On rows where everyone is safe, all five... four judged models tie in one group, listed in the order of a
    # reference (their rates on a pool) when one is given, never by name.
    assert quality.ranking(unsafe, np.arange(17, 20), MODELS)["groups"] == [["delta", "bravo", "echo", "alpha"]]
    assert quality.ranking(unsafe, np.arange(17, 20), MODELS, reference=[1, 2, 4, 3, 5])["groups"] == [
        ["echo", "alpha", "bravo", "delta"]]
    # The interval holds its estimate at the ends, exactly (the formula's rounding put 0 a hair outside at n = 3).
    assert all(quality.wilson(0, n)[0] == 0.0 and quality.wilson(n, n)[1] == 100.0 for n in range(1, 200))


def test_kendall_tau_b_with_ties_and_gaps():
    assert quality.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert quality.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # One pair tied in the second: 5 concordant of 6 pairs, 5 untied there -> 5 / sqrt(6 x 5).
    assert quality.kendall_tau([1, 2, 3, 4], [1, 2, 2, 4]) == pytest.approx(5 / math.sqrt(30))
    assert quality.kendall_tau([1, np.nan, 3, 4], [1, 5, 4, 2]) == pytest.approx(1 / 3)  # NaN rows left out
    assert math.isnan(quality.kendall_tau([1, 1, 1], [1, 2, 3]))
    unsafe = verdicts(NESTED)
    random = quality.random_baseline(unsafe, None, 100, MODELS, 20, 0, reference=quality.safety_rates(unsafe))
    assert set(random) == {"MEAN", "GAP", "MAD", "DIV", "TAU"} and -1 <= random["TAU"]["mean"] <= 1


def test_nothing_separates_models_that_agree():
    agree = np.array([[1, 1, 1, 1, 1]] * 40 + [[0, 0, 0, 0, 0]] * 60, dtype=float)
    reason = quality.nothing_separates(agree, MODELS)
    assert "nothing separates the 5 reference models" in reason and "disagree on 0 of the pool's 100" in reason
    few = agree.copy()
    few[:5, 0] = 0  # five disagreements: no two models can differ significantly
    few[10, 1] = np.nan  # a missing verdict is no disagreement
    assert "disagree on 5 of" in quality.nothing_separates(few, MODELS)
    few[5, 0] = 0
    assert quality.disagreements(few) == 6 and quality.nothing_separates(few, MODELS) is None
    assert quality.nothing_separates(few, MODELS, minimum=7) is not None


def test_closed_form_diversity_equals_all_pairs():
    rng = np.random.default_rng(3)

    def all_pairs(block):
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        units = block / np.where(norms > 0, norms, 1)
        sims = units @ units.T
        return 1 - (sims.sum() - np.trace(sims)) / (len(block) * (len(block) - 1))

    for n, d in [(3, 3), (17, 5), (60, 16)]:
        vectors = rng.normal(size=(n, d)) * rng.uniform(0.5, 2, size=(n, 1))  # not unit length
        vectors[0] = 0.0  # a zero row: similarity 0 to everything
        assert quality.diversity(vectors) == pytest.approx(all_pairs(vectors), abs=1e-12)
        rows = rng.choice(n, size=max(2, n // 2), replace=False)
        assert quality.diversity(vectors, rows, chunk=4) == pytest.approx(all_pairs(vectors[rows]), abs=1e-12)
        unit = (vectors[1:] / np.linalg.norm(vectors[1:], axis=1, keepdims=True)).astype(np.float32)
        assert quality.diversity(unit, chunk=3) == pytest.approx(all_pairs(unit.astype(float)), abs=1e-6)
    assert math.isnan(quality.diversity(np.ones((1, 3)))) and math.isnan(quality.diversity(None))


def test_diversity_of_a_large_pool_needs_no_pairwise_matrix():
    # 200,000 rows: all pairs would take 160 GB; the closed form reads the rows a block at a time.
    vectors = np.tile(np.eye(4, dtype=np.float32), (50_000, 1))
    tracemalloc.start()
    value = quality.diversity(vectors)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Four directions, 50,000 each: a pair is similar (distance 0) with probability (50,000 - 1) / (200,000 - 1).
    assert value == pytest.approx(1 - 49_999 / 199_999) and peak < 5_000_000


def plain_greedy(sep, harm, vectors, categories, budget, alpha, beta, gamma, quotas, separation, coverage,
                 start=(), allowed=None, room=None):
    """The objective recomputed for every candidate after every choice (no queue, no increments)."""
    n = len(sep)
    available = np.ones(n, dtype=bool) if allowed is None else allowed.copy()
    available[list(start)] = False
    names = sorted(set(categories))
    target = min(budget, int(available.sum()))
    if room is None:
        sizes = [sum(1 for i in range(n) if available[i] and categories[i] == c) for c in names]
        room = dict(zip(names, category_quotas(sizes, budget, quotas), strict=True))
        spare = target - sum(room.values())
    else:
        room = {c: room.get(c, 0) for c in names}
        target, spare = min(target, sum(room.values())), 0
    need = np.minimum(quality.fewest_significant(), (separation == 1).sum(axis=0))
    net = separation[list(start)].sum(axis=0).astype(float) if len(start) else np.zeros(separation.shape[1])
    nearest, chosen = np.ones(n), []
    for row in start if vectors is not None else ():
        nearest = np.minimum(nearest, 1.0 - vectors @ vectors[row])
    while len(chosen) < target:
        allowed = available & np.array([room[c] > 0 for c in categories])
        if not allowed.any():
            if spare <= 0:
                break
            allowed, spare = available.copy(), spare - 1
        helps = (separation == 1) & (net < need)
        hurts = (separation == -1) & (net <= need) & (need > 0)
        gain = helps.sum(axis=1) - hurts.sum(axis=1)
        pick = int(np.argmax(np.where(allowed, alpha * sep + beta * harm + coverage * gain + gamma * nearest,
                                      -np.inf)))
        chosen.append(pick)
        available[pick] = False
        room[categories[pick]] = max(0, room[categories[pick]] - 1)
        net += separation[pick]
        if vectors is not None:
            nearest = np.minimum(nearest, 1.0 - vectors @ vectors[pick])
    return chosen


def test_the_lazy_greedy_picks_what_the_plain_greedy_picks():
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n, m = int(rng.integers(20, 160)), int(rng.integers(2, 7))
        unsafe = (rng.random((n, m)) < rng.random(m)).astype(float)
        unsafe[rng.random(unsafe.shape) < 0.1] = np.nan
        vectors = rng.normal(size=(n, 6))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        args = (scores.separability(unsafe), scores.harmfulness(unsafe), vectors if seed % 4 else None,
                [f"c{k}" for k in rng.integers(0, 4, n)], int(rng.integers(1, n)), 0.6, 0.2, 0.2,
                ["proportional", "equal"][seed % 2])
        separation = scores.separation_matrix(unsafe)
        coverage = [0.0, 1.0, 0.3][seed % 3]
        assert scores.select(*args, separation=separation, coverage=coverage) == plain_greedy(
            *args, separation, coverage), seed
        # A refresh's call: some rows already in the set, others not allowed, exact room per category.
        start = sorted(rng.choice(n, size=int(rng.integers(0, n // 2)), replace=False).tolist())
        allowed = rng.random(n) < 0.7
        room = {c: int(rng.integers(0, 4)) for c in set(args[3])}
        refresh = dict(separation=separation, coverage=coverage, start=start, allowed=allowed, room=room)
        picked = scores.select(*args, **refresh)
        assert picked == plain_greedy(*args, separation, coverage, start, allowed, room), seed
        assert not set(picked) & set(start) and allowed[picked].all() if picked else True
        assert all(sum(1 for r in picked if args[3][r] == c) <= room[c] for c in room)


# ------------------------------------------------------------------------------------------ through the command

# Two scenarios of two categories: the quotas have something to share out.
TWO = [sb.SCENARIOS[0], next(s for s in sb.SCENARIOS if s.category != sb.SCENARIOS[0].category)]


def board_cases(n: int) -> list[dict]:
    return [{"key": f"safebench/full/{TWO[i % 2].slug}-{i}", "scenario": TWO[i % 2].slug,
             "category": TWO[i % 2].category.slug} for i in range(n)]


def select_in_process(capsys, runs, name: str, budget: int, config: str, board: str = "safebench_image"):
    status = cli.main(["select", str(runs), "--from", board, "--name", name, "--budget", str(budget),
                       "--config", config])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("patterns", [NESTED, NON_NESTED], ids=["nested", "non-nested"])
def test_the_command_orders_every_model_at_a_tenth_and_reports_ties_as_ties(tmp_path, capsys, patterns):
    unsafe = verdicts(patterns)
    cases = board_cases(len(unsafe))
    write_verdict_logs(tmp_path / "runs", "safebench_image", MODELS, cases, lambda m, n: int(unsafe[n, m]))
    settings = "embedding_model: null\nimage_model: null\ndraws: 30\n"
    (tmp_path / "on.yaml").write_text(settings)
    (tmp_path / "off.yaml").write_text(settings + "coverage: 0\n")
    budget = len(unsafe) // 10

    status, out, err = select_in_process(capsys, tmp_path / "runs", "covered", budget, str(tmp_path / "on.yaml"))
    assert status == 0, err
    card = json.loads((registry.generated_dir("covered") / "data_card.json").read_text())
    assert card["objective"]["coverage"] == 1.0 and card["objective"]["minimum per neighbouring pair"] == 6
    chosen, rand = card["quality"]["selected"], card["quality"]["random"]
    assert chosen["TAU"] == 1.0 and card["quality"]["pool"]["TAU"] == 1.0
    assert chosen["GAP"] >= float(rand["GAP"].split(" ± ")[0]) + 30
    assert chosen["MAD"] >= float(rand["MAD"].split(" ± ")[0]) + 20
    # The pool's groups beside the selection's, each model with its rate and interval, and no order made up from
    # the names (they are deliberately not in rate order). Non-nested, echo and alpha tie on the pool: their rates
    # differ (57.3 and 55.7) but not significantly (75 samples one way, 60 the other: p = 0.23).
    pool_groups = card["ranking"]["pool"]["groups"]
    assert pool_groups == ([[m] for m in MODELS] if patterns is NESTED else
                           [["delta"], ["bravo"], ["echo", "alpha"], ["charlie"]])
    assert card["rank_groups"]["pool"][2].startswith("echo 57.3 [") if patterns is NON_NESTED else True
    rates = card["ranking"]["selected"]["rates"]
    assert all(low <= rates[m]["rate"] <= high for m in MODELS for low, high in [rates[m]["ci95"]])
    selected_groups = card["ranking"]["selected"]["groups"]
    assert [m for group in selected_groups for m in group] == MODELS  # the pool's order, whatever the grouping
    if patterns is NESTED:  # no sample works against any pair: 6 one-way samples per pair are significant
        assert selected_groups == pool_groups
    assert len(card["rank_groups"]["selected"]) == len(selected_groups)
    assert "rank groups, safest first" in out and "TAU 1.00" in out
    assert "## Rank groups" in (registry.generated_dir("covered") / "data_card.md").read_text()

    # With the coverage term off (a documented option), the same command splits the five models in two bands.
    status, out, err = select_in_process(capsys, tmp_path / "runs", "uncovered", budget, str(tmp_path / "off.yaml"))
    assert status == 0, err
    card = json.loads((registry.generated_dir("uncovered") / "data_card.json").read_text())
    assert card["quality"]["selected"]["TAU"] < 0.8
    assert card["ranking"]["selected"]["groups"] == [["delta", "bravo"], ["echo", "alpha", "charlie"]]
    # Tied models share a line of the card, joined by "=", each with its own rate and interval.
    assert card["rank_groups"]["selected"][0].startswith("delta ") and " = bravo " in card["rank_groups"]["selected"][0]
    markdown = (registry.generated_dir("uncovered") / "data_card.md").read_text()
    assert "- delta, bravo\n" in markdown and "- echo, alpha, charlie\n" in markdown  # a group on one line


def test_nothing_separates_models_that_agree_and_nothing_is_written(tmp_path, capsys):
    cases = board_cases(60)
    agree = [[n % 2] * 5 for n in range(60)]
    for n in range(5):  # five samples where the safest model alone was safe: too few for any significant difference
        agree[n] = [0, 1, 1, 1, 1]
    write_verdict_logs(tmp_path / "runs", "safebench_image", MODELS, cases, lambda m, n: agree[n][m])
    (tmp_path / "c.yaml").write_text("embedding_model: null\nimage_model: null\ndraws: 20\n")
    status, out, err = select_in_process(capsys, tmp_path / "runs", "flat", 10, str(tmp_path / "c.yaml"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, err
    assert "safebench_image: nothing separates the 5 reference models" in lines[0]
    assert "disagree on 5 of the pool's 60 samples, fewer than 6" in lines[0] and "no selection written" in lines[0]
    assert not registry.generated_dir("flat").exists() and out == ""
    # `minimum` (documented) lowers the bar: five disagreements are then enough to select from.
    (tmp_path / "c.yaml").write_text("embedding_model: null\nimage_model: null\ndraws: 20\nminimum: 5\n")
    status, out, err = select_in_process(capsys, tmp_path / "runs", "flat", 10, str(tmp_path / "c.yaml"))
    assert status == 0, err
