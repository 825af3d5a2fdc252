"""One reading of a file a user's folder names (``store.read_inside`` / ``store.read_image_inside``), shared by the
companion builders, the vlsafety source and the calibration set files: the same bad file gets the same reason
everywhere (a way out of the folder, a FIFO, a file over the cap, bytes that are no image), each caller naming the
file its own way; and a MOSSBench image whose download failed is named by that failure."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from companions import png, write_mossbench

from lmms_safebench.benchmarks.mossbench import data as moss
from lmms_safebench.benchmarks.mossbench import taxonomy as moss_tx
from lmms_safebench.calibration.set_files import read_image
from lmms_safebench.data import store
from lmms_safebench.generate.core.config import parse
from lmms_safebench.generate.vlsafety.config import SourceSpec
from lmms_safebench.generate.vlsafety.source import open_source, read_inside


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "named"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(png(1))
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    os.mkfifo(root / "pipe.png")  # opening it would block: the check must refuse before opening
    (root / "big.png").write_bytes(png(2, size=(64, 64)))
    (root / "broken.png").write_bytes(png(3)[:20])
    (root / "ok.png").write_bytes(png(4))
    return root


def test_the_same_bad_file_gets_the_same_reason_from_every_reader(folder, tmp_path):
    limit = (folder / "ok.png").stat().st_size
    secret = tmp_path / "secret.png"
    expected = {"link.png": f"resolves to {secret}, outside",
                "pipe.png": "not a regular file (a FIFO); not read",
                "big.png": f"{(folder / 'big.png').stat().st_size} bytes, more than",
                "missing.png": "cannot be read (No such file or directory)"}
    for name, why in expected.items():
        with pytest.raises(store.Refused) as companion:
            store.read_image_inside(folder / name, folder, limit=limit)
        with pytest.raises(store.Refused) as vlsafety:
            read_inside(folder / name, folder, limit, f"--images {folder}")
        with pytest.raises(ValueError) as calibration:
            read_image(name, folder, limit)
        assert str(companion.value).startswith(why) and str(vlsafety.value).startswith(why), name
        assert str(calibration.value).startswith(f"{name!r}: {why}"), name
    # Each names the folder the user gave and the setting that sets the cap.
    assert f"outside --source {folder}; not read" in str(pytest.raises(
        ValueError, store.read_image_inside, folder / "link.png", folder).value)
    assert "more than source.max_file_mb allows" in str(pytest.raises(
        ValueError, read_inside, folder / "big.png", folder, limit, "--images").value)
    assert "more than max_image_bytes allows" in str(pytest.raises(ValueError, read_image, "big.png", folder,
                                                                   limit).value)
    # Bytes that are no image are refused by the image readers, and read as bytes by the plain one.
    assert "not a decodable image" in str(pytest.raises(ValueError, read_image, "broken.png", folder, limit).value)
    assert read_inside(folder / "broken.png", folder, limit, "--images") == png(3)[:20]
    assert store.read_image_inside(folder / "ok.png", folder, limit=limit) == read_image("ok.png", folder, limit) \
        == png(4)


def test_a_mossbench_image_that_could_not_be_downloaded_is_named_by_the_download(tmp_path, monkeypatch):
    # A file:// mirror of GitHub's raw server that lacks one image (no network: the mirror is a local folder).
    mirror = tmp_path / "mirror"
    write_mossbench(mirror / moss_tx.UPSTREAM_REPO / moss_tx.UPSTREAM_COMMIT, {"1": ("type 1", "COMPLY"),
                    "2": ("type 2", "COMPLY")}, {"201": ("type 3", "REFUSE")}, missing=("benign-2",))
    monkeypatch.setenv("SAFEBENCH_GITHUB_RAW", mirror.as_uri())
    for name in ("SAFEBENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "")
    report = moss.build()
    assert report.slices == {"benign": 1, "contrast": 1}
    problem = next(p for p in report.left_out if p.id == "2")
    assert problem.what.startswith("could not be downloaded (cannot download file://")
    assert problem.what.endswith("; the item is left out") and problem.field == "image"


def test_caption_files_jsonl_first_then_csv_each_bad_entry_named(tmp_path):
    """captions.jsonl's later line replaces an earlier one; captions.csv adds only what the JSONL left uncaptioned
    (its first row wins); each bad entry is named by file and line."""
    pool = tmp_path / "pool"
    pool.mkdir()
    for n in range(4):
        (pool / f"p{n}.png").write_bytes(png(40 * n + 5, size=(8 + n, 8)))
    (pool / "captions.jsonl").write_text("\n".join([
        json.dumps({"file": "p0.png", "text": "first zero"}), json.dumps({"file": "p0.png", "text": "second zero"}),
        json.dumps({"file": "p1.png"}), "{not json", json.dumps(["p2.png", "a list"])]) + "\n")
    (pool / "captions.csv").write_text("file,text\np0.png,csv zero\np1.png,csv one\np1.png,csv one again\n"
                                       "p2.png,\n,no file\n")
    source = open_source(str(pool), parse({}, SourceSpec))
    texts = {item.origin: item.text for item in source.items}
    assert texts == {"p0.png": "second zero", "p1.png": "csv one", "p2.png": None, "p3.png": None}
    named = {p.where: p.what for p in source.problems}
    assert named["captions.jsonl:3"] == ("needs a 'file' (or 'image'/'path') and a 'text' (or 'caption') string; "
                                         "ignored")
    assert named["captions.jsonl:4"].startswith("not JSON (") and "captions.jsonl:5" in named
    assert named["captions.csv:6"] == "needs a 'file' (or 'image'/'path') and a 'text' (or 'caption') column; ignored"
