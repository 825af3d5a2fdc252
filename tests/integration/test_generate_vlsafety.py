"""VLSafetyBencher: `lmms-safebench generate vlsafety` on a synthetic image pool (exact and near duplicates, tiny and
corrupt files, captions), a tiny random-weight CLIP loaded by path through the real pipeline, and loopback
stand-ins for the writer, the VLM verifier and the text-only checker, scripted by recognising the agents' prompts.

End to end: the agents (killed in three different agents and resumed, with no finished call made twice) ->
`lmms-eval --tasks safebench_gen_<name>_pool` -> judged logs of several reference models -> `select --from
safebench_gen_<name>_pool --name <name>` -> `lmms-eval --tasks safebench_gen_<name>` on the final set, whose verdicts
come from the jury cache. Bad input is named."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from loopback import user_text
from PIL import Image
from vlsafety_gen import (
    NAME,
    RED,
    make_pool,
    pattern,
    write_config,
)

from lmms_safebench.benchmarks import registry
from lmms_safebench.cli import main as cli
from lmms_safebench.generate.vlsafety import augment
from lmms_safebench.paths import data_dir

# ----------------------------------------------------------------------------------- a synthetic image pool


def test_the_synthetic_pool_has_the_duplicates_it_claims(tmp_path):
    import imagehash

    make_pool(tmp_path / "pool")

    def ph(name):
        return imagehash.phash(Image.open(tmp_path / "pool" / name).convert("RGB"))

    distinct = [ph(f"p{n}.png") for n in range(8)]
    assert min(a - b for i, a in enumerate(distinct) for b in distinct[i + 1:]) > 10
    assert ph("p0_copy.png") - distinct[0] == 0 and ph("p1_near.jpg") - distinct[1] <= 4


# ----------------------------------------------------------------------------------- scripted stand-ins


# ----------------------------------------------------------------------------------- end to end


# ----------------------------------------------------------------------------------- details

def test_image_operations():
    from lmms_safebench.generate.core.config import parse
    from lmms_safebench.generate.vlsafety.config import AugmentationSpec

    spec = parse({"crop_fraction": 0.5, "resize_factor": 0.25, "jpeg_quality": 10, "noise_sigma": 20}, AugmentationSpec)
    image = pattern(3, size=200)
    out = {op: augment.transform(image, op, "burn it down", spec, seed=7) for op in
           ("typography", "strip", "crop", "resize", "jpeg", "noise")}
    assert out["crop"][0].size == (100, 100) and out["resize"][0].size == (50, 50)
    box = out["crop"][1]["box"]
    assert out["crop"][0].tobytes() == image.crop(box).tobytes()
    assert augment.transform(image, "crop", "", spec, seed=7)[1] == out["crop"][1]  # seeded
    jpeg = Image.open(io.BytesIO(out["jpeg"][0]))
    assert jpeg.format == "JPEG" and jpeg.size == image.size
    noisy = np.asarray(out["noise"][0], dtype=float)
    assert out["noise"][0].size == image.size and 5 < np.abs(noisy - np.asarray(image, dtype=float)).mean() < 30
    typo = np.asarray(out["typography"][0])
    assert out["typography"][0].size == image.size and (typo[-5:] == 255).all()  # a white band at the bottom
    assert (typo[-40:] == 0).any() and (np.asarray(image)[:100] == typo[:100]).all()  # black text; the top untouched
    strip = out["strip"][0]
    assert strip.width == 200 and strip.height > 200 and strip.crop((0, 0, 200, 200)).tobytes() == image.tobytes()
    with pytest.raises(ValueError, match="unknown image operation"):
        augment.transform(image, "blur", "", spec, seed=0)

def test_clip_threshold_counts_and_a_new_threshold_needs_no_new_pass(tmp_path, tiny_clip, agents, capsys):
    script, servers = agents
    make_pool(tmp_path / "images")
    config = write_config(tmp_path / "a.yaml", tiny_clip, servers, generation={"pairs_per_image": 1},
                          augmentation={"variants_per_sample": 0})
    base = ["generate", "vlsafety", "--images", str(tmp_path / "images"), "--name", "clipped", "--no-progress"]
    assert cli([*base[:2], str(config), *base[2:]]) == 0
    folder = data_dir() / "generated" / "clipped"
    scores = [json.loads(line)["scores"] for line in (folder / "work" / "clip.jsonl").read_text().splitlines()]
    assert len(scores) == 7 and all(abs(sum(s.values()) - 1) < 1e-4 and len(s) == 20 for s in scores)
    best = sorted(max(s.values()) for s in scores)
    threshold = (best[2] + best[3]) / 2  # three images fall below it
    clip_rows = len(scores)
    config = write_config(tmp_path / "b.yaml", tiny_clip, servers, generation={"pairs_per_image": 1},
                          augmentation={"variants_per_sample": 0}, thresholds={"clip_confidence": threshold},
                          clip={"benign_prompts": []})
    verified = script.counts["verify"]
    assert cli([*base[:2], str(config), *base[2:]]) == 0
    card = json.loads((folder / "data_card.json").read_text())
    assert card["preprocessing"]["clip_low_confidence"] == 3
    assert len((folder / "work" / "clip.jsonl").read_text().splitlines()) == clip_rows  # no new CLIP pass
    assert script.counts["verify"] == verified  # the images still proposed were verified already
    assert card["thresholds"]["clip_confidence"] == threshold
    capsys.readouterr()


def test_an_endpoint_outage_is_named_and_retried_by_the_next_run(tmp_path, tiny_clip, agents, capsys):
    script, servers = agents
    make_pool(tmp_path / "images")
    config = write_config(tmp_path / "o.yaml", tiny_clip, servers, vlm={"max_attempts": 1},
                          generation={"pairs_per_image": 1}, augmentation={"variants_per_sample": 0})
    command = ["generate", "vlsafety", str(config), "--images", str(tmp_path / "images"), "--name", "outage",
               "--no-progress"]
    folder = data_dir() / "generated" / "outage"
    script.failing = {RED}
    assert cli(command) == 1  # written, without the image whose verification failed
    out = capsys.readouterr().out
    assert re.search(r"FAILED verify img-[0-9a-f]+@[a-z_]+: RuntimeError: the VLM call failed", out)
    assert "run the same command again to retry them" in out
    card = json.loads((folder / "data_card.json").read_text())
    assert card["preprocessing"]["failed"] == 1 and card["preprocessing"]["kept"] == 4
    assert [p["stage"] for p in card["problems"]] == ["verify"] and "self_harm" not in card["kept_images_by_subcategory"]
    assert json.loads((folder / "manifest.json").read_text())["problems"] == card["problems"]
    script.failing = set()
    script.run += 1
    assert cli(command) == 0
    card = json.loads((folder / "data_card.json").read_text())
    assert card["preprocessing"]["kept"] == 5 and card["problems"] == [] and card["kept_images_by_subcategory"]["self_harm"] == 1
    assert script.repeats == []
    capsys.readouterr()


def test_a_taxonomy_of_ones_own(tmp_path, tiny_clip, agents, capsys):
    import yaml

    script, servers = agents
    make_pool(tmp_path / "images")
    taxonomy = {"categories": [
        {"slug": "finance", "abbr": "FI", "title": "Finance", "description": "money crimes", "subcategories": [
            {"slug": "scams", "title": "Scams", "description": "tricks", "clip_prompt": "a photo of a scam"},
            {"slug": "weapons", "title": "Weapons", "description": "arms", "clip_prompt": "a photo of a weapon"}]},
        {"slug": "health_risk", "abbr": "HR", "title": "Health", "subcategories": [
            {"slug": "self_harm", "title": "Self-harm", "description": "d", "clip_prompt": "a photo of pills"},
            {"slug": "propaganda", "title": "Propaganda", "description": "d", "clip_prompt": "a poster"}]}]}
    (tmp_path / "tax.yaml").write_text(yaml.safe_dump(taxonomy))
    config = write_config(tmp_path / "t.yaml", tiny_clip, servers, taxonomy="tax.yaml",
                          generation={"pairs_per_image": 1}, augmentation={"variants_per_sample": 0})
    command = ["generate", "vlsafety", str(config), "--images", str(tmp_path / "images"), "--name", "own",
               "--no-progress"]
    assert cli(command) == 0
    manifest = json.loads((data_dir() / "generated" / "own" / "manifest.json").read_text())
    assert [c["slug"] for c in manifest["taxonomy"]["categories"]] == ["finance", "health_risk"]
    assert set(manifest["scenarios"]) <= {"scams", "weapons", "self_harm", "propaganda"}
    assert any("(1) finance: money crimes" in json.dumps(registry.get("gen_own").case(
        {"scenario_slug": s, "id": "x", "query": "q", "set": "pool"}).criterion.text) for s in manifest["scenarios"])
    verify = next(b for b in servers["vlm"].requests)
    assert "- scams: Scams (Finance): tricks" in user_text(verify)
    taxonomy["categories"][1]["subcategories"][1]["clip_prompt"] = "a photo of pills"
    (tmp_path / "tax.yaml").write_text(yaml.safe_dump(taxonomy))
    assert cli(command) == 2
    assert "clip_prompt 'a photo of pills' appears twice" in capsys.readouterr().err


def test_bad_input_is_named(tmp_path, tiny_clip, agents, capsys):
    import datasets

    script, servers = agents
    make_pool(tmp_path / "images")
    config = write_config(tmp_path / "c.yaml", tiny_clip, servers, thresholds={"min_width": 5000})
    # Every image filtered out: the error says which filter removed what; nothing is called.
    assert cli(["generate", "vlsafety", str(config), "--images", str(tmp_path / "images"), "--name", "empty",
                "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "the pool is empty after preprocessing" in err and "unreadable (full decode failed): 2" in err
    assert "too small (< 5000x64): 11" in err and not script.counts

    # A parquet file without the configured image column.
    datasets.Dataset.from_dict({"picture": [b"x"], "text": ["t"]}).to_parquet(str(tmp_path / "bad.parquet"))
    assert cli(["generate", "vlsafety", str(config), "--images", str(tmp_path / "bad.parquet"), "--name", "bad",
                "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no image column 'image' (columns: picture, text)" in err and "source.image_column" in err
    assert not (data_dir() / "generated" / "bad").exists()  # nothing was created
    assert cli(["generate", "vlsafety", str(config), "--images", str(tmp_path / "nowhere"), "--name", "bad",
                "--no-progress"]) == 2
    assert "no such file or folder" in capsys.readouterr().err

    # A config with an unknown strategy and too many variants per sample: named by field.
    (tmp_path / "wrong.yaml").write_text("llm: {model: a}\nvlm: {model: b}\ngeneration: {strategies: [jailbreak]}\n"
                                         "augmentation: {operations: [crop], variants_per_sample: 2}\n")
    assert cli(["generate", "vlsafety", str(tmp_path / "wrong.yaml"), "--images", str(tmp_path / "images"),
                "--name", "bad", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "generation.strategies.0" in err and "variants_per_sample 2 exceeds" in err


def test_parquet_and_hub_sources_read_images_and_texts(tmp_path):
    import datasets

    from lmms_safebench.generate.core.config import parse
    from lmms_safebench.generate.vlsafety.config import SourceSpec
    from lmms_safebench.generate.vlsafety.source import open_source

    make_pool(tmp_path / "images")
    png, png1 = ((tmp_path / "images" / f"p{n}.png").read_bytes() for n in (0, 1))
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string"),
                                  "extra": datasets.Value("int32")})
    table = datasets.Dataset.from_dict({"image": [{"bytes": png, "path": None}, {"bytes": png1, "path": None}],
                                        "caption": ["first", None], "extra": [1, 2]}, features=features)
    hub = tmp_path / "hub_copy" / "data"
    hub.mkdir(parents=True)
    table.to_parquet(str(tmp_path / "images" / "table.parquet"))
    table.to_parquet(str(hub / "train-00000-of-00001.parquet"))
    source = open_source(str(tmp_path / "images" / "table.parquet"), parse({}, SourceSpec))
    assert source.kind == "parquet" and source.image_column == "image" and source.text_column == "caption"
    assert [i.text for i in source.items] == ["first", None]
    assert source.items[0].read() == png and source.items[1].read() == png1
    hub_source = open_source(f"hub:{tmp_path / 'hub_copy'}", parse({"text_column": None}, SourceSpec))
    assert hub_source.kind == "hub" and hub_source.text_column is None and hub_source.items[0].read() == png
    untexted = open_source(str(tmp_path / "images" / "table.parquet"), parse({"text_column": None}, SourceSpec))
    # Rows and their content, not the file they are in, name the items; a text is part of an item too.
    assert [i.id for i in hub_source.items] == [i.id for i in untexted.items] != [i.id for i in source.items]
    # Paths relative to the parquet file, in a column named in the config.
    datasets.Dataset.from_dict({"file": ["p1.png", "missing.png"]}).to_parquet(str(tmp_path / "images" / "paths.parquet"))
    paths = open_source(str(tmp_path / "images" / "paths.parquet"), parse({"image_column": "file"}, SourceSpec))
    assert paths.items[0].read() == png1 and paths.text_column is None
    assert len(paths.items) == 1 and [(p.where, p.field, p.left_out) for p in paths.problems] == [("row 1", "file", True)]
    assert "cannot be read (No such file or directory)" in paths.problems[0].what
    folder = open_source(str(tmp_path / "images"), parse({"max_images": 3}, SourceSpec))
    assert [i.origin for i in folder.items] == ["broken.jpg", "fake.png", "p0.png"]
    with pytest.raises(Exception, match="no text column 'title'"):
        open_source(str(tmp_path / "images" / "table.parquet"), parse({"text_column": "title"}, SourceSpec))
    assert registry.check_name(NAME) == NAME


def test_category_and_subcategory_slugs_share_one_namespace():
    from lmms_safebench.generate.vlsafety.config import TaxonomySpec

    sub = {"slug": "bias", "title": "Bias", "description": "d", "clip_prompt": "a photo of bias"}
    with pytest.raises(ValueError, match="'bias' appears twice"):  # both would be named safebench_gen_x_pool_bias
        TaxonomySpec.model_validate({"categories": [{"slug": "bias", "abbr": "BI", "title": "Bias",
                                                     "subcategories": [sub]}]})
