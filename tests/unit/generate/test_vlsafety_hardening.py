"""`generate vlsafety` reads only what its source holds, decodes no bomb, and never mixes two sources' pictures.

- Nothing outside the source's folder is ever opened: links (to a picture, /dev/zero, /etc/passwd, a FIFO, a folder),
  caption files and sidecars that lead outside, and a parquet file's path cells that are absolute, start with `~` or
  climb out of its folder. Every `open` is watched by an audit hook, which also refuses the forbidden files (so a
  regression fails here instead of hanging on a FIFO or filling memory from /dev/zero). What is left out is named
  with its reason, in the source's problems, the console and the data card.
- An image whose header declares more than `source.max_pixels` pixels is never decoded at full size: a JPEG is
  draft-decoded at a scale that fits, anything else is left out (`too_large`); a 19 KB 1-bit PNG of 12500 x 12500
  is one such file.
- A rerun against another folder, or after a picture is edited in place, says what changed and processes exactly
  those items anew; the pool holds only the pictures of the source it was run on.
- A caption of 2 MB reaches the writer cut to `source.max_text_chars` characters, noted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path

import pytest
from loopback import LoopbackServer, media_parts, user_text
from PIL import Image, ImageFile
from vlsafety_gen import BLUE, Agents, marker_of, pattern, write_config

from lmms_safebench.cli import main as cli
from lmms_safebench.generate.core.config import parse
from lmms_safebench.generate.core.workspace import Workspace
from lmms_safebench.generate.vlsafety import preprocess
from lmms_safebench.generate.vlsafety.config import SourceSpec, VLSafetyConfig
from lmms_safebench.generate.vlsafety.source import Refused, _image_bytes, hub_places, open_source
from lmms_safebench.paths import data_dir

# ----------------------------------------------------------------------------------- watching every open

_WATCH: dict | None = None


def _audit(event: str, args) -> None:
    if _WATCH is None or event != "open" or isinstance(args[0], int):
        return
    real = os.path.realpath(os.fsdecode(args[0]))
    _WATCH["opened"].append(real)
    if any(real == f or real.startswith(f + os.sep) for f in _WATCH["forbidden"]):
        _WATCH["refused"].append(real)
        raise PermissionError(f"the test forbids opening {real}")


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one does nothing unless a test watches


class watching:
    """Within: every file opened is recorded; opening one under ``forbidden`` is refused and recorded."""

    def __init__(self, *forbidden):
        self.forbidden = [os.path.realpath(f) for f in forbidden]

    def __enter__(self):
        global _WATCH
        _WATCH = {"opened": [], "refused": [], "forbidden": self.forbidden}
        return _WATCH

    def __exit__(self, *exc):
        global _WATCH
        _WATCH = None


# ----------------------------------------------------------------------------------- files

def png_bomb(path: Path, side: int = 12500) -> Path:
    """A 1-bit greyscale PNG of side x side pixels, all black: about 19 KB on disk, 156 million pixels."""
    squeeze = zlib.compressobj(9)
    row = b"\0" + bytes((side + 7) // 8)  # filter byte, then the packed bits
    data = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)) +
                     chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def outside_files(outside: Path) -> None:
    """Files a source must never open: a picture, a caption file, a sidecar and a FIFO (opening it would hang)."""
    outside.mkdir()
    pattern(99, BLUE).save(outside / "secret.png")
    (outside / "captions.jsonl").write_text(json.dumps({"file": "good.png", "text": "SECRET CAPTION"}) + "\n")
    (outside / "note.txt").write_text("SECRET SIDECAR")
    os.mkfifo(outside / "fifo")


def config_of(**source) -> VLSafetyConfig:
    return parse({"llm": {"model": "w"}, "vlm": {"model": "v"}, "source": source}, VLSafetyConfig)


def left_out(problems) -> dict[str, str]:
    return {p.where: p.what for p in problems if p.left_out}


# ----------------------------------------------------------------------------------- 1. nothing outside is opened

def test_a_folder_source_opens_nothing_outside_and_names_what_it_left_out(tmp_path):
    outside, pool = tmp_path / "outside", tmp_path / "pool"
    outside_files(outside)
    pool.mkdir()
    pattern(1).save(pool / "good.png")
    pattern(2).save(pool / "other.png")
    (pool / "link.png").symlink_to(outside / "secret.png")
    (pool / "zero.png").symlink_to("/dev/zero")
    (pool / "passwd.png").symlink_to("/etc/passwd")
    (pool / "pipe.png").symlink_to(outside / "fifo")
    os.mkfifo(pool / "inner_fifo.png")
    (pool / "dangling.png").symlink_to(pool / "gone.png")  # inside, but nothing there
    (pool / "linked").symlink_to(outside, target_is_directory=True)
    (pool / "captions.jsonl").symlink_to(outside / "captions.jsonl")
    (pool / "other.txt").symlink_to(outside / "note.txt")
    (pool / "big.png").write_bytes((pool / "good.png").read_bytes() + bytes(30_000))  # over a 20 KB cap

    with watching(outside, "/dev/zero", "/etc/passwd", pool / "inner_fifo.png") as watch:
        source = open_source(str(pool), parse({"max_file_mb": 0.02}, SourceSpec))
        data = [item.read() for item in source.items]
    assert watch["refused"] == []  # nothing forbidden was even tried
    assert [i.origin for i in source.items] == ["good.png", "other.png"]
    assert data[0] == (pool / "good.png").read_bytes() and all(i.text is None for i in source.items)
    missing = left_out(source.problems)
    real = os.path.realpath
    assert missing["link.png"] == f"resolves to {real(outside / 'secret.png')}, outside --images {pool}; not read"
    assert missing["zero.png"].startswith("resolves to /dev/zero, outside")
    assert missing["passwd.png"].startswith("resolves to /etc/passwd, outside")
    assert missing["pipe.png"].startswith(f"resolves to {real(outside / 'fifo')}, outside")
    assert missing["inner_fifo.png"] == "not a regular file (a FIFO); not read"
    assert missing["dangling.png"] == "cannot be read (No such file or directory)"
    assert missing["linked"] == f"a link to the folder {real(outside)}, outside --images {pool}; not read"
    assert "outside --images" in missing["captions.jsonl"] and "outside --images" in missing["other.txt"]
    assert missing["big.png"].startswith(f"{30_000 + len(data[0])} bytes, more than source.max_file_mb allows")
    assert source.describe()["left_out"] == len(missing) == 10

    # A file swapped for a link after the listing is refused when it is read, and an edited one too.
    (pool / "other.png").unlink()
    (pool / "other.png").symlink_to(outside / "secret.png")
    with watching(outside) as watch, pytest.raises(Refused, match="outside --images"):
        source.items[1].read()
    assert watch["refused"] == []
    pattern(3).save(pool / "good.png")
    with pytest.raises(ValueError, match="good.png changed after the source was read"):
        source.items[0].read()


def test_parquet_and_hub_path_cells_stay_in_their_folder(tmp_path, monkeypatch):
    import datasets

    outside, pool = tmp_path / "outside", tmp_path / "pool"
    outside_files(outside)
    (pool / "sub").mkdir(parents=True)
    pattern(1).save(pool / "sub" / "ok.png")
    (pool / "link.png").symlink_to(outside / "secret.png")
    os.mkfifo(pool / "fifo.png")
    home_file = os.path.expanduser("~/.bashrc")
    cells = ["sub/ok.png", "../outside/secret.png", "/dev/zero", "~/.bashrc", str(pool / "sub" / "ok.png"),
             "link.png", "fifo.png", "sub/../../outside/note.txt", None]
    datasets.Dataset.from_dict({"file": cells, "text": ["t"] * len(cells)}).to_parquet(str(pool / "table.parquet"))

    forbidden = (outside, "/dev/zero", home_file, pool / "fifo.png")
    with watching(*forbidden) as watch:
        source = open_source(str(pool / "table.parquet"), parse({"image_column": "file"}, SourceSpec))
        assert source.items[0].read() == (pool / "sub" / "ok.png").read_bytes()
    assert watch["refused"] == []
    assert [i.origin for i in source.items] == ["row 0"]
    missing = left_out(source.problems)
    folder = f"the parquet file's folder {os.path.realpath(pool)}"
    assert missing["row 1"] == f"resolves to {os.path.realpath(outside / 'secret.png')}, outside {folder}; not read"
    assert missing["row 2"] == f"the path '/dev/zero' is absolute; give paths relative to {folder}; not read"
    assert missing["row 3"] == "the path '~/.bashrc' starts with '~', which is not expanded; not read"
    assert missing["row 4"].startswith(f"the path '{pool / 'sub' / 'ok.png'}' is absolute")
    assert "outside the parquet file's folder" in missing["row 5"]
    assert missing["row 6"] == "not a regular file (a FIFO); not read"
    assert "outside the parquet file's folder" in missing["row 7"]
    assert missing["row 8"] == "no image in this row (the image cell holds NoneType)"
    assert all(p.field == "file" for p in source.problems)

    # A hub dataset in a local folder: its path cells stay inside that folder.
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    shutil.copy(pool / "sub" / "ok.png", hub / "ok.png")
    datasets.Dataset.from_dict({"image": ["ok.png", "../outside/secret.png", "/dev/zero"]}).to_parquet(
        str(hub / "data" / "train-00000-of-00001.parquet"))
    with watching(*forbidden) as watch:
        hub_source = open_source(f"hub:{hub}", parse({}, SourceSpec))
    assert watch["refused"] == [] and [i.origin for i in hub_source.items] == ["row 0"]
    assert "outside the dataset's folder" in left_out(hub_source.problems)["row 1"]
    assert "outside the dataset's folder" in left_out(hub_source.problems)["row 2"]

    # A dataset from the hub: a path cell may only name a file in the caches its files were downloaded into.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))  # not the real cache
    places = hub_places("owner/name")
    assert places.roots[0] == tmp_path / "hf_datasets"
    cached = places.roots[0] / "downloads" / "ok.png"
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(pool / "sub" / "ok.png", cached)
    limit = 1 << 20
    with watching(*forbidden) as watch:
        assert _image_bytes({"bytes": None, "path": str(cached)}, places, limit) == cached.read_bytes()
        for cell, why in ((str(outside / "secret.png"), "outside the datasets and hub caches"),
                          ("ok.png", "is relative, and this dataset has no folder to resolve it in"),
                          ("~/.bashrc", "starts with '~'")):
            with pytest.raises(Refused, match=re.escape(why)):
                _image_bytes({"bytes": None, "path": cell}, places, limit)
    assert watch["refused"] == []


# ----------------------------------------------------------------------------------- 2. decompression bombs

def test_an_image_over_the_pixel_budget_is_never_decoded_at_full_size(tmp_path, monkeypatch):
    pool = tmp_path / "pool"
    pool.mkdir()
    png_bomb(pool / "bomb.png")
    assert (pool / "bomb.png").stat().st_size < 25_000
    pattern(1, size=1200).resize((1200, 900)).save(pool / "wide.jpg", quality=90)
    pattern(2, size=1200).resize((1200, 900)).save(pool / "wide.png")
    pattern(3).save(pool / "small.png")
    loaded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def watched_load(self):
        loaded.append(self.size)  # the size about to be decoded (after any draft)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", watched_load)

    def ingest(**source):
        config = config_of(**source)
        ws = Workspace(tmp_path / "ws")
        try:
            return preprocess.ingest(ws, open_source(str(pool), config.source), config, False)[1]
        finally:
            ws.close()

    records = {r["origin"]: r for r in ingest(max_pixels=300_000).values()}
    assert records["bomb.png"]["status"] == records["wide.png"]["status"] == "too_large"
    assert records["bomb.png"]["what"] == ("12500x12500 pixels (156,250,000), more than source.max_pixels (300,000); "
                                           "not decoded")
    jpeg = records["wide.jpg"]  # draft-decoded at half scale: 600 x 450 = 270,000 pixels
    assert (jpeg["status"], jpeg["width"], jpeg["height"], jpeg["decoded_at"]) == ("ok", 1200, 900, [600, 450])
    assert records["small.png"]["status"] == "ok" and "decoded_at" not in records["small.png"]
    assert max(w * h for w, h in loaded) <= 300_000  # no decode above the budget, the bomb's least of all

    # The default budget (40 million pixels) decodes the 1200 x 900 PNG, and a changed budget redoes what it left out.
    loaded.clear()
    records = {r["origin"]: r for r in ingest().values()}
    assert records["wide.png"]["status"] == "ok" and records["bomb.png"]["status"] == "too_large"
    assert "more than source.max_pixels (40,000,000)" in records["bomb.png"]["what"]
    assert (12500, 12500) not in loaded and (1200, 900) in loaded


# ----------------------------------------------------------------------------------- the whole run

@pytest.fixture
def agents():
    script = Agents()
    with LoopbackServer(script) as llm, LoopbackServer(script) as vlm, LoopbackServer(script) as checker:
        yield script, {"llm": llm, "vlm": vlm, "checker": checker}


def pool_images(folder: Path) -> None:
    folder.mkdir(parents=True)
    for n in range(3):
        pattern(n).save(folder / f"p{n}.png")


def sent_pictures(servers) -> set[str]:
    """Digests of every picture the verifier was sent."""
    return {marker_of(body)[1] for body in servers["vlm"].requests if media_parts(body)}


def pool_image_ids(folder: Path) -> set[str]:
    import datasets

    manifest = json.loads((folder / "manifest.json").read_text())
    return {i for s in manifest["scenarios"].values() for i in datasets.Dataset.from_parquet(str(folder / s["file"]))["image_id"]}


def ingest_records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "work" / "ingest.jsonl").read_text().splitlines()]


def runner(tmp_path: Path, tiny_clip, servers, capsys):
    config = write_config(tmp_path / "c.yaml", tiny_clip, servers, augmentation={"variants_per_sample": 0},
                          generation={"pairs_per_image": 1, "strategies": ["modality_dependence"]})  # one sample an image

    def run(images: Path) -> str:
        assert cli(["generate", "vlsafety", str(config), "--images", str(images), "--name", "hard", "--no-progress"]) == 0
        return capsys.readouterr().out

    return run, data_dir() / "generated" / "hard"


def digest(path: Path) -> str:
    return hashlib.sha256(Image.open(path).convert("RGB").tobytes()).hexdigest()


def test_a_run_names_what_it_left_out_and_cuts_a_long_caption(tmp_path, tiny_clip, agents, capsys):
    script, servers = agents
    outside, pool = tmp_path / "outside", tmp_path / "pool"
    outside_files(outside)
    pool_images(pool)
    (pool / "link.png").symlink_to(outside / "secret.png")
    png_bomb(pool / "bomb.png")
    (pool / "p1.txt").write_text("caption " + "x" * 2_000_000)
    run, folder = runner(tmp_path, tiny_clip, servers, capsys)

    with watching(outside) as watch:
        out = run(pool)
    assert watch["refused"] == []
    assert digest(outside / "secret.png") not in sent_pictures(servers)
    assert {digest(pool / f"p{n}.png") for n in range(3)} == sent_pictures(servers)
    assert f"LEFT OUT link.png: resolves to {os.path.realpath(outside / 'secret.png')}, outside --images {pool}" in out
    assert "LEFT OUT bomb.png: too large: 12500x12500 pixels" in out
    card = json.loads((folder / "data_card.json").read_text())
    assert [(p["where"], p["kind"]) for p in card["source"]["problems"]] == [("link.png", "left_out"), ("p1.txt", "note")]
    assert card["source"]["problems"][1]["what"] == "a text of 2000008 characters, cut to the first 2000 (source.max_text_chars)"
    assert card["source"]["left_out"] == 1
    assert card["preprocessing"]["too_large"] == 1 and card["dropped"]["too_large"][0]["origin"] == "bomb.png"
    assert "too large to decode (> source.max_pixels): 1" in out
    written = [user_text(b) for b in servers["llm"].requests if "Text that came with the image" in user_text(b)]
    assert len(written) == 1 and len(written[0]) < 10_000  # the 2 MB caption, cut
    assert ("caption " + "x" * 1992) in written[0] and "x" * 1993 not in written[0]


def test_a_rerun_on_another_folder_or_edited_pictures_redoes_exactly_what_changed(tmp_path, tiny_clip, agents, capsys):
    script, servers = agents
    pool = tmp_path / "pool"
    pool_images(pool)
    run, folder = runner(tmp_path, tiny_clip, servers, capsys)
    run(pool)
    first = pool_image_ids(folder)
    assert len(first) == 3
    assert json.loads((folder / "data_card.json").read_text())["source"]["changes_since_last_run"] == {}

    # Another folder: p1 is another picture there, p2 is gone, p3 is new. Exactly those are processed.
    pool2 = tmp_path / "pool2"
    pool_images(pool2)
    pattern(11).save(pool2 / "p1.png")
    (pool2 / "p2.png").unlink()
    pattern(13).save(pool2 / "p3.png")
    ingested = len(ingest_records(folder))
    out = run(pool2)
    assert (f"the source differs from the last run's: --images was {pool}, now {pool2}; 1 picture(s) changed (p1.png); "
            "1 new (p3.png); 1 no longer in the source (p2.png). Changed and new items are processed anew") in out
    assert sorted(r["origin"] for r in ingest_records(folder)[ingested:]) == ["p1.png", "p3.png"]
    second = pool_image_ids(folder)
    assert len(second) == 3 and len(second & first) == 1  # p0 kept its work; p1 and p2 of the first pool are gone
    assert {digest(pool2 / f"p{n}.png") for n in (1, 3)} <= sent_pictures(servers)
    card = json.loads((folder / "data_card.json").read_text())
    assert card["source"]["changes_since_last_run"] == {"where": [str(pool), str(pool2)], "pictures_changed": ["p1.png"],
                                                        "new": ["p3.png"], "gone": ["p2.png"]}

    # A picture edited in place and a caption added: only those two are processed again; the pool holds the new ones.
    pattern(20).save(pool2 / "p0.png")
    (pool2 / "p3.txt").write_text("a caption written later")
    ingested, verified = len(ingest_records(folder)), script.counts["verify"]
    out = run(pool2)
    assert ("the source differs from the last run's: 1 picture(s) changed (p0.png); 1 text(s) changed (p3.png). "
            "Changed and new items") in out
    assert sorted(r["origin"] for r in ingest_records(folder)[ingested:]) == ["p0.png", "p3.png"]
    assert script.counts["verify"] == verified + 1  # p3's picture is the same: its verification came from the cache
    third = pool_image_ids(folder)
    assert len(third) == 3 and len(third & second) == 1 and not third & first
    assert any("a caption written later" in user_text(b) for b in servers["llm"].requests)

    # The same source again: nothing differs, nothing is processed.
    ingested = len(ingest_records(folder))
    assert "the source differs" not in run(pool2) and len(ingest_records(folder)) == ingested
