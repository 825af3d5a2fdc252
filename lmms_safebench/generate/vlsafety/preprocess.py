"""The preprocessing agent: from SOURCE's items to risk-relevant images, each with a subcategory.

In order, each step counting what it drops, by reason:

1. ``ingest`` (a workspace stage, concurrent): read each image's header; one of more than
   ``source.max_pixels`` pixels (a small file can declare a huge image) is decoded at a reduced scale when its
   format allows (JPEG ``draft``), else dropped undecoded (``too_large``); then decode it in full
   (``unreadable``: a header check alone passes truncated files), drop images below the minimum size
   (``too_small``; an image left out by a limit is looked at again when that limit changes), compute the
   perceptual hash (imagehash ``phash``, 64 bits) and store the image as PNG in ``work/images/`` (scaled down
   to ``source.max_side``);
2. perceptual deduplication, in source order: an image whose pHash is within ``thresholds.phash_distance``
   (Hamming) of an earlier kept one is dropped (``duplicate_image``); exact copies have distance 0;
3. near-duplicate texts: an image whose caption is an exact or near duplicate (``thresholds.text_similarity``;
   embeddings when ``text_embedding_model`` is set, else a lexical ratio) of an earlier kept one's is dropped
   (``duplicate_text``); images without text are not compared;
4. ``clip`` (batched, in-process): zero-shot classification with the transformers pipeline over the
   subcategories' CLIP prompts plus ``clip.benign_prompts``; the best label decides: a benign prompt drops the
   image (``clip_benign``), a subcategory below ``thresholds.clip_confidence`` drops it
   (``clip_low_confidence``), otherwise the subcategory is proposed. Scores are stored for every label, so a
   new threshold needs no new pass (a new model or label set does);
5. ``verify`` (a workspace stage, concurrent): the VLM sees the image, the proposed subcategory and the
   taxonomy, and replies with a description, its subcategory, whether the proposal is right and whether the
   image is risk-relevant. Dropped: ``vlm_not_relevant`` (not relevant, or no subcategory fits),
   ``vlm_recategorised`` (it chose another subcategory and ``recategorise`` is off), ``vlm_refused`` and
   ``vlm_unreadable`` (after the repair request). A call that failed for transport reasons is a problem of
   the stage and is retried by the next run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError
from tqdm import tqdm

from ...errors import DataError
from ..core.llm import FAILED, OK, REFUSED, Answer, TextLLM, chat
from ..core.problems import Unreachable
from ..core.taxonomy import by_slug, pairs
from ..core.workspace import Workspace
from ..media.embeddings import near_duplicates
from . import prompts
from .config import VLSafetyConfig
from .source import Source

REASONS = ("unreadable", "too_large", "too_small", "duplicate_image", "duplicate_text", "clip_benign", "clip_low_confidence",
           "vlm_not_relevant", "vlm_recategorised", "vlm_refused", "vlm_unreadable")


@dataclass
class Preprocessed:
    kept: list[dict]  # {"id", "origin", "text", "category", "subcategory", "description", "clip": {...}}
    counts: dict = field(default_factory=dict)  # read, each reason, kept
    dropped: dict = field(default_factory=dict)  # reason -> [{"id", "origin", "what"?}]
    problems: list[dict] = field(default_factory=list)  # items whose stage failed (retried next run)
    per_subcategory: dict = field(default_factory=dict)


def image_path(ws: Workspace, name: str):
    return ws.media("images", name)


def load_image(ws: Workspace, name: str):
    with Image.open(ws.work / "images" / name) as image:
        return image.convert("RGB")


def data_url(image, side: int) -> str:
    """A PNG data URL of ``image`` scaled to fit ``side`` (what the VLM and writer are sent)."""
    copy = image.copy()
    copy.thumbnail((side, side))
    buffer = io.BytesIO()
    copy.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------------------ 1. ingest

def _fit(opened, budget: int) -> None:
    """Ask the decoder for a reduced scale whose pixels fit ``budget``. Only JPEG can decode at 1/2, 1/4 or 1/8
    scale (``draft``); other formats ignore it and keep their size."""
    width, height = opened.size
    factor = next((f for f in (2, 4, 8) if -(-width // f) * -(-height // f) <= budget), 8)
    opened.draft(None, (max(1, width // factor), max(1, height // factor)))


def _ingest_one(ws: Workspace, item, config: VLSafetyConfig):
    def work() -> dict:
        import imagehash  # start-up cost (scipy): only when images are read

        base = {"origin": item.origin, "text": item.text}
        budget = config.source.max_pixels
        try:
            data = item.read()
            if not data:
                raise ValueError("the file is empty")
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size  # from the header: nothing is decoded yet
                if width * height > budget:
                    _fit(opened, budget)
                    if opened.size[0] * opened.size[1] > budget:
                        return {**base, "status": "too_large", "max_pixels": budget,
                                "what": f"{width}x{height} pixels ({width * height:,}), more than source.max_pixels "
                                        f"({budget:,}); not decoded"}
                opened.load()  # every pixel: a truncated file fails here
                decoded = opened.size
                image = opened.convert("RGB")
        except UnidentifiedImageError:
            return {**base, "status": "unreadable", "what": "not in an image format Pillow can read"}
        except Exception as exc:  # any reason an image cannot be had is the same outcome: named, dropped
            return {**base, "status": "unreadable", "what": f"{type(exc).__name__}: {exc}"}
        limits = config.thresholds
        if width < limits.min_width or height < limits.min_height:
            return {**base, "status": "too_small", "limits": [limits.min_width, limits.min_height],
                    "what": f"{width}x{height} pixels, below {limits.min_width}x{limits.min_height}"}
        phash = str(imagehash.phash(image))
        image.thumbnail((config.source.max_side, config.source.max_side))
        image.save(image_path(ws, f"{item.id}.png"), format="PNG")  # before the record: a record means a file
        reduced = {"decoded_at": list(decoded)} if decoded != (width, height) else {}  # a draft decode
        return {**base, "status": "ok", "width": width, "height": height, "phash": phash, **reduced}

    return work


def _still_current(config: VLSafetyConfig):
    """Whether an ingest record still holds under today's limits: an image left out as too large or too small
    is looked at again when the limit that left it out changed."""
    limits = [config.thresholds.min_width, config.thresholds.min_height]

    def current(_: str, record: dict) -> bool:
        if record.get("status") == "too_large":
            return record.get("max_pixels") == config.source.max_pixels
        if record.get("status") == "too_small":
            return record.get("limits") == limits
        return True

    return current


def ingest(ws: Workspace, source: Source, config: VLSafetyConfig, progress: bool):
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # some libraries switch this on; truncated files must fail to decode
    # source.max_pixels decides, from the header, before any decode; Pillow's warning at open would only repeat it.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    todo = {item.id: _ingest_one(ws, item, config) for item in source.items}
    result = ws.run("ingest", todo, config.concurrency, "preprocessing: decode", progress, current=_still_current(config))
    return result, ws.items("ingest")


# ------------------------------------------------------------------------------------------ 2-3. deduplication

def phash_duplicates(hashes: list[str], distance: int) -> dict[int, int]:
    """``{index: index of the earlier kept image it duplicates}``: each image is compared with the kept ones
    only (source order), by the Hamming distance of 64-bit hashes. A multi-index: two hashes within
    ``distance`` agree exactly on at least one of ``distance + 1`` bit blocks, so only images sharing a block
    are compared."""
    values = np.array([int(h, 16) for h in hashes], dtype=np.uint64)
    blocks = min(distance + 1, 64)
    edges = np.linspace(0, 64, blocks + 1).astype(int)
    masks = [((1 << int(hi - lo)) - 1, int(lo)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    buckets: list[dict[int, list[int]]] = [{} for _ in masks]
    kept: list[int] = []
    out: dict[int, int] = {}
    for index, value in enumerate(values):
        keys = [(int(value) >> shift) & mask for mask, shift in masks]
        candidates = sorted({k for b, key in enumerate(keys) for k in buckets[b].get(key, ())})
        if candidates:
            ham = np.bitwise_count(values[candidates] ^ value)
            close = np.flatnonzero(ham <= distance)
            if len(close):
                out[index] = candidates[int(close[0])]
                continue
        kept.append(index)
        for b, key in enumerate(keys):
            buckets[b].setdefault(key, []).append(index)
    return out


def deduplicate(order: list[str], records: dict[str, dict], config: VLSafetyConfig) -> tuple[list[str], dict]:
    """The ids kept after pHash and caption deduplication, and ``{reason: [dropped]}``."""
    dropped: dict[str, list[dict]] = {"duplicate_image": [], "duplicate_text": []}
    hashes = [records[i]["phash"] for i in order]
    twins = phash_duplicates(hashes, config.thresholds.phash_distance)
    for index, earlier in sorted(twins.items()):
        dropped["duplicate_image"].append({"id": order[index], "origin": records[order[index]]["origin"],
                                           "what": f"near-duplicate of {records[order[earlier]]['origin']}"})
    kept = [i for n, i in enumerate(order) if n not in twins]
    with_text = [i for i in kept if records[i].get("text")]
    if len(with_text) > 1:
        drop = set(near_duplicates([records[i]["text"] for i in with_text], config.thresholds.text_similarity,
                                   config.text_embedding_model))
        for n in sorted(drop):
            dropped["duplicate_text"].append({"id": with_text[n], "origin": records[with_text[n]]["origin"],
                                              "what": "caption near-duplicates an earlier one"})
        gone = {with_text[n] for n in drop}
        kept = [i for i in kept if i not in gone]
    return kept, dropped


# ------------------------------------------------------------------------------------------ 4. CLIP

class Clip:
    """The zero-shot pipeline, loaded on first use (a hub id or a local folder)."""

    def __init__(self, model: str, device: str):
        self.model, self.device = model, device
        self._pipe = None

    def pipe(self):
        if self._pipe is None:
            import torch
            from transformers import pipeline

            device = self.device
            if device == "auto":
                device = "cuda:0" if torch.cuda.is_available() else "cpu"
            try:
                self._pipe = pipeline("zero-shot-image-classification", model=self.model, device=device)
            except OSError as exc:
                raise DataError(f"clip.model {self.model!r}: cannot load it ({exc})") from None
        return self._pipe

    def scores(self, images: list, labels: list[str], batch_size: int) -> list[dict[str, float]]:
        out = self.pipe()(images, candidate_labels=labels, hypothesis_template="{}", batch_size=batch_size)
        if images and isinstance(out[0], dict):  # one image gives one list, not a list of lists
            out = [out]
        return [{entry["label"]: float(entry["score"]) for entry in ranking} for ranking in out]


def clip_labels(config: VLSafetyConfig, taxonomy) -> tuple[list[str], dict[str, str], str]:
    """The candidate labels, ``{label: subcategory slug or ''}`` (benign), and a digest of model and labels."""
    labels = {s.clip_prompt: s.slug for _, s in pairs(taxonomy)}
    for prompt in config.clip.benign_prompts:
        labels.setdefault(prompt, "")
    digest = hashlib.sha256(repr((config.clip.model, sorted(labels.items()))).encode()).hexdigest()[:12]
    return list(labels), labels, digest


def classify(ws: Workspace, ids: list[str], config: VLSafetyConfig, taxonomy, clip: Clip, progress: bool) -> dict:
    """Run CLIP on ``ids`` not scored yet with this model and label set (batched; each batch's records are saved
    as it finishes, so a kill loses at most one batch). Returns ``{id: record}``."""
    labels, _, digest = clip_labels(config, taxonomy)
    done = {i: r for i, r in ws.items("clip").items() if r.get("labels") == digest}
    pending = [i for i in ids if i not in done]
    started = time.perf_counter()
    size = config.clip.batch_size
    try:
        with tqdm(total=len(ids), initial=len(ids) - len(pending), desc="preprocessing: CLIP", unit="image",
                  disable=not progress) as bar:
            for start in range(0, len(pending), size):
                batch = pending[start:start + size]
                images = [load_image(ws, f"{i}.png") for i in batch]
                for item, scores in zip(batch, clip.scores(images, labels, size), strict=True):
                    record = {"id": item, "labels": digest, "scores": scores}
                    ws.put("clip", record)
                    done[item] = record
                ws.ledger.add("clip", f"clip:{config.clip.model}", items_done=len(batch))
                ws.ledger.save()
                bar.update(len(batch))
    finally:
        ws.ledger.add("clip", seconds=time.perf_counter() - started)
        ws.ledger.save()
    return done


def clip_decision(scores: dict[str, float], label_to_slug: dict[str, str], threshold: float) -> tuple[str, str, float]:
    """``(outcome, label, score)``: outcome is a subcategory slug, ``clip_benign`` or ``clip_low_confidence``."""
    label, score = max(((lab, scores.get(lab, 0.0)) for lab in label_to_slug), key=lambda pair: pair[1])
    slug = label_to_slug[label]
    if not slug:
        return "clip_benign", label, score
    if score < threshold:
        return "clip_low_confidence", label, score
    return slug, label, score


# ------------------------------------------------------------------------------------------ 5. the VLM verifier

def menu(taxonomy) -> str:
    return "\n".join(f"- {s.slug}: {s.title} ({c.title}): {s.definition}" for c, s in pairs(taxonomy))


def _verify_one(ws: Workspace, vlm: TextLLM, image_id: str, proposed: str, taxonomy, config: VLSafetyConfig):
    subs = by_slug(taxonomy)
    slugs = set(subs)

    def work() -> dict:
        _, sub = subs[proposed]
        url = data_url(load_image(ws, f"{image_id}.png"), config.vlm_image_side)
        content = [{"type": "image_url", "image_url": {"url": url}},
                   {"type": "text", "text": prompts.verify_prompt(proposed, sub.definition, menu(taxonomy))}]
        purpose = [{"type": "image_url", "image_url": {"url": url}},
                   {"type": "text", "text": prompts.PURPOSE + "\n\n" + prompts.verify_prompt(proposed, sub.definition,
                                                                                           menu(taxonomy))}]
        answer: Answer = vlm.ask("verify", chat(prompts.VERIFY_SYSTEM, content),
                                 lambda text: prompts.check_verify(text, slugs), prompts.VERIFY_SCHEMA,
                                 rephrasings=[chat(prompts.VERIFY_SYSTEM, purpose)])
        if answer.status == FAILED:
            raise Unreachable(f"the VLM call failed ({answer.error}); run again to retry")
        if answer.status != OK:
            return {"status": answer.status, "proposed": proposed, "what": answer.error}
        return {"status": OK, "proposed": proposed, **answer.value}

    return work


def verify(ws: Workspace, vlm: TextLLM, proposals: dict[str, str], taxonomy, config: VLSafetyConfig, progress: bool):
    """``{image id: verifier record}``. Items are keyed by image and proposal, so an image that CLIP proposes
    elsewhere (another CLIP model or label set) is verified again."""
    todo = {f"{i}@{slug}": _verify_one(ws, vlm, i, slug, taxonomy, config) for i, slug in proposals.items()}
    result = ws.run("verify", todo, config.concurrency, "preprocessing: VLM verifier", progress)
    records = ws.items("verify")
    return result, {i: records[f"{i}@{slug}"] for i, slug in proposals.items() if f"{i}@{slug}" in records}


def verify_decision(record: dict, recategorise: bool) -> str:
    """A subcategory slug, or the reason the image is dropped."""
    if record.get("status") != OK:
        return "vlm_refused" if record.get("status") == REFUSED else "vlm_unreadable"
    if not record["risk_relevant"] or record["subcategory"] == "none":
        return "vlm_not_relevant"
    if record["subcategory"] != record["proposed"] and not recategorise:
        return "vlm_recategorised"
    return record["subcategory"]


# ------------------------------------------------------------------------------------------ the agent

def run(ws: Workspace, source: Source, config: VLSafetyConfig, taxonomy, vlm: TextLLM, clip: Clip,
        progress: bool) -> Preprocessed:
    out = Preprocessed(kept=[], counts={"read": len(source.items)}, dropped={r: [] for r in REASONS})
    order = [item.id for item in source.items]
    result, records = ingest(ws, source, config, progress)
    out.problems += result.problems
    good = []
    for image_id in order:
        record = records.get(image_id)
        if record is None:
            continue  # its ingest failed: a problem, retried next run
        if record["status"] in ("unreadable", "too_large", "too_small"):
            out.dropped[record["status"]].append({"id": image_id, "origin": record["origin"], "what": record["what"]})
        else:
            good.append(image_id)
    kept, dups = deduplicate(good, records, config)
    out.dropped.update(dups)

    subs = by_slug(taxonomy)
    _, label_to_slug, _ = clip_labels(config, taxonomy)
    scored = classify(ws, kept, config, taxonomy, clip, progress) if kept else {}
    proposals: dict[str, str] = {}
    clip_info: dict[str, dict] = {}
    for image_id in kept:
        outcome, label, score = clip_decision(scored[image_id]["scores"], label_to_slug,
                                              config.thresholds.clip_confidence)
        clip_info[image_id] = {"label": label, "score": round(score, 4)}
        if outcome in subs:
            proposals[image_id] = outcome
        else:
            out.dropped[outcome].append({"id": image_id, "origin": records[image_id]["origin"],
                                         "what": f"best label {label!r} ({score:.3f})"})

    result, verdicts = verify(ws, vlm, proposals, taxonomy, config, progress) if proposals else (None, {})
    if result is not None:
        out.problems += result.problems
    for image_id, proposed in proposals.items():
        record = verdicts.get(image_id)
        if record is None:
            continue
        decision = verify_decision(record, config.recategorise)
        if decision not in subs:
            out.dropped[decision].append({"id": image_id, "origin": records[image_id]["origin"],
                                          "what": record.get("reason") or record.get("what") or ""})
            continue
        category, _ = subs[decision]
        out.kept.append({"id": image_id, "origin": records[image_id]["origin"], "text": records[image_id].get("text"),
                         "category": category.slug, "subcategory": decision, "description": record["description"],
                         "clip": {**clip_info[image_id], "proposed": proposed}, "recategorised": decision != proposed})
    out.counts.update({reason: len(items) for reason, items in out.dropped.items()})
    out.counts["failed"] = len(out.problems)
    out.counts["recategorised"] = sum(1 for k in out.kept if k["recategorised"])
    out.counts["kept"] = len(out.kept)
    for item in out.kept:
        out.per_subcategory[item["subcategory"]] = out.per_subcategory.get(item["subcategory"], 0) + 1
    return out


def funnel(counts: dict, thresholds) -> str:
    """Which filter removed what, in order (for the empty-pool error and the summary)."""
    names = {"unreadable": "unreadable (full decode failed)",
             "too_large": "too large to decode (> source.max_pixels)",
             "too_small": f"too small (< {thresholds.min_width}x{thresholds.min_height})",
             "duplicate_image": f"duplicate image (pHash distance <= {thresholds.phash_distance})",
             "duplicate_text": f"duplicate text (similarity >= {thresholds.text_similarity})",
             "clip_benign": "CLIP: a benign label ranked first",
             "clip_low_confidence": f"CLIP confidence < {thresholds.clip_confidence}",
             "vlm_not_relevant": "VLM verifier: not risk-relevant", "vlm_recategorised": "VLM verifier: other subcategory",
             "vlm_refused": "VLM verifier refused", "vlm_unreadable": "VLM verifier reply unreadable",
             "failed": "failed calls (retried by the next run)"}
    parts = [f"read {counts.get('read', 0)}"] + [f"{names[k]}: {counts[k]}" for k in names if counts.get(k)]
    return "; ".join(parts) + f"; kept {counts.get('kept', 0)}"
