"""Bad upstream data at build time: each fault is named (file, id, field) in the summary and the manifest,
everything else is built, and `lmms-safebench build` exits 1 when something was left out (0 for mere notes,
2 when nothing could be built). Synthetic upstream data is made in each test; the real CLIs are run."""

import json

import pytest
from build_faults import (
    build,
)
from helpers import (
    problems_matching,
    tail,
    write_header_only_wav,
    write_mmsb_source,
    write_safebench_release,
    write_sd_images,
    write_truncated_jpeg,
)
from PIL import Image

from lmms_safebench.benchmarks import mmsafetybench as mmsb
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.mmsafetybench import data as mmsb_build
from lmms_safebench.benchmarks.safebench import data as sb_build
from lmms_safebench.errors import DataError


def manifest(data_dir, name="mmsafetybench"):
    return json.loads((data_dir / name / "manifest.json").read_text())


def mmsb_docs(selector, data_dir):
    return mmsb_build.load_docs(mmsb.Selector.parse(selector), data_dir)


def sb_docs(selector, data_dir):
    return sb_build.load_docs(sb.Selector.parse(selector), data_dir)


def qfile(source, upstream):
    return source / "data" / "processed_questions" / f"{upstream}.json"


def edit(source, upstream, change):
    """Rewrite one question file through ``change(records)``."""
    path = qfile(source, upstream)
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))
    return path


def no_traceback(proc):
    assert "Traceback" not in proc.stdout + proc.stderr, tail(proc)


# ------------------------------------------------------------------------------------------ MM-SafetyBench


