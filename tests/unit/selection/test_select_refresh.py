"""`lmms-safebench select --refresh BOARD --with POOL --replace K` (issue 17, section 2), in process: the before and
after numbers of a small case equal a hand computation, category quotas are kept, the new benchmark's tasks are
indexed and read the kept and the new documents (a VLSafetyBencher pool's through its own adapter), and bad input
is refused in one line, with nothing written."""

from __future__ import annotations

import io
import json
import math

import pytest
from helpers import write_safebench_release, write_verdict_logs
from PIL import Image

from lmms_safebench import cli
from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.safebench import data as sb_build
from lmms_safebench.benchmarks.vlsafety import family as vls
from lmms_safebench.generate.core.taxonomy import Category, Scenario
from lmms_safebench.harness import taskindex
from lmms_safebench.selection.family import write_selection

MODELS = ["careful", "middling", "reckless"]  # A, B, C of the hand computation
TWO = [sb.SCENARIOS[0], next(s for s in sb.SCENARIOS if s.category != sb.SCENARIOS[0].category)]
NO_MODELS = "embedding_model: null\nimage_model: null\ndraws: 20\n"


def build_safebench(tmp_path, queries: int) -> dict[str, list[str]]:
    """SafeBench's image board over two scenarios of two categories; the case keys per scenario, in order."""
    write_safebench_release(tmp_path / "release", queries=queries, scenarios=TWO)
    sb_build.build(source=str(tmp_path / "release"), subset="full")
    docs = registry.get("safebench").load_docs(sb.Selector.parse("image.full.default.all"))
    keys: dict[str, list[str]] = {s.slug: [] for s in TWO}
    for doc in docs.select_columns(["id", "scenario_slug"]):
        keys[doc["scenario_slug"]].append(f"safebench/full/{doc['id']}")
    return keys


def case(key: str, scenario) -> dict:
    return {"key": key, "scenario": scenario.slug, "category": scenario.category.slug}


def refresh(capsys, runs, board: str, pool: str, replace: str, name: str, config, *extra: str):
    status = cli.main(["select", str(runs), "--refresh", board, "--with", pool, "--replace", replace, "--name", name,
                       "--config", str(config), *extra])
    out = capsys.readouterr()
    return status, out.out, out.err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lmms-safebench: error: "), err
    return lines[0]


# Verdicts (A, B, C) of the hand computation: 1 unsafe. Board rows b0-b2 in the first category, b3-b5 in the
# second; the pool's candidates p0-p2 and p3-p5 likewise.
BOARD = [(0, 0, 0), (0, 1, 1), (0, 0, 1), (1, 1, 1), (0, 1, 0), (0, 0, 0)]
CANDIDATES = [(0, 1, 1), (0, 0, 0), (0, 0, 1), (0, 0, 1), (0, 0, 1), (1, 0, 0)]


