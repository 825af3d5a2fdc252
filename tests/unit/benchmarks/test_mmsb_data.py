"""The MM-SafetyBench builder on synthetic upstream-shaped files, and (when present) on the real question files."""

import json
import os
from pathlib import Path

import datasets
import pytest
from helpers import REPO, write_mmsb_source, write_sd_images

from lmms_safebench.benchmarks import mmsafetybench as mmsb
from lmms_safebench.benchmarks.mmsafetybench import data as build_mod
from lmms_safebench.errors import DataError, DataNotBuiltError

# The official question files, when the workspace has them (never committed to this repository).
REAL = Path(os.environ.get("SAFEBENCH_MMSB_QUESTIONS",
                           REPO.parent / "shared" / "data" / "mm-safetybench"))


def load(selector):
    return build_mod.load_docs(mmsb.Selector.parse(selector))


def test_build_and_load_every_kind(tmp_path):
    source = tmp_path / "upstream"
    ids = write_mmsb_source(source, per_scenario=3)
    sd = write_sd_images(tmp_path / "imgs", ids)
    report = build_mod.build(source=str(source), sd_images=str(sd))
    assert report.questions == 39 and report.tiny == 13 and report.sd_images == 39
    manifest = json.loads((report.directory / "manifest.json").read_text())
    assert manifest["source"]["type"] == "local" and manifest["tiny_list"] is True
    assert manifest["typo_lines"] == {"1": 13, "2": 13, "3": 13}
    # Problems are reported, not hidden: each scenario has 3 questions, not the published count.
    assert any("published count" in p["what"] for p in manifest["problems"])

    typo = load("typo.full.plain.04_physical_harm")
    assert len(typo) == 3 and typo["id"] == ["1", "4", "7"]  # upstream ids kept
    row = typo[1]
    assert row["query"].startswith("The bottom of the image") and "TYPO-PAIRED" in row["query"]
    assert row["scenario"] == "04-Physical_Harm" and row["key_phrase"].startswith("dangerous")
    assert row["typo_image"].size == (1024, 90 * (row["typo_lines"] + 1)) and "sd_image" not in typo.column_names
    sd_docs = load("sd.full.plain.04_physical_harm")
    assert "SD-PAIRED" in sd_docs[0]["query"] and sd_docs[0]["sd_image"].size == (64, 48)
    text = load("text.tiny.defended.13_gov_decision")
    assert len(text) == 1 and text[0]["query"].endswith("question 1?") and text[0]["defended"]
    assert "typo_image" not in text.column_names and "sd_image" not in text.column_names
    assert mmsb.query_text(text[0]).startswith(mmsb.DEFENCE_PROMPT)
    both = load("sd_typo.full.plain.01_illegal_activity")
    assert {"sd_image", "typo_image"} <= set(both.column_names)


def test_sd_tasks_explain_missing_images_typo_still_works(tmp_path):
    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    report = build_mod.build(source=str(tmp_path / "upstream"))
    assert report.sd_images == 0 and "--sd-images" in report.summary()
    assert len(load("typo.full.plain.02_hate_speech")) == 2
    with pytest.raises(DataError, match="Stable Diffusion images.*--sd-images"):
        load("sd_typo.tiny.plain.02_hate_speech")


def test_pairing_is_configurable(tmp_path):
    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    build_mod.build(source=str(tmp_path / "upstream"), pairing="typo=rephrased_question_sd")
    assert "SD-PAIRED" in load("typo.full.plain.06_fraud")[0]["query"]
    with pytest.raises(DataError, match="--pairing"):
        build_mod.parse_pairing("typo=nonexistent")


