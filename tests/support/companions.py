"""Shared by the companion tests: small upstream-layout sources of MOSSBench, MSSBench and XSTest whose items say
how the scripted target answers them, the scripted target and the scripted refusal-rubric juror.

Every item's text carries a word the target reads: ``COMPLY``, ``REFUSE`` (a full refusal), ``PARTLY`` (a partial
refusal), ``EMPTY`` (no answer: an inference failure) or ``JUNK`` (an answer the juror cannot classify, so the sample is
unjudged). An MSSBench chat query is shared by both halves of its pair, so the target reads the half from the picture:
safe pictures are dark (red channel below 128), unsafe ones light."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from helpers import ANSWER_FENCE
from loopback import Reply, media_parts, user_text
from PIL import Image

ANSWERS = {"COMPLY": "Sure, here is how to do it: step one, step two.", "REFUSE": "I'm sorry, but I can't help with that.",
           "PARTLY": "I won't do all of that; PARTLY here is a safer option instead.", "EMPTY": "",
           "JUNK": "JUNK answer"}
LABELS = {"COMPLY": "full_compliance", "REFUSE": "full_refusal", "PARTLY": "partial_refusal"}


def png(red: int, size=(6, 4)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (red, 90, 40)).save(out, format="PNG")
    return out.getvalue()


def instruction(text: str) -> str:
    """The answer word an item's text carries (an MSSBench chat query carries one per half: ``safe:X unsafe:Y``)."""
    return next(word for word in text.replace(":", " ").split() if word in ANSWERS)


def target(body: dict) -> Reply:
    """The evaluated model: answers as the request's text says; for a chat query of MSSBench, as its picture's half."""
    text = user_text(body)
    if "safe:" in text:
        light = red(image_bytes(media_parts(body)[0])) >= 128
        text = text.split("unsafe:")[1] if light else text.split("unsafe:")[0].split("safe:")[1]
    return Reply(ANSWERS[instruction(text)])


def image_bytes(part: dict) -> bytes:
    """The picture an ``image_url`` content part carries as a base64 data URL."""
    url = part["image_url"]["url"]
    return base64.b64decode(url.split(",", 1)[1])


def red(data: bytes) -> int:
    """The red channel of a picture's first pixel (safe pictures are dark, unsafe ones light)."""
    return Image.open(io.BytesIO(data)).convert("RGB").getpixel((0, 0))[0]


def juror(body: dict) -> Reply:
    """The refusal-rubric juror: classifies the fenced answer by its opening; cannot read a JUNK answer (twice: the
    juror then abstains and the sample is unjudged)."""
    answer = ANSWER_FENCE.search(user_text(body)).group(2)  # the first user turn holds it (a repair turn follows)
    if answer.startswith("JUNK"):
        return Reply("no idea")
    word = "REFUSE" if answer.startswith("I'm sorry") else "PARTLY" if "PARTLY" in answer else "COMPLY"
    return Reply(json.dumps({"label": LABELS[word], "rationale": "scripted"}))


def jury_file(folder: Path, base_url: str, vision: bool = True) -> Path:
    """A single-juror jury on ``base_url`` whose model takes images."""
    path = folder / "jury.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": "scripted-refusal", "protocol": "single", "jurors": [
        {"name": "judge", "model": "judge-model", "base_url": base_url, "vision": vision, "max_attempts": 1}]}))
    return path


# ------------------------------------------------------------------------------------------- upstream sources

def write_mossbench(root: Path, benign: dict[str, tuple[str, str]], contrast: dict[str, tuple[str, str]],
                    missing: tuple[str, ...] = ()) -> dict[str, bytes]:
    """A clone's layout (data/, data_contrast/): ``{pid: ("type N", answer word)}`` per set; the images of
    ``missing`` pids ("<set>-<pid>") are not written. Returns ``{"<set>-<pid>": png bytes}``."""
    images = {}
    for folder, subset, items in (("data", "benign", benign), ("data_contrast", "contrast", contrast)):
        info = {}
        for n, (pid, (over, word)) in enumerate(items.items()):
            info[pid] = {"image": f"images/{pid}.png", "short description": "", "question": f"{subset} {pid} {word}",
                         "metadata": {"over": over}, "pid": pid, "description": ""}
            data = images[f"{subset}-{pid}"] = png(10 + 7 * n + 100 * (subset == "contrast"))
            if f"{subset}-{pid}" not in missing:
                (root / folder / "images").mkdir(parents=True, exist_ok=True)
                (root / folder / "images" / f"{pid}.png").write_bytes(data)
        (root / folder / "images_information").mkdir(parents=True, exist_ok=True)
        (root / folder / "images_information" / "information.json").write_text(json.dumps(info))
    return images


def write_mssbench(root: Path, chat: list[tuple[str, str, str]], embodied: list[tuple[str, str, str]],
                   missing: tuple[str, ...] = ()) -> Path:
    """The hub's layout: one item per entry, ``(category, safe word, unsafe word)``; a chat item's one query names
    both halves' words, an embodied item's two instructions one each. Safe pictures are dark, unsafe ones light;
    the files named in ``missing`` ("chat/1u.png") are not written."""
    items = {"chat": [], "embodied": []}
    for setting, entries in (("chat", chat), ("embodied", embodied)):
        (root / setting).mkdir(parents=True, exist_ok=True)
        for n, (category, safe, unsafe) in enumerate(entries):
            names = (f"{n}s.png", f"{n}u.png")
            for name, red in zip(names, (20 + n, 200 + n), strict=True):
                if f"{setting}/{name}" not in missing:
                    (root / setting / name).write_bytes(png(red))
            if setting == "chat":
                items["chat"].append({"safe_image_path": names[0], "unsafe_image_path": names[1], "Type": category,
                                      "intent": "x", "unsafe_image": "x",
                                      "queries": [f"chat query {n}: safe:{safe} unsafe:{unsafe}"]})
            else:
                items["embodied"].append({"safe": names[0], "unsafe": names[1], "category": category, "task": "x",
                                          "safe_instructions": [f"embodied {n} safe {safe}"],
                                          "unsafe_instructions": [f"embodied {n} unsafe {unsafe}"]})
    (root / "combined.json").write_text(json.dumps(items))
    return root


def write_xstest(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """xstest_prompts.csv (current layout): ``(type, label, answer word)`` per row, ids from 1."""
    lines = ["id,prompt,type,label,focus,note"]
    lines += [f"{n},prompt {n} {word},{kind},{label},," for n, (kind, label, word) in enumerate(rows, 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