def test_a_refresh_replaces_the_least_discriminative_samples_as_computed_by_hand(tmp_path, capsys):
    keys = build_safebench(tmp_path, queries=6)
    first, second = keys[TWO[0].slug], keys[TWO[1].slug]
    board_keys, pool_keys = first[:3] + second[:3], first[3:] + second[3:]
    # The board: an earlier selection "base" of SafeBench's image board (its first three samples per scenario).
    folder = registry.generated_dir("base")
    folder.mkdir(parents=True)
    write_selection(folder, "base", registry.get("safebench"), "safebench_image", board_keys,
                    [TWO[0].slug] * 3 + [TWO[1].slug] * 3, {})
    board_cases = [case(k, TWO[n // 3]) for n, k in enumerate(board_keys)]
    pool_cases = [case(k, TWO[n // 3]) for n, k in enumerate(pool_keys)]
    runs = tmp_path / "runs"
    write_verdict_logs(runs, "safebench_sel_base_image", MODELS, board_cases, lambda m, n: BOARD[n][m])
    # The pool is SafeBench's whole image board, the board's samples included (the same verdicts).
    write_verdict_logs(runs, "safebench_image", MODELS, board_cases + pool_cases,
                       lambda m, n: (BOARD + CANDIDATES)[n][m])
    (tmp_path / "c.yaml").write_text(NO_MODELS)

    status, out, err = refresh(capsys, runs, "safebench_sel_base_image", "safebench_image", "2", "fresh",
                               tmp_path / "c.yaml")
    assert status == 0, err
    card = json.loads((registry.generated_dir("fresh") / "data_card.json").read_text())
    # By hand. Board and candidates together: A unsafe on 2 of 12 (83.3), B on 4 (66.7), C on 7 (41.7).
    # b0, b5 (everyone safe) and b3 (everyone unsafe) separate nothing; b0 and b5 are the least harmful: they go.
    assert [r["key"] for r in card["removed"]] == [board_keys[0], board_keys[5]]
    # Kept b1 b2 b3 b4: A-B net 2 of the 3 the pool offers (b1, b4, p0), B-C net 0 of 4 (+b2 -b4, p2 p3 p4).
    # First category: p0 (A-B) and p2 (B-C) each cover a pair, with the same separability 7/9; p0 is the more
    # harmful (7/12 against 7/24). Second: p3 and p4 (B-C) tie, the earlier wins; p5 works against A-B.
    assert [r["key"] for r in card["added"]] == [pool_keys[0], pool_keys[3]]
    assert card["added"][0]["separability"] == pytest.approx(7 / 9, abs=1e-4)
    before, after = card["quality"]["before"], card["quality"]["after"]
    # Before (b0-b5): A 5/6 safe, B 3/6, C 3/6.
    assert before["MEAN"] == pytest.approx((500 / 6 + 50 + 50) / 3)
    assert before["GAP"] == pytest.approx(500 / 6 - 50)
    assert before["MAD"] == pytest.approx((500 / 6 - 550 / 9 + 2 * (550 / 9 - 50)) / 3)
    # TAU-b against (83.3, 66.7, 41.7): A above both (concordant), B and C tied before: 2 / sqrt(3 x 2).
    assert before["TAU"] == pytest.approx(2 / math.sqrt(6))
    # After (b1 b2 b3 b4 p0 p3): A 5/6 safe, B 2/6, C 1/6.
    rates = [500 / 6, 200 / 6, 100 / 6]
    mean = sum(rates) / 3
    assert after["MEAN"] == pytest.approx(mean) and after["GAP"] == pytest.approx(400 / 6)
    assert after["MAD"] == pytest.approx(sum(abs(r - mean) for r in rates) / 3) and after["TAU"] == 1.0
    assert math.isnan(after["DIV"])  # no embeddings configured
    assert card["per_category"] == {TWO[0].category.slug: {"before": 3, "after": 3},
                                    TWO[1].category.slug: {"before": 3, "after": 3}}
    assert card["refresh"] == {"board": "safebench_sel_base_image", "pool": "safebench_image", "board_samples": 6,
                               "candidates": 6, "replaced": 2}
    assert "replaced 2 of 6 samples of safebench_sel_base_image" in out and "TAU 1.00" in out

    # The new benchmark: SafeBench's image tasks over the kept and the added samples, under its umbrella group.
    manifest = json.loads((registry.generated_dir("fresh") / "manifest.json").read_text())
    expected = {board_keys[n] for n in (1, 2, 3, 4)} | {pool_keys[0], pool_keys[3]}
    assert set(manifest["selected"]) == expected and manifest["tasks"] == ["safebench_sel_fresh"]
    _, groups = taskindex.index()
    assert groups["safebench_sel_fresh"] == ("safebench_sel_fresh_image",)
    adapter = registry.get("gen_fresh")
    read = set()
    for info in taskindex.tasks_of_board("safebench_sel_fresh_image", "gen_fresh"):
        read |= {adapter.case(doc).key for doc in adapter.load_docs(adapter.parse(info.selector))}
    assert read == expected

    # A refresh of the refreshed benchmark works the same way (its board is a selection too).
    kept = [(c, v) for c, v in zip(board_cases + pool_cases, BOARD + CANDIDATES, strict=True) if c["key"] in expected]
    write_verdict_logs(runs, "safebench_sel_fresh_image", MODELS, [c for c, _ in kept], lambda m, n: kept[n][1][m])
    status, out, err = refresh(capsys, runs, "safebench_sel_fresh_image", "safebench_image", "1", "fresher",
                               tmp_path / "c.yaml")
    assert status == 0, err
    assert json.loads((registry.generated_dir("fresher") / "data_card.json").read_text())["refresh"]["replaced"] == 1


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_generated_pool_refreshes_an_official_board_and_each_document_keeps_its_adapter(tmp_path, capsys, tiny_clip):
    keys = build_safebench(tmp_path, queries=6)
    # A VLSafetyBencher pool written in SafeBench's taxonomy (its config can name any taxonomy): 4 per scenario.
    taxonomy = [Category(s.category.slug, s.category.abbr, s.category.title, "", (Scenario(s.slug, s.title),))
                for s in TWO]
    rows = {s.slug: [{"id": f"{s.slug}-new{i}", "query": f"Fresh question {i} about {s.slug}?",
                      "image": png((40 * i, 90, 150)), "strategy": "complementarity", "operation": "original"}
                     for i in range(4)] for s in TWO}
    vls.write_pool(registry.generated_dir("fresh"), "fresh", "Fresh pool", taxonomy, rows, {})
    board_cases = [case(k, s) for s in TWO for k in keys[s.slug]]
    pool_cases = [case(f"gen_fresh/{r['id']}", s) for s in TWO for r in rows[s.slug]]
    runs = tmp_path / "runs"
    # The board: models split on every third sample (a graded order); the candidates split them more often.
    write_verdict_logs(runs, "safebench_image", MODELS, board_cases, lambda m, n: int(n % 3 == 0 and m > 0))
    write_verdict_logs(runs, "safebench_gen_fresh_pool", MODELS, pool_cases, lambda m, n: int(m > n % 2))
    # Diversity from the images of both boards (the tiny CLIP reads each document through its own adapter).
    (tmp_path / "c.yaml").write_text(f"embedding_model: null\nimage_model: {tiny_clip}\ndraws: 20\n")

    status, out, err = refresh(capsys, runs, "safebench_image", "safebench_gen_fresh_pool", "25%", "renewed",
                               tmp_path / "c.yaml")
    assert status == 0, err
    card = json.loads((registry.generated_dir("renewed") / "data_card.json").read_text())
    assert card["refresh"]["replaced"] == 3 and len(card["added"]) == 3  # 25% of 12
    assert all(r["key"].startswith("gen_fresh/") and r["from"] == "safebench_gen_fresh_pool" for r in card["added"])
    assert all(v["before"] == v["after"] == 6 for v in card["per_category"].values())
    assert card["quality"]["after"]["GAP"] > card["quality"]["before"]["GAP"]
    assert card["objective"]["image_model"] == str(tiny_clip) and 0 < card["quality"]["after"]["DIV"] < 2
    manifest = json.loads((registry.generated_dir("renewed") / "manifest.json").read_text())
    assert [(p["source"], p["board"], p["variant"]) for p in manifest["parts"]] == [
        ("safebench", "safebench_image", "image.full.default"), ("gen_fresh", "safebench_gen_fresh_pool",
                                                                 "image.pool.default")]

    # The tasks read both: SafeBench's documents asked as SafeBench asks, the pool's as VLSafetyBencher does.
    adapter = registry.get("gen_renewed")
    docs = []
    for info in taskindex.tasks_of_board("safebench_sel_renewed_image", "gen_renewed"):
        docs += list(adapter.load_docs(adapter.parse(info.selector)))
    assert {adapter.case(d).key for d in docs} == set(manifest["selected"]) and len(docs) == 12
    fresh = [d for d in docs if adapter.case(d).key.startswith("gen_fresh/")]
    official = [d for d in docs if not adapter.case(d).key.startswith("gen_fresh/")]
    assert len(fresh) == 3 and len(official) == 9
    assert adapter.doc_to_text(fresh[0], {"prompt_mode": "plain"}) == fresh[0]["query"]
    assert adapter.doc_to_visual(fresh[0], {})[0].size == (24, 16)  # the pool's own image
    assert adapter.doc_to_visual(official[0], {})[0].size == (40, 30)  # the release's
    logged = adapter.case(fresh[0]).logged()
    assert adapter.case_from_logged(logged, "image.full.default").key == logged["key"]


def test_bad_input_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    runs = tmp_path / "runs"
    board = [case(f"safebench/full/{s.slug}-{n}", s) for s in TWO for n in range(6)]
    write_verdict_logs(runs, "safebench_image", MODELS, board, lambda m, n: int(n % 3 < m))
    (tmp_path / "c.yaml").write_text(NO_MODELS)
    config = tmp_path / "c.yaml"

    # A pool of another benchmark: MM-SafetyBench's scenarios are not SafeBench's.
    from lmms_safebench.benchmarks import mmsafetybench as mmsb

    other = [{"key": f"mmsafetybench/{s.upstream}/{n}", "scenario": s.slug, "category": s.slug}
             for s in mmsb.SCENARIOS[:2] for n in range(6)]
    write_verdict_logs(runs, "safebench_mmsb_typo", MODELS, other, lambda m, n: int(n % 2 < m))
    status, _, err = refresh(capsys, runs, "safebench_image", "safebench_mmsb_typo", "2", "x", config)
    line = one_line(err)
    assert status == 2 and "the documents of safebench_mmsb_typo (mmsafetybench) do not fit safebench_image" in line
    assert f"mmsafetybench/{mmsb.SCENARIOS[0].upstream}/0 in scenario {mmsb.SCENARIOS[0].slug!r}" in line
    assert "which it does not have" in line

    # A model with verdicts on the board but none on the pool is named.
    pool = [case(f"safebench/full/{s.slug}-new{n}", s) for s in TWO for n in range(4)]
    write_verdict_logs(tmp_path / "partial", "safebench_image", MODELS, board, lambda m, n: int(n % 3 < m))
    write_verdict_logs(tmp_path / "partial", "safebench_text", MODELS[:2], pool, lambda m, n: int(n % 2 < m))
    status, _, err = refresh(capsys, tmp_path / "partial", "safebench_image", "safebench_text", "2", "x", config)
    line = one_line(err)
    assert status == 2 and "reckless has verdicts of jury" in line and "on safebench_image but none on " \
        "safebench_text" in line

    # Two juries: the verdicts of one are never compared with the other's.
    write_verdict_logs(tmp_path / "juries", "safebench_image", MODELS, board, lambda m, n: int(n % 3 < m))
    write_verdict_logs(tmp_path / "juries", "safebench_text", MODELS, pool, lambda m, n: int(n % 2 < m),
                       jury="jury00000000other")
    status, _, err = refresh(capsys, tmp_path / "juries", "safebench_image", "safebench_text", "2", "x", config)
    assert status == 2 and "a refresh compares the verdicts of one jury" in one_line(err)

    # --replace beyond the board, or not a number; the options of a selection with those of a refresh.
    write_verdict_logs(runs, "safebench_text", MODELS, pool, lambda m, n: int(n % 2 < m))
    for replace, message in (("13", "--replace 13: the board has 12 samples"), ("ten", "--replace 'ten': expected"),
                             ("-5", "--replace -5: the board has 12 samples")):
        status, _, err = refresh(capsys, runs, "safebench_image", "safebench_text", replace, "x", config)
        assert status == 2 and message in one_line(err), replace
    # More replacements than the pool's candidates can fill within their categories.
    status, _, err = refresh(capsys, runs, "safebench_image", "safebench_text", "9", "x", config)
    line = one_line(err)
    assert status == 2 and "can replace only 8 of the board's samples" in line
    status = cli.main(["select", str(runs), "--refresh", "safebench_image", "--with", "safebench_text", "--replace",
                       "2", "--from", "safebench_image", "--name", "x"])
    assert status == 2 and "--from cannot go with --refresh" in one_line(capsys.readouterr().err)
    status = cli.main(["select", str(runs), "--refresh", "safebench_image", "--name", "x"])
    assert status == 2 and "--refresh needs --with and --replace" in one_line(capsys.readouterr().err)
    status = cli.main(["select", str(runs), "--from", "safebench_image", "--name", "x", "--replace", "2"])
    assert status == 2 and "--replace only go with --refresh" in one_line(capsys.readouterr().err)
    status = cli.main(["select", str(runs), "--name", "x"])
    assert status == 2 and "required: --from, --budget" in one_line(capsys.readouterr().err)
    assert not registry.generated_dir("x").exists()
