"""The SafeBench builder on a synthetic release in the official layout (folders, archives, split parts)."""

import io
import json

import pytest
import soundfile
from helpers import dominant_frequency, release_archives, write_safebench_release

from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.safebench import data as build_mod
from lmms_safebench.errors import DataError, DataNotBuiltError


def load(selector):
    return build_mod.load_docs(sb.Selector.parse(selector))


def test_builds_full_set_using_category_csv_not_the_order(tmp_path):
    layout = write_safebench_release(tmp_path / "release", queries=2)
    (report,) = build_mod.build(source=str(tmp_path / "release"), subset="full")
    assert report.queries == 46 and report.images == 46 and report.audio_female == 46 and report.audio_male == 46
    assert len(report.per_scenario) == 23
    # Folder 1 holds the last taxonomy scenario (Bias); its queries must land in the bias scenario.
    assert layout[1][0] == "Bias"
    bias = load("text.full.default.bias")
    assert bias["query"] == layout[1][1] and bias["release_k"] == [1, 1] and bias["category_abbr"] == ["IO", "IO"]
    medical = load("image.full.default.medical_advice")
    assert medical[0]["query"].endswith("SCEN-medical_advice") and medical[0]["image"].size == (40, 30)
    assert medical[0]["id"] == "23-1" and medical[0]["release_name"] == "MEDICAL ADVICE"
    # Audio is stored as WAV bytes and decodes with soundfile: the tone identifies folder and row.
    female = load("audio_female.full.audio.medical_advice")
    samples, rate = soundfile.read(io.BytesIO(female[1]["audio_female"]))
    assert rate == 16000 and dominant_frequency(samples, rate) == pytest.approx(200 + 10 * 23 + 2, abs=5)
    assert "image" not in female.column_names and "audio_male" not in female.column_names
    manifest = json.loads((report.directory / "manifest.json").read_text())
    assert manifest["scenarios"]["bias"]["release_k"] == 1
    assert any("2 queries, expected 100" in p["what"] for p in manifest["problems"])  # counts are checked
    everything = load("image.full.default.all")
    assert len(everything) == 46 and everything[0]["modality"] == "image"


def test_missing_and_unreadable_files_are_reported_by_path(tmp_path):
    write_safebench_release(tmp_path / "release", queries=3)
    base = tmp_path / "release" / "final_bench"
    (base / "image" / "5" / "2.png").unlink()
    (base / "audio" / "audio_data_male" / "7" / "1.wav").write_bytes(b"not a wav")
    (base / "text" / "9.csv").unlink()
    (report,) = build_mod.build(source=str(tmp_path / "release"), subset="full")
    problems = {p.where: p for p in report.problems}
    assert problems[str(base / "image" / "5" / "2.png")].what == "missing; left out of the image tasks"
    assert (problems[str(base / "image" / "5" / "2.png")].id, problems[str(base / "image" / "5" / "2.png")].field) == \
        ("5-2", "image")
    assert problems[str(base / "audio" / "audio_data_male" / "7" / "1.wav")].what.startswith("unreadable audio")
    assert problems[str(base / "text" / "9.csv")].what == "missing"
    assert report.queries == 66 and report.images == 65 and report.audio_male == 65 and len(report.per_scenario) == 22
    scenario_5 = sb.SCENARIOS[23 - 5].slug  # the release's folder k holds the (24-k)-th taxonomy scenario
    assert len(load(f"image.full.default.{scenario_5}")) == 2  # the query without its image is left out
    assert len(load(f"text.full.default.{scenario_5}")) == 3


def test_archives_split_parts_and_minibench(tmp_path):
    release = tmp_path / "release"
    write_safebench_release(release, queries=1)
    write_safebench_release(release, queries=2, scenarios=sb.SCENARIOS[:10], mini=True)
    downloads = tmp_path / "hub"
    downloads.mkdir()
    for name, data in release_archives(release).items():
        (downloads / name).write_bytes(data)
    full, mini = build_mod.build(source=str(downloads), subset="all")
    assert full.queries == 23 and mini.queries == 20 and len(mini.per_scenario) == 10
    assert mini.directory.name == "safebench_mini"
    assert not [p for p in mini.problems if "expected" in p.what and "scenarios" in p.what]
    docs = load("audio_male.mini.affirmative.all")
    assert len(docs) == 20 and docs[0]["set"] == "mini" and docs[0]["mode"] == "affirmative"
    (single,) = build_mod.build(source=str(downloads / "part_aa"), subset="full")
    assert single.queries == 23


def test_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        build_mod.build(source=str(tmp_path / "nothing"), subset="full")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no category.csv"):
        build_mod.build(source=str(tmp_path / "empty"), subset="full")
    with pytest.raises(DataNotBuiltError, match="lmms-safebench build safebench --set mini"):
        load("text.mini.default.all")
    bad = tmp_path / "bad" / "final_bench"
    bad.mkdir(parents=True)
    (bad / "category.csv").write_text("id,category\nx,Bias\n1,Bias\n")
    with pytest.raises(DataError, match="category.csv:2: first column must be the folder number"):
        build_mod.build(source=str(tmp_path / "bad"), subset="full")


def test_unknown_scenario_names_are_reported(tmp_path):
    write_safebench_release(tmp_path / "release", queries=1)
    csv_path = tmp_path / "release" / "final_bench" / "category.csv"
    csv_path.write_text(csv_path.read_text().replace("BIAS", "Mystery Scenario"))
    (report,) = build_mod.build(source=str(tmp_path / "release"), subset="full")
    (unknown,) = [p for p in report.problems if "'Mystery Scenario' is not in the taxonomy" in p.what]
    assert unknown.where == str(csv_path) and unknown.id == "1" and unknown.left_out
    assert len(report.per_scenario) == 22


def test_a_folder_number_on_two_rows_of_category_csv_is_named_and_left_out(tmp_path):
    write_safebench_release(tmp_path / "release", queries=1, scenarios=sb.SCENARIOS[:3])
    csv_path = tmp_path / "release" / "final_bench" / "category.csv"
    csv_path.write_text(csv_path.read_text() + "2,Bias\n")
    (report,) = build_mod.build(source=str(tmp_path / "release"), subset="full")
    (twice,) = [p for p in report.problems if p.field == "folder number"]
    assert twice.where == str(csv_path) and twice.id == "2" and twice.left_out and "on 2 rows" in twice.what
    assert sorted(report.per_scenario) == sorted([sb.SCENARIOS[0].slug, sb.SCENARIOS[2].slug])
