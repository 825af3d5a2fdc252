"""The generation agent: k image-question pairs per kept image, and the text-only check.

Each image gets ``generation.pairs_per_image`` (k) pairs in one writer call; pair j uses the strategies of the
config in turn, starting at an offset that depends on the image (so with k = 1 the strategies still spread
over the pool). The writer sees the verifier's description of the image (and the image itself with
``writer_sees_image``), the subcategory, any text that came with the image, and the strategies' definitions
(:data:`.prompts.STRATEGY_TEXT`). Each pair records its strategy, category, subcategory, intended harm and key
phrase (and a conflict's direction).

Then, in order: questions that are exact or near duplicates of an earlier pair's are dropped
(``duplicate_question``), and the text-only checker sees each question without its image: a pair whose text
alone already carries the harm is rejected (``text_carries_harm``) when its strategy says the text must not
(every strategy except a conflict whose harmful side is the text, see :func:`.prompts.text_must_be_benign`);
a check that was refused or unreadable rejects the pair too (``check_unresolved``: never passed unchecked).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..core.llm import FAILED, OK, REFUSED, TextLLM, chat
from ..core.problems import Unreachable
from ..core.taxonomy import by_slug
from ..core.workspace import Workspace
from ..media.embeddings import near_duplicates
from . import prompts
from .config import VLSafetyConfig
from .preprocess import Preprocessed, data_url, load_image


@dataclass
class Generated:
    pairs: list[dict]  # the kept pairs (samples)
    counts: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)  # reason -> [{"id", "what"}]
    problems: list[dict] = field(default_factory=list)


def offset(item: str, size: int) -> int:
    return int(hashlib.sha256(item.encode()).hexdigest()[:8], 16) % size


def strategies_for(image_id: str, k: int, strategies: list[str]) -> list[str]:
    start = offset(image_id, len(strategies))
    return [strategies[(start + j) % len(strategies)] for j in range(k)]


def _write_one(ws: Workspace, llm: TextLLM, image: dict, config: VLSafetyConfig, taxonomy):
    def work() -> dict:
        category, sub = by_slug(taxonomy)[image["subcategory"]]
        wanted = strategies_for(image["id"], config.generation.pairs_per_image, list(config.generation.strategies))
        picture = ([{"type": "image_url", "image_url": {"url": data_url(load_image(ws, f"{image['id']}.png"),
                                                                         config.vlm_image_side)}}]
                   if config.generation.writer_sees_image else [])

        def content(purpose: bool):
            text = prompts.write_prompt(image["description"], category.title, sub.title, sub.definition,
                                        image.get("text"), wanted, purpose)
            return [*picture, {"type": "text", "text": text}] if picture else text

        answer = llm.ask("generate", chat(prompts.WRITE_SYSTEM, content(False)),
                         lambda text: prompts.check_pairs(text, wanted), prompts.PAIR_SCHEMA,
                         rephrasings=[chat(prompts.WRITE_SYSTEM, content(True))])
        if answer.status == FAILED:
            raise Unreachable(f"the writer's call failed ({answer.error}); run again to retry")
        if answer.status != OK:
            return {"status": answer.status, "strategies": wanted, "what": answer.error}
        return {"status": OK, "strategies": wanted, "pairs": answer.value}

    return work


def _check_one(checker: TextLLM, question: str):
    def work() -> dict:
        answer = checker.ask("textcheck", chat(prompts.CHECK_SYSTEM, prompts.check_prompt(question)),
                             prompts.check_check, prompts.CHECK_SCHEMA,
                             rephrasings=[chat(prompts.CHECK_SYSTEM, prompts.PURPOSE + "\n\n" +
                                               prompts.check_prompt(question))])
        if answer.status == FAILED:
            raise Unreachable(f"the checker's call failed ({answer.error}); run again to retry")
        if answer.status != OK:
            return {"status": answer.status, "question": question, "what": answer.error}
        return {"status": OK, "question": question, **answer.value}

    return work


def text_check(ws: Workspace, checker: TextLLM, samples: list[dict], config: VLSafetyConfig, progress: bool,
               desc: str) -> tuple[list[dict], dict, list[dict]]:
    """``(passed, {reason: [dropped]}, problems)``. Samples that need no check pass with ``text_check``
    ``not_required``; the others need a check that said the text alone is not harmful."""
    need = [s for s in samples if config.generation.text_check
            and prompts.text_must_be_benign(s["strategy"], s.get("conflict_direction"))]
    result = ws.run("textcheck", {s["id"]: _check_one(checker, s["question"]) for s in need}, config.concurrency,
                    desc, progress)
    records = ws.items("textcheck")
    checked = {s["id"] for s in need}
    passed, dropped = [], {"text_carries_harm": [], "check_unresolved": []}
    for sample in samples:
        if sample["id"] not in checked:
            passed.append({**sample, "text_check": "not_required" if config.generation.text_check else "off"})
            continue
        record = records.get(sample["id"])
        if record is None:
            continue  # its check failed: a problem, retried next run
        if record.get("status") != OK:
            dropped["check_unresolved"].append({"id": sample["id"], "strategy": sample["strategy"],
                                                "what": record.get("what") or record.get("status")})
        elif record["harmful_alone"]:
            dropped["text_carries_harm"].append({"id": sample["id"], "strategy": sample["strategy"],
                                                 "what": record.get("reason", "")})
        else:
            passed.append({**sample, "text_check": "passed"})
    return passed, dropped, result.problems


def run(ws: Workspace, pre: Preprocessed, config: VLSafetyConfig, taxonomy, llm: TextLLM, checker: TextLLM,
        progress: bool) -> Generated:
    out = Generated(pairs=[])
    todo = {image["id"]: _write_one(ws, llm, image, config, taxonomy) for image in pre.kept}
    result = ws.run("generate", todo, config.concurrency, "generation: writer", progress)
    out.problems += result.problems
    records = ws.items("generate")
    candidates: list[dict] = []
    out.dropped = {"writer_refused": [], "writer_unreadable": [], "duplicate_question": []}
    written = 0
    for image in pre.kept:
        record = records.get(image["id"])
        if record is None:
            continue
        if record["status"] != OK:
            reason = "writer_refused" if record["status"] == REFUSED else "writer_unreadable"
            out.dropped[reason].append({"id": image["id"], "what": record.get("what") or record["status"]})
            continue
        for j, pair in enumerate(record["pairs"]):
            written += 1
            sample_id = f"{image['id']}-p{j}"
            candidates.append({**pair, "id": sample_id, "image_id": image["id"], "image_file": f"{image['id']}.png",
                               "category": image["category"], "subcategory": image["subcategory"],
                               "description": image["description"], "origin": image["origin"], "parent": None,
                               "operation": "original", "root": sample_id})
    drop = set(near_duplicates([c["question"] for c in candidates], config.thresholds.text_similarity,
                               config.text_embedding_model)) if len(candidates) > 1 else set()
    for index in sorted(drop):
        out.dropped["duplicate_question"].append({"id": candidates[index]["id"], "strategy": candidates[index]["strategy"],
                                                  "what": "near-duplicates an earlier question"})
    candidates = [c for n, c in enumerate(candidates) if n not in drop]
    out.pairs, checked, problems = text_check(ws, checker, candidates, config, progress, "generation: text-only check")
    out.dropped.update(checked)
    out.problems += problems
    images_done = sum(1 for image in pre.kept if image["id"] in records)
    out.counts = {"images": len(pre.kept), "pairs_requested": images_done * config.generation.pairs_per_image,
                  "pairs_written": written, **{reason: len(items) for reason, items in out.dropped.items()},
                  "failed": len(out.problems), "kept": len(out.pairs)}
    out.counts["text_carries_harm_by_strategy"] = _by(out.dropped["text_carries_harm"], "strategy")
    out.counts["kept_by_strategy"] = _by(out.pairs, "strategy")
    return out


def _by(items: list[dict], key: str) -> dict:
    counts: dict[str, int] = {}
    for item in items:
        counts[item[key]] = counts.get(item[key], 0) + 1
    return dict(sorted(counts.items()))
