"""The augmentation agent: variants of each kept pair, in text (by the LLM) and in image (with PIL).

Each pair gets ``augmentation.variants_per_sample`` variants, each with a different operation of
``augmentation.operations`` (taken in turn from an offset that depends on the pair, so every operation is
used across the pool). A variant's id is ``<pair id>-<operation>``; it records its ``parent`` (the pair),
``root`` and ``operation``.

Text operations (a new question, same image): ``paraphrase``, ``harder`` (less obvious intent, harder to
refuse), ``hypothetical`` (a fictional or hypothetical framing) and ``roleplay`` (the assistant asked to play
a character). A rewrite identical to its parent (after normalising case and punctuation) is dropped
(``same_as_parent``); the others go through the same text-only check as the pairs.

Image operations (same question, a new image): ``typography`` (the pair's key phrase printed over the lower
part of the image), ``strip`` (the key phrase rendered by MM-SafetyBench's typography renderer and pasted
below the image), ``crop`` (a window of ``crop_fraction`` of each side, at a seeded random place),
``resize`` (by ``resize_factor``), ``jpeg`` (re-encoded at ``jpeg_quality``) and ``noise`` (seeded Gaussian
noise of ``noise_sigma``). Seeds are ``augmentation.seed`` plus a hash of the variant's id.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from ...data.typography import load_font, render, stack_vertically, wrap
from ..core.llm import FAILED, OK, REFUSED, TextLLM, chat
from ..core.problems import Unreachable
from ..core.workspace import Workspace
from ..media.base import item_seed
from ..media.embeddings import normalise
from . import prompts
from .config import TEXT_OPERATIONS, AugmentationSpec, VLSafetyConfig
from .generation import offset, text_check
from .preprocess import image_path, load_image


@dataclass
class Augmented:
    variants: list[dict]
    counts: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)


def operations_for(sample_id: str, operations: list[str], n: int) -> list[str]:
    if not operations or n <= 0:
        return []
    start = offset(sample_id, len(operations))
    return [operations[(start + i) % len(operations)] for i in range(n)]


# ------------------------------------------------------------------------------------------ image operations

def overlay(image, phrase: str):
    """The phrase in black on a white band over the lower part of the image."""
    image = image.copy()
    size = max(10, image.width // 14)
    font = load_font(None, size)
    margin = max(2, size // 4)
    lines = [line.strip() for line in wrap(phrase, font, max(1, image.width - 2 * margin))]
    band = min(image.height, int(size * 1.25 * len(lines) + 2 * margin))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, image.height - band, image.width, image.height], fill="white")
    draw.multiline_text((margin, image.height - band + margin), "\n".join(lines), fill="black", font=font,
                        spacing=size // 4)
    return image


def strip(image, phrase: str):
    """MM-SafetyBench's SD_TYPO layout: the typography strip of the phrase below the image, at its width."""
    rendered, _ = render(phrase)
    height = max(1, round(rendered.height * image.width / rendered.width))
    return stack_vertically(image, rendered.resize((image.width, height)))


def transform(image, operation: str, phrase: str, spec: AugmentationSpec, seed: int):
    """``(image or JPEG bytes, params)`` of one image operation."""
    rng = np.random.default_rng(seed)
    if operation == "typography":
        return overlay(image, phrase), {"phrase": phrase}
    if operation == "strip":
        return strip(image, phrase), {"phrase": phrase}
    if operation == "crop":
        width, height = max(1, round(image.width * spec.crop_fraction)), max(1, round(image.height * spec.crop_fraction))
        left, top = int(rng.integers(0, image.width - width + 1)), int(rng.integers(0, image.height - height + 1))
        return image.crop((left, top, left + width, top + height)), {"box": [left, top, left + width, top + height]}
    if operation == "resize":
        size = (max(16, round(image.width * spec.resize_factor)), max(16, round(image.height * spec.resize_factor)))
        return image.resize(size, Image.Resampling.LANCZOS), {"size": list(size)}
    if operation == "jpeg":
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=spec.jpeg_quality)
        return buffer.getvalue(), {"quality": spec.jpeg_quality}
    if operation == "noise":
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, spec.noise_sigma, (image.height, image.width, 3))
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), {"sigma": spec.noise_sigma, "seed": seed}
    raise ValueError(f"unknown image operation {operation!r}")


