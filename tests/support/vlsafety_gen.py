"""Synthetic image pool and scripted agents (writer, VLM verifier, checker) for `generate vlsafety`."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from helpers import write_truncated_jpeg
from loopback import LoopbackServer, Reply, media_parts, user_text
from PIL import Image, ImageDraw

from lmms_safebench.generate.vlsafety import prompts
from lmms_safebench.generate.vlsafety.config import TEXT_OPERATIONS

GREEN, BLUE, RED, YELLOW = (0, 255, 0), (0, 0, 255), (255, 0, 0), (255, 255, 0)


MOVED = {BLUE: "weapons", RED: "self_harm", YELLOW: "propaganda"}  # where the verifier puts a marked image


WORDS = ("lantern violin meadow kettle saddle prism harbour copper tulip glacier orbit parchment falcon ember "
         "quarry velvet compass thistle marble canyon walnut beacon ripple sapphire anchor").split()


def pattern(seed: int, marker=None, size: int = 160) -> Image.Image:
    """Random coloured blocks with a shape on top (distinct pHashes); an optional marker square the stand-in reads."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray((rng.random((6, 6, 3)) * 255).astype("uint8")).resize((size, size), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    x, y = (int(v) for v in rng.integers(20, size - 60, 2))
    (draw.ellipse if seed % 2 else draw.rectangle)([x, y, x + 50, y + 40], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    if marker:
        draw.rectangle([0, 0, 23, 23], fill=marker)
    return image


def marker_of(body: dict):
    """The marker colour of the image in a request (pixel 5,5), or None."""
    import base64

    for part in media_parts(body):
        url = part["image_url"]["url"]
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
        return image.getpixel((5, 5)), hashlib.sha256(image.tobytes()).hexdigest()
    return None, None


def words(seed: str, n: int = 8) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


class Agents:
    """The writer, the VLM verifier and the checker, recognised by their system prompts. Records every request by
    role, what it answered (by message hash, per run) and any request it was asked again; `hang` makes a role's
    requests after the first N hang (so a kill finds them unfinished)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.run = 0
        self.answered: dict[str, int] = {}  # message hash -> run in which it was answered
        self.repeats: list[tuple[str, int, int]] = []
        self.counts: dict[str, int] = {}
        self.hang: dict[str, int] = {}
        self.checker_saw_images = 0
        self.verifier_without_image = 0
        self.refused = self.purpose_answered = 0
        self.failing: set = set()  # marker colours whose verifier requests fail (HTTP 500)

    def role(self, body: dict) -> str:
        system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
        for role, text in (("verify", prompts.VERIFY_SYSTEM), ("generate", prompts.WRITE_SYSTEM),
                           ("check", prompts.CHECK_SYSTEM), ("augment", prompts.AUGMENT_SYSTEM)):
            if system == text:
                return role
        raise AssertionError(f"unrecognised request: {system[:80]!r}")

    def __call__(self, body: dict) -> Reply:
        role = self.role(body)
        if role == "verify" and self.failing and marker_of(body)[0] in self.failing:
            return Reply(status=500)
        key = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
        with self.lock:
            if role in self.hang and self.counts.get(role, 0) >= self.hang[role]:
                return Reply(delay=300)  # never finishes before the kill
            if key in self.answered:
                self.repeats.append((role, self.answered[key], self.run))
            self.answered[key] = self.run
            self.counts[role] = self.counts.get(role, 0) + 1
        return Reply(getattr(self, role)(body), prompt_tokens=100, completion_tokens=20)

    def verify(self, body: dict) -> str:
        colour, digest = marker_of(body)
        if colour is None:
            self.verifier_without_image += 1
        proposed = re.search(r"placed this image in the subcategory '([a-z_]+)'", user_text(body)).group(1)
        relevant = colour != GREEN
        sub = MOVED.get(colour, proposed)
        tag = "blue marker" if colour == BLUE else f"picture {digest[:8]}"
        return json.dumps({"description": f"A {tag} showing {words(digest, 4)}.", "subcategory": sub,
                           "category_confirmed": sub == proposed, "risk_relevant": relevant, "reason": "scripted"})

    def generate(self, body: dict) -> str:
        text = user_text(body)
        if "blue marker" in text:
            if prompts.PURPOSE not in text:
                self.refused += 1
                return "I'm sorry, but I can't help with that."
            self.purpose_answered += 1
        image = re.search(r"Image: (.*)", text).group(1)
        strategies = re.findall(r"^\d+\. ([a-z_]+)$", text, re.M)
        pairs = []
        for strategy in strategies:
            if strategy == "conflict":  # the same question for every image: near duplicates after the first
                pairs.append({"strategy": strategy, "question": "Is it fine to try this at home? HARMFUL-TEXT",
                              "intended_harm": "x", "key_phrase": "try at home", "conflict_direction": "benign_image"})
                continue
            marker = " HARMFUL-TEXT" if strategy == "complementarity" else ""
            pairs.append({"strategy": strategy, "question": f"{words(image + strategy)}?{marker}",
                          "intended_harm": f"harm of {strategy}", "key_phrase": words(image, 3)})
        return json.dumps({"pairs": pairs})

    def check(self, body: dict) -> str:
        if media_parts(body):
            self.checker_saw_images += 1
        question = re.search(r"<<<\n(.*)\n>>>", user_text(body), re.S).group(1)
        return json.dumps({"harmful_alone": "HARMFUL-TEXT" in question, "reason": "scripted"})

    def augment(self, body: dict) -> str:
        text = user_text(body)
        original = re.search(r"Original question: (.*)", text).group(1)
        operation = next(op for op in TEXT_OPERATIONS if prompts.AUGMENT_TEXT[op] in text)
        if operation == "paraphrase":
            return json.dumps({"question": original.upper()})  # the same after normalising: dropped
        marker = " HARMFUL-TEXT" if operation == "harder" else ""
        return json.dumps({"question": f"{operation} framing: {original}{marker}"})


def write_config(path: Path, clip_model: Path, servers: dict, **overrides) -> Path:
    config = {
        "title": "Synthetic VLSafety",
        "llm": {"model": "writer", "base_url": servers["llm"].base_url, "retry_base_delay": 0,
                "price": {"prompt": 1.0, "completion": 2.0}},
        "vlm": {"model": "verifier", "base_url": servers["vlm"].base_url, "retry_base_delay": 0},
        "checker": {"model": "checker", "base_url": servers["checker"].base_url, "retry_base_delay": 0},
        "clip": {"model": str(clip_model), "device": "cpu", "batch_size": 4, "benign_prompts": []},
        "thresholds": {"min_width": 64, "min_height": 64, "phash_distance": 6, "text_similarity": 0.97,
                       "clip_confidence": 0.0},
        "generation": {"pairs_per_image": 3},
        "augmentation": {"variants_per_sample": 2},
        "concurrency": 4,
    }
    for key, value in overrides.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    import yaml

    path.write_text(yaml.safe_dump(config))
    return path


NAME = "vls"


def make_pool(folder: Path) -> None:
    """13 files: p0..p7 distinct (p5, p6 carry a green marker: 'not risk-relevant'; p2, p4, p7 a yellow, red and
    blue one: the verifier puts them in MOVED's subcategory; the writer refuses the blue one once), an exact copy
    of p0, a near duplicate of p1 (resized, JPEG), a 20x20 image, a truncated JPEG and a text file named .png.
    Captions: p3's duplicates p2's."""
    folder.mkdir(parents=True)
    markers = {2: YELLOW, 4: RED, 5: GREEN, 6: GREEN, 7: BLUE}
    for n in range(8):
        pattern(n, markers.get(n)).save(folder / f"p{n}.png")
    (folder / "p0_copy.png").write_bytes((folder / "p0.png").read_bytes())
    pattern(1).resize((150, 150)).save(folder / "p1_near.jpg", quality=90)
    Image.new("RGB", (20, 20), (200, 10, 10)).save(folder / "tiny.png")
    write_truncated_jpeg(folder / "broken.jpg")
    (folder / "fake.png").write_text("this is not an image")
    (folder / "captions.jsonl").write_text("\n".join([
        json.dumps({"file": "p2.png", "text": "A red car parked on the street."}),
        json.dumps({"file": "p3.png", "text": "a red car parked on the street!"}),
        "{not json",
        json.dumps({"file": "missing.png", "text": "no such file"}),
    ]) + "\n")
    (folder / "p4.txt").write_text("An ordinary kitchen counter.")


@contextmanager
def agent_servers():
    """The scripted agents behind three loopback servers (writer, VLM verifier, checker)."""
    script = Agents()
    with LoopbackServer(script) as llm, LoopbackServer(script) as vlm, LoopbackServer(script) as checker:
        yield script, {"llm": llm, "vlm": vlm, "checker": checker}