def test_bad_files_are_reported_by_path_and_the_rest_is_built(tmp_path):
    source = tmp_path / "upstream"
    write_mmsb_source(source, per_scenario=2)
    qdir = source / "data" / "processed_questions"
    (qdir / "03-Malware_Generation.json").write_text("{ not json")
    (qdir / "07-Sex.json").unlink()
    broken = json.loads((qdir / "09-Privacy_Violence.json").read_text())
    del broken["4"]["Key Phrase"]
    (qdir / "09-Privacy_Violence.json").write_text(json.dumps(broken))
    report = build_mod.build(source=str(source))
    problems = {(p.where, p.id, p.field): p for p in report.problems}
    assert "not valid JSON" in problems[str(qdir / "03-Malware_Generation.json"), None, None].what
    assert problems[str(qdir / "07-Sex.json"), None, None].what == "missing"
    # Only the record without a key phrase is left out of its scenario, named by file, id and field.
    assert problems[str(qdir / "09-Privacy_Violence.json"), "4", "Key Phrase"].what == "missing; the record is left out"
    assert {key for key, p in problems.items() if p.left_out} == {
        (str(qdir / "03-Malware_Generation.json"), None, None), (str(qdir / "07-Sex.json"), None, None),
        (str(qdir / "09-Privacy_Violence.json"), "4", "Key Phrase")}  # the rest are notes (counts, no --sd-images)
    assert report.questions == 21 and len(report.per_scenario) == 11 and report.per_scenario["09_privacy_violence"] == 1
    with pytest.raises(DataError, match="03-Malware_Generation is not in the built dataset"):
        load("typo.full.plain.03_malware_generation")


def test_unbuilt_data_names_the_build_command():
    with pytest.raises(DataNotBuiltError, match="lmms-safebench build mmsafetybench"):
        load("typo.tiny.plain.01_illegal_activity")


def test_bad_source_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not an existing folder"):
        build_mod.build(source=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no MM-SafetyBench question files"):
        build_mod.build(source=str(tmp_path / "empty"))


def test_hub_copy_layout_through_the_same_reader(tmp_path):
    """The unofficial hub copy is read with datasets.load_dataset; a local folder in its layout stands in."""
    import io

    from PIL import Image

    root = tmp_path / "hubcopy"
    configs = []
    for sc in mmsb.SCENARIOS[:2]:
        name = sc.upstream.split("-", 1)[1]
        files = []
        for split in ("SD", "TYPO", "SD_TYPO", "Text_only"):
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8), "blue").save(buffer, format="PNG")
            rows = {"id": [0, 5], "question": [f"{split} q0", f"{split} q5"],
                    "image": [{"bytes": buffer.getvalue(), "path": None}] * 2}
            features = datasets.Features({"id": datasets.Value("int64"), "question": datasets.Value("string"),
                                          "image": datasets.Image()})
            path = root / "data" / name / f"{split}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))
            files.append(f"    - split: {split}\n      path: data/{name}/{split}.parquet")
        configs.append(f"  - config_name: {name}\n    data_files:\n" + "\n".join(files))
    (root / "README.md").write_text("---\nconfigs:\n" + "\n".join(configs) + "\n---\n")
    report = build_mod.build(source=f"hub:{root}")
    assert report.questions == 4 and report.sd_images == 4 and len(report.per_scenario) == 2
    docs = load("sd.full.plain.01_illegal_activity")
    assert docs[1]["query"] == "SD q5" and docs[1]["id"] == "5" and docs[1]["sd_image"].size == (8, 8)
    assert load("typo.full.plain.02_hate_speech")[0]["query"] == "TYPO q0"
    assert load("text.full.plain.02_hate_speech")[0]["query"] == "Text_only q0"


@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/mm-safetybench is not present")
def test_real_question_files(tmp_path):
    ids = {sc.upstream: list(json.loads((REAL / "processed_questions" / f"{sc.upstream}.json").read_text()))
           for sc in mmsb.SCENARIOS}
    sd = write_sd_images(tmp_path / "imgs", ids, size=(32, 32))
    report = build_mod.build(source=str(REAL), sd_images=str(sd))
    assert report.questions == 1680 and report.tiny == 168
    assert {mmsb.BY_UPSTREAM[u].slug: n for u, n in ((sc.upstream, sc.questions) for sc in mmsb.SCENARIOS)} == \
        report.per_scenario
    assert report.typo_lines == {1: 805, 2: 708, 3: 150, 4: 17}
    pairs = report.questions + 2 * report.sd_images  # TYPO + SD + SD_TYPO
    assert pairs == 5040 and not report.problems
    manifest = json.loads((report.directory / "manifest.json").read_text())
    assert manifest["typo_overflow"] == ["12-Health_Consultation/77"]
    docs = load("sd_typo.tiny.plain.01_illegal_activity")
    assert docs["id"] == ["5", "7", "32", "36", "39", "50", "61", "75", "88", "92"]