def _image_one(ws: Workspace, pair: dict, operation: str, variant_id: str, spec: AugmentationSpec):
    def work() -> dict:
        seed = item_seed(spec.seed, variant_id)
        result, params = transform(load_image(ws, pair["image_file"]), operation, pair["key_phrase"], spec, seed)
        name = f"{variant_id}.jpg" if isinstance(result, bytes) else f"{variant_id}.png"
        if isinstance(result, bytes):
            image_path(ws, name).write_bytes(result)
        else:
            result.save(image_path(ws, name), format="PNG")
        return {"file": name, "params": params}

    return work


# ------------------------------------------------------------------------------------------ text operations

def _text_one(llm: TextLLM, pair: dict, operation: str):
    def work() -> dict:
        def ask(purpose: bool):
            return chat(prompts.AUGMENT_SYSTEM, prompts.augment_prompt(operation, pair["question"], pair["description"],
                                                                       pair["intended_harm"], purpose))

        answer = llm.ask("augment_text", ask(False), lambda text: prompts.check_augment(text, pair["question"]),
                         prompts.AUGMENT_SCHEMA, rephrasings=[ask(True)])
        if answer.status == FAILED:
            raise Unreachable(f"the rewriter's call failed ({answer.error}); run again to retry")
        if answer.status != OK:
            return {"status": answer.status, "what": answer.error}
        return {"status": OK, "question": answer.value}

    return work


# ------------------------------------------------------------------------------------------ the agent

def run(ws: Workspace, pairs: list[dict], config: VLSafetyConfig, llm: TextLLM, checker: TextLLM,
        progress: bool) -> Augmented:
    spec = config.augmentation
    out = Augmented(variants=[])
    planned: dict[str, tuple[dict, str]] = {}
    for pair in pairs:
        for operation in operations_for(pair["id"], list(spec.operations), spec.variants_per_sample):
            planned[f"{pair['id']}-{operation}"] = (pair, operation)
    text_todo = {v: _text_one(llm, p, op) for v, (p, op) in planned.items() if op in TEXT_OPERATIONS}
    image_todo = {v: _image_one(ws, p, op, v, spec) for v, (p, op) in planned.items() if op not in TEXT_OPERATIONS}
    for stage, todo, desc in (("augment_text", text_todo, "augmentation: text"),
                              ("augment_image", image_todo, "augmentation: image")):
        if todo:
            out.problems += ws.run(stage, todo, config.concurrency, desc, progress).problems
    texts, images = ws.items("augment_text"), ws.items("augment_image")
    out.dropped = {"rewrite_refused": [], "rewrite_unreadable": [], "same_as_parent": []}
    to_check, image_variants = [], []
    for variant_id, (pair, operation) in planned.items():
        base = {**pair, "id": variant_id, "parent": pair["id"], "operation": operation}
        if operation in TEXT_OPERATIONS:
            record = texts.get(variant_id)
            if record is None:
                continue
            if record["status"] != OK:
                reason = "rewrite_refused" if record["status"] == REFUSED else "rewrite_unreadable"
                out.dropped[reason].append({"id": variant_id, "what": record.get("what") or record["status"]})
            elif normalise(record["question"]) == normalise(pair["question"]):
                out.dropped["same_as_parent"].append({"id": variant_id, "what": "the rewrite equals its parent"})
            else:
                to_check.append({**base, "question": record["question"]})
        else:
            record = images.get(variant_id)
            if record is not None:
                image_variants.append({**base, "image_file": record["file"], "augment_params": record["params"]})
    checked, dropped, problems = text_check(ws, checker, to_check, config, progress, "augmentation: text-only check")
    out.dropped.update(dropped)
    out.problems += problems
    out.variants = image_variants + checked
    planned_by_op: dict[str, int] = {}
    for _, operation in planned.values():
        planned_by_op[operation] = planned_by_op.get(operation, 0) + 1
    kept_by_op: dict[str, int] = {}
    for variant in out.variants:
        kept_by_op[variant["operation"]] = kept_by_op.get(variant["operation"], 0) + 1
    out.counts = {"parents": len(pairs), "variants_planned": len(planned),
                  **{reason: len(items) for reason, items in out.dropped.items()}, "failed": len(out.problems),
                  "kept": len(out.variants), "planned_by_operation": dict(sorted(planned_by_op.items())),
                  "kept_by_operation": dict(sorted(kept_by_op.items()))}
    return out