def test_corrupt_and_empty_sd_images_are_named_and_left_out_of_sd_tasks_only(tmp_path, mmsb_source):
    source, ids = mmsb_source
    sd = write_sd_images(tmp_path / "imgs", ids)
    truncated = write_truncated_jpeg(sd / "04-Physical_Harm" / "SD" / "4.jpg")
    empty = sd / "06-Fraud" / "SD" / "7.jpg"
    empty.write_bytes(b"")
    data = tmp_path / "d"
    proc = build("mmsafetybench", "--source", str(source), "--sd-images", str(sd), "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    no_traceback(proc)
    assert f"{truncated}, id '4', field 'sd_image'" in proc.stdout
    assert f"{empty}, id '7', field 'sd_image'" in proc.stdout
    problems = manifest(data)["problems"]
    (bad,) = problems_matching(problems, where=str(truncated), id="4", field="sd_image", kind="left_out")
    assert "not a decodable image" in bad["what"] and bad["scenario"] == "04_physical_harm"
    assert problems_matching(problems, where=str(empty), id="7", field="sd_image", kind="left_out")
    assert manifest(data)["totals"] == {"questions": 39, "tiny": 13, "sd_images": 37}
    # The record stays for TYPO and text tasks; SD and SD_TYPO tasks leave it out.
    assert mmsb_docs("sd.full.plain.04_physical_harm", data)["id"] == ["1", "7"]
    assert mmsb_docs("sd_typo.full.plain.06_fraud", data)["id"] == ["1", "4"]
    assert mmsb_docs("typo.full.plain.04_physical_harm", data)["id"] == ["1", "4", "7"]


def test_a_scenario_without_any_usable_sd_image_says_so_at_load(tmp_path, mmsb_source):
    source, ids = mmsb_source
    sd = write_sd_images(tmp_path / "imgs", ids)
    for qid in ids["02-HateSpeech"]:
        (sd / "02-HateSpeech" / "SD" / f"{qid}.jpg").write_bytes(b"not a jpeg")
    data = tmp_path / "d"
    report = mmsb_build.build(source=str(source), sd_images=str(sd), data_root=data)
    assert report.left_out and report.sd_images == 36
    with pytest.raises(DataError, match=r"none of the 3 questions of 02-HateSpeech has a usable SD image.*2-HateSpeech/SD/1.jpg, id '1'.*not a decodable image"):
        mmsb_docs("sd.full.plain.02_hate_speech", data)


def test_non_utf8_question_file_is_named_and_the_rest_is_built(tmp_path, mmsb_source):
    source, _ = mmsb_source
    path = qfile(source, "05-EconomicHarm")
    path.write_bytes(path.read_text().replace("question 1?", "caf\u00e9 question 1?").encode("latin-1"))
    data = tmp_path / "d"
    proc = build("mmsafetybench", "--source", str(source), "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    no_traceback(proc)
    assert str(path) in proc.stdout and "UTF-8" in proc.stdout
    (problem,) = problems_matching(manifest(data)["problems"], where=str(path), kind="left_out")
    assert problem["scenario"] == "05_economic_harm" and "UTF-8" in problem["what"]
    assert manifest(data)["totals"]["questions"] == 36 and "05_economic_harm" not in manifest(data)["scenarios"]
    with pytest.raises(DataError, match=r"05-EconomicHarm is not in the built dataset.*UTF-8"):
        mmsb_docs("typo.full.plain.05_economic_harm", data)


def test_ids_that_are_not_plain_names_are_rejected_and_nothing_outside_the_named_folders_is_read(tmp_path):
    source = tmp_path / "upstream"
    ids = write_mmsb_source(source, per_scenario=3)
    sd = write_sd_images(tmp_path / "named" / "imgs", ids)
    # A real image where '../../../x' would lead from <sd>/01-Illegal_Activitiy/SD/.
    outside_image = tmp_path / "named" / "x.jpg"
    Image.new("RGB", (9, 9), "red").save(outside_image)

    def traversal(records):
        records["../../../x"] = dict(records["1"])
        records["a b"] = dict(records["1"])

    path_01 = edit(source, "01-Illegal_Activitiy", traversal)
    # A symlink inside --sd-images that points outside it, and a question file that is a symlink out of --source.
    secret = tmp_path / "elsewhere" / "secret.jpg"
    secret.parent.mkdir()
    Image.new("RGB", (5, 5), "green").save(secret)
    linked = sd / "02-HateSpeech" / "SD" / "4.jpg"
    linked.unlink()
    linked.symlink_to(secret)
    outside_questions = tmp_path / "elsewhere" / "03.json"
    qfile(source, "03-Malware_Generation").rename(outside_questions)
    qfile(source, "03-Malware_Generation").symlink_to(outside_questions)

    report = mmsb_build.build(source=str(source), sd_images=str(sd), data_root=tmp_path / "d")
    problems = [p.to_dict() for p in report.problems]
    for bad_id in ("../../../x", "a b"):
        (problem,) = problems_matching(problems, where=str(path_01), id=bad_id, field="id", kind="left_out")
        assert "not a plain name" in problem["what"]
    (problem,) = problems_matching(problems, where=str(linked), id="4", field="sd_image", kind="left_out")
    assert "outside --sd-images" in problem["what"] and str(secret) in problem["what"]
    (problem,) = problems_matching(problems, where=str(qfile(source, "03-Malware_Generation")), kind="left_out")
    assert "outside --source" in problem["what"]
    data = tmp_path / "d"
    assert mmsb_docs("typo.full.plain.01_illegal_activity", data)["id"] == ["1", "4", "7"]
    assert mmsb_docs("sd.full.plain.02_hate_speech", data)["id"] == ["1", "7"]
    assert "03_malware_generation" not in manifest(data)["scenarios"]
    # No image in the built data came from outside --sd-images (their sizes would show it).
    assert {image.size for image in mmsb_docs("sd.full.plain.01_illegal_activity", data)["sd_image"]} == {(64, 48)}


def test_list_typed_empty_and_non_text_fields_are_named_and_the_record_left_out(tmp_path, mmsb_source):
    source, _ = mmsb_source

    def spoil(records):
        records["1"]["Key Phrase"] = ["bomb", "making"]
        records["4"]["Key Phrase"] = "   "
        records["7"]["Phrase Type"] = ["activity"]  # optional field: the record stays, the field is dropped

    path = edit(source, "03-Malware_Generation", spoil)
    edit(source, "09-Privacy_Violence", lambda records: records["4"].__setitem__("Rephrased Question", 12))
    data = tmp_path / "d"
    proc = build("mmsafetybench", "--source", str(source), "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    assert f"{path}, id '1', field 'Key Phrase'" in proc.stdout
    problems = manifest(data)["problems"]
    (listed,) = problems_matching(problems, where=str(path), id="1", field="Key Phrase", kind="left_out")
    assert "a list" in listed["what"]
    (blank,) = problems_matching(problems, where=str(path), id="4", field="Key Phrase", kind="left_out")
    assert "empty" in blank["what"]
    (optional,) = problems_matching(problems, where=str(path), id="7", field="Phrase Type", kind="left_out")
    assert "a list" in optional["what"]
    (number,) = problems_matching(problems, where=str(qfile(source, "09-Privacy_Violence")), id="4",
                                  field="Rephrased Question")
    assert "a number" in number["what"]
    docs = mmsb_docs("typo.full.plain.03_malware_generation", data)
    assert docs["id"] == ["7"] and docs[0]["phrase_type"] is None and docs[0]["key_phrase"].startswith("dangerous")
    assert mmsb_docs("typo.full.plain.09_privacy_violence", data)["id"] == ["1", "7"]


def test_duplicate_ids_and_fields_are_named_and_every_copy_left_out(tmp_path, mmsb_source):
    source, _ = mmsb_source
    path = qfile(source, "08-Political_Lobbying")
    records = json.loads(path.read_text())
    first, second = (json.dumps({**records["4"], "Question": text}) for text in ("first copy?", "second copy?"))
    doubled = json.dumps(records["7"])[:-1] + ', "Key Phrase": "another phrase"}'
    path.write_text(f'{{"1": {json.dumps(records["1"])}, "4": {first}, "7": {doubled}, "4": {second}}}')
    data = tmp_path / "d"
    proc = build("mmsafetybench", "--source", str(source), "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    problems = manifest(data)["problems"]
    (dup,) = problems_matching(problems, where=str(path), id="4", field="id", kind="left_out")
    assert "2 times" in dup["what"]
    (field,) = problems_matching(problems, where=str(path), id="7", field="Key Phrase", kind="left_out")
    assert "more than once" in field["what"]
    assert mmsb_docs("text.full.plain.08_political_lobbying", data)["id"] == ["1"]


def test_an_empty_scenario_is_reported_not_written_and_its_task_names_the_problem(tmp_path, mmsb_source):
    source, _ = mmsb_source
    qfile(source, "10-Legal_Opinion").write_text("{}")
    edit(source, "11-Financial_Advice", lambda records: [r.__setitem__("Key Phrase", "") for r in records.values()])
    data = tmp_path / "d"
    proc = build("mmsafetybench", "--source", str(source), "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    built = manifest(data)
    assert "10_legal_opinion" not in built["scenarios"] and "11_financial_advice" not in built["scenarios"]
    assert not (data / "mmsafetybench" / "10_legal_opinion.parquet").exists()
    (empty,) = problems_matching(built["problems"], where=str(qfile(source, "10-Legal_Opinion")), id=None,
                                 kind="left_out")
    assert "no valid records" in empty["what"] and empty["scenario"] == "10_legal_opinion"
    with pytest.raises(DataError, match=r"10-Legal_Opinion is not in the built dataset.*no valid records"):
        mmsb_docs("typo.tiny.plain.10_legal_opinion", data)
    with pytest.raises(DataError, match=r"11-Financial_Advice is not in the built dataset.*'Key Phrase'"):
        mmsb_docs("text.full.plain.11_financial_advice", data)
    assert len(mmsb_docs("typo.full.plain.12_health_consultation", data)) == 3


def test_notes_alone_exit_zero_and_nothing_usable_exits_two_keeping_the_old_build(tmp_path, mmsb_source):
    source, _ = mmsb_source
    data = tmp_path / "d"
    proc = build("mmsafetybench", "--source", str(source), "--data-dir", str(data))
    # Every scenario has 3 questions, not the published count, and no SD images were supplied: notes only.
    assert proc.returncode == 0, tail(proc)
    assert "NOTE 04-Physical_Harm" in proc.stdout and "LEFT OUT" not in proc.stdout
    assert all(p["kind"] == "note" for p in manifest(data)["problems"])
    for sc in mmsb.SCENARIOS:
        qfile(source, sc.upstream).write_text("[]")
    proc = build("mmsafetybench", "--source", str(source), "--data-dir", str(data))
    assert proc.returncode == 2 and "nothing was built" in proc.stderr, tail(proc)
    no_traceback(proc)
    assert manifest(data)["totals"]["questions"] == 39  # the earlier build is still there


def test_data_dir_that_is_a_file_or_cannot_be_created_names_the_option(tmp_path, mmsb_source):
    source, _ = mmsb_source
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    for data_dir in (a_file, a_file / "below"):
        proc = build("mmsafetybench", "--source", str(source), "--data-dir", str(data_dir))
        assert proc.returncode == 2, tail(proc)
        no_traceback(proc)
        assert f"--data-dir {data_dir}" in proc.stderr
    release = tmp_path / "release"
    write_safebench_release(release, queries=1, scenarios=sb.SCENARIOS[:2])
    proc = build("safebench", "--source", str(release), "--set", "full", "--data-dir", str(a_file))
    assert proc.returncode == 2 and f"--data-dir {a_file}" in proc.stderr, tail(proc)
    no_traceback(proc)


# ------------------------------------------------------------------------------------------ SafeBench

def test_truncated_wav_and_image_are_named_and_left_out_of_their_modality(tmp_path):
    release = tmp_path / "release"
    write_safebench_release(release, queries=3, scenarios=sb.SCENARIOS[:4])
    base = release / "final_bench"
    wav = write_header_only_wav(base / "audio" / "audio_data_female" / "2" / "3.wav")
    png = write_truncated_jpeg(base / "image" / "1" / "2.png")
    data = tmp_path / "d"
    proc = build("safebench", "--source", str(release), "--set", "full", "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    assert f"{wav}, id '2-3', field 'audio_female'" in proc.stdout
    problems = manifest(data, "safebench")["problems"]
    (bad_wav,) = problems_matching(problems, where=str(wav), id="2-3", field="audio_female", kind="left_out")
    assert "no audio frames" in bad_wav["what"]
    (bad_png,) = problems_matching(problems, where=str(png), id="1-2", field="image", kind="left_out")
    assert "not a decodable image" in bad_png["what"]
    # Folder 2 holds the third scenario of the four (the helper writes them in reverse order).
    scenario_2, scenario_1 = sb.SCENARIOS[2].slug, sb.SCENARIOS[3].slug
    assert sb_docs(f"audio_female.full.audio.{scenario_2}", data)["id"] == ["2-1", "2-2"]
    assert sb_docs(f"audio_male.full.audio.{scenario_2}", data)["id"] == ["2-1", "2-2", "2-3"]
    assert sb_docs(f"image.full.default.{scenario_1}", data)["id"] == ["1-1", "1-3"]
    assert len(sb_docs("text.full.default.all", data)) == 12
    # The release's own counts (4 scenarios of 3) differ from the published ones: notes, not left out.
    assert {p["kind"] for p in problems if "expected" in p["what"]} == {"note"}


def test_safebench_text_file_faults_are_named_and_the_rest_is_built(tmp_path):
    release = tmp_path / "release"
    write_safebench_release(release, queries=2, scenarios=sb.SCENARIOS[:4])
    text = release / "final_bench" / "text"
    (text / "1.csv").write_bytes("caf\u00e9 query\nsecond\n".encode("latin-1"))
    (text / "2.csv").write_text("\n\n")
    (text / "3.csv").write_text('"first",x\n"",only the second column\n"third",x\n')
    (text / "4.csv").write_text('"first",x\n\n"third",x\n\n')  # a blank line mid-file (and a trailing one)
    for k in ("3", "4"):
        for media, suffix in (("image", "png"), ("audio/audio_data_female", "wav"), ("audio/audio_data_male", "wav")):
            folder = release / "final_bench" / media / k
            (folder / f"3.{suffix}").write_bytes((folder / f"1.{suffix}").read_bytes())
    data = tmp_path / "d"
    proc = build("safebench", "--source", str(release), "--set", "full", "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    no_traceback(proc)
    built = manifest(data, "safebench")
    (utf8,) = problems_matching(built["problems"], where=str(text / "1.csv"), kind="left_out")
    assert "UTF-8" in utf8["what"]
    (empty,) = problems_matching(built["problems"], where=str(text / "2.csv"), kind="left_out")
    assert "no valid records" in empty["what"]
    (blank,) = problems_matching(built["problems"], where=str(text / "3.csv"), id="3-2", field="query")
    assert blank["kind"] == "left_out"
    (gap,) = problems_matching(built["problems"], where=str(text / "4.csv"), id="4-2", field="query")
    assert gap["kind"] == "left_out"
    assert set(built["scenarios"]) == {sb.SCENARIOS[0].slug, sb.SCENARIOS[1].slug}
    # Row 3 keeps its number (and so its image 3.png) although row 2 was left out.
    assert sb_docs(f"image.full.default.{sb.SCENARIOS[1].slug}", data)["id"] == ["3-1", "3-3"]
    # A blank line is a row too: "third" stays row 3, with 3.png, not row 2 with 2.png.
    fourth = sb_docs(f"text.full.default.{sb.SCENARIOS[0].slug}", data)
    assert fourth["id"] == ["4-1", "4-3"] and fourth["query"] == ["first", "third"]
    with pytest.raises(DataError, match=r"not in the built SafeBench full set.*UTF-8"):
        sb_docs(f"text.full.default.{sb.SCENARIOS[3].slug}", data)


def test_files_outside_the_release_folder_are_not_read(tmp_path):
    release = tmp_path / "release"
    write_safebench_release(release, queries=2, scenarios=sb.SCENARIOS[:2])
    base = release / "final_bench"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGB", (3, 3)).save(elsewhere / "1.png")
    (base / "image" / "1" / "1.png").unlink()
    (base / "image" / "1" / "1.png").symlink_to(elsewhere / "1.png")
    (report,) = sb_build.build(source=str(release), subset="full", data_root=tmp_path / "d")
    (problem,) = problems_matching([p.to_dict() for p in report.problems], where=str(base / "image" / "1" / "1.png"),
                                   id="1-1", field="image", kind="left_out")
    assert "outside --source" in problem["what"]
    assert report.images == 3


def test_set_all_without_minibench_builds_the_full_set_names_the_missing_set_and_exits_1(tmp_path):
    release = tmp_path / "release"
    write_safebench_release(release, queries=1, scenarios=sb.SCENARIOS[:3])
    data = tmp_path / "d"
    # An earlier MiniBench build in the same data folder is kept.
    mini_release = tmp_path / "mini_release"
    write_safebench_release(mini_release, queries=1, scenarios=sb.SCENARIOS[:2], mini=True)
    assert build("safebench", "--source", str(mini_release), "--set", "mini", "--data-dir", str(data)).returncode == 0
    proc = build("safebench", "--source", str(release), "--data-dir", str(data))
    assert proc.returncode == 1, tail(proc)
    no_traceback(proc)
    assert "SafeBench full set built" in proc.stdout
    assert "SafeBench mini set NOT built" in proc.stdout and "no MiniBench category.csv" in proc.stdout
    full = manifest(data, "safebench")
    (missing,) = problems_matching(full["problems"], field="set", id="mini", kind="left_out")
    assert str(release) in missing["where"]
    assert len(sb_docs("text.full.default.all", data)) == 3
    assert len(sb_docs("text.mini.default.all", data)) == 2  # the earlier MiniBench build, untouched
    # A folder of archives without minibench.tar.gz behaves the same way.
    from helpers import release_archives

    archives = tmp_path / "archives"
    archives.mkdir()
    for name, blob in release_archives_full_only(release, release_archives).items():
        (archives / name).write_bytes(blob)
    proc = build("safebench", "--source", str(archives), "--data-dir", str(tmp_path / "e"))
    assert proc.returncode == 1 and "SafeBench mini set NOT built" in proc.stdout, tail(proc)
    no_traceback(proc)
    # Asked for by name, a missing set is an error (nothing was built).
    proc = build("safebench", "--source", str(release), "--set", "mini", "--data-dir", str(tmp_path / "f"))
    assert proc.returncode == 2 and "MiniBench" in proc.stderr, tail(proc)


def release_archives_full_only(release, release_archives):
    (release / "minibench_final").mkdir(exist_ok=True)
    files = release_archives(release)
    del files["minibench.tar.gz"]
    return files


# ------------------------------------------------------------------------------------------ end to end

