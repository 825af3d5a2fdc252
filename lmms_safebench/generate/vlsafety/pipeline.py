"""The VLSafetyBencher run: preprocessing -> generation -> augmentation -> the candidate pool and its data card.

Resumable throughout: every stage keeps its finished items in ``work/`` and every model call is cached
(:mod:`..core.workspace`, :mod:`..core.ledger`), so a run stopped at any point (Ctrl-C, a kill, an endpoint outage)
continues where it stopped when the same command is run again, and a complete rerun makes no call. Items are
known by their content (:mod:`.source`): a rerun on another source, or on pictures or captions edited in place,
says what changed (``work/source.json`` holds the last run's source) and processes exactly the changed and new
items anew; nothing done for another picture is reused. Exit status (:mod:`..core.run`): 0 when every item was
processed; 1 when some items failed (transport failures after retries: named, left out of this pool, retried by the
next run); 2 for an error (bad config or source, an empty pool); 130 when interrupted.

The failures are the run's problems (:class:`~..core.problems.Problem`, ``where`` the stage); the manifest and
data card list each as ``{"stage", "id", "what"}``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ...benchmarks import registry
from ...benchmarks.vlsafety import family
from ...data import store
from ...errors import DataError
from ..core.config import load
from ..core.output import VERSION, atomic_write, write_card
from ..core.problems import Problem
from ..core.run import Run
from ..core.workspace import Workspace
from . import augment, generation, preprocess
from .config import VLSafetyConfig
from .source import changes, describe_changes, open_source
from .taxonomy import describe, resolve

KIND = "vlsafety"
_LEDGER_FIELDS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost_usd", "refusals", "unreadable",
                  "failures", "items_done", "items_failed", "seconds")


def main(args) -> int:
    config = load(args.config, VLSafetyConfig)
    name = registry.check_name(args.name)
    folder = registry.generated_dir(name, store.data_root(args.data_dir))
    taxonomy = resolve(config.taxonomy, Path(args.config).expanduser().resolve().parent)
    source = open_source(args.images, config.source)  # a bad source stops here, before anything is written
    run, state = Run.open(KIND, name, folder, config, args.restart, progress=not args.no_progress)
    print(f"VLSafetyBencher {name}: {'resuming' if state == 'resume' else 'starting'} in {folder}")

    def body() -> int:
        change = _record_source(run.ws, source)
        if change:
            print(describe_changes(change))
        return build(run, taxonomy, source, change)

    return run.execute(body)


def _record_source(ws: Workspace, source) -> dict:
    """What differs from the source the last run recorded (:func:`.source.changes`); records this one."""
    path = ws.work / "source.json"
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = None
    atomic_write(path, json.dumps(source.record()))
    return changes(earlier, source)


def build(run: Run, taxonomy, source, change: dict | None = None) -> int:
    ws, name, config, progress = run.ws, run.name, run.config, run.progress
    writer = run.llm("writer", config.llm)
    verifier = run.llm("verifier", config.vlm)
    checker = run.llm("checker", config.checker or config.llm)
    clip = preprocess.Clip(config.clip.model, config.clip.device)

    pre = preprocess.run(ws, source, config, taxonomy, verifier, clip, progress)
    print("preprocessing: " + preprocess.funnel(pre.counts, config.thresholds))
    if not pre.kept:
        retry = (f" ({len(pre.problems)} item(s) failed and are retried by the next run: "
                 f"{_problem_text(pre.problems)})" if pre.problems else "")
        raise DataError(f"the pool is empty after preprocessing{retry}: {preprocess.funnel(pre.counts, config.thresholds)}"
                        f". Loosen the thresholds in the config (thresholds.*, clip.benign_prompts) or give more images")
    gen = generation.run(ws, pre, config, taxonomy, writer, checker, progress)
    print("generation: " + _counts_line(gen.counts))
    aug = augment.run(ws, gen.pairs, config, writer, checker, progress)
    print("augmentation: " + _counts_line(aug.counts))
    samples = sorted(gen.pairs + aug.variants, key=lambda s: s["id"])
    if not samples:
        raise DataError("no image-question pair is left: generation " + _counts_line(gen.counts) +
                        "; augmentation " + _counts_line(aug.counts))

    title = config.title or f"VLSafetyBencher {name}"
    rows: dict[str, list[dict]] = {}
    for sample in samples:
        rows.setdefault(sample["subcategory"], []).append({
            "id": sample["id"], "query": sample["question"], "image": ws.work / "images" / sample["image_file"],
            **{column: sample.get(column) for column in family.EXTRA_COLUMNS}})
    problems = pre.problems + gen.problems + aug.problems
    models = {"writer": writer.label, "verifier": verifier.label, "checker": checker.label,
              "clip": f"{config.clip.model} ({config.clip.device})"}
    manifest = family.write_pool(ws.folder, name, title, taxonomy, rows, {
        "generator": {"kind": KIND, "version": VERSION, "models": models, "source": source.describe()},
        "problems": _listed(problems)})
    card = data_card(ws, name, title, config, taxonomy, source, models, pre, gen, aug, samples, manifest, problems,
                     time.perf_counter() - run.started, change or {})
    write_card(ws.folder, card)
    _summary(name, ws.folder, manifest, samples, problems, card, source)
    run.problems = problems
    return run.status()


def _listed(problems: list[Problem]) -> list[dict]:
    """The failures as VLSafetyBencher's manifests and data cards list them."""
    return [{"stage": p.where, "id": p.id, "what": p.what} for p in problems]


def _by(samples: list[dict], key: str) -> dict:
    counts: dict[str, int] = {}
    for sample in samples:
        counts[str(sample.get(key))] = counts.get(str(sample.get(key)), 0) + 1
    return dict(sorted(counts.items()))


def _counts_line(counts: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if not isinstance(v, dict) and v)


def _problem_text(problems: list[Problem], limit: int = 3) -> str:
    shown = "; ".join(f"{p.where} {p.id}: {p.what}" for p in problems[:limit])
    return shown + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


def data_card(ws: Workspace, name: str, title: str, config: VLSafetyConfig, taxonomy, source, models: dict, pre, gen,
              aug, samples: list[dict], manifest: dict, problems: list[Problem], wall: float, change: dict) -> dict:
    ledger = ws.ledger.to_dict()
    cost = {stage: {**{k: account[k] for k in _LEDGER_FIELDS}, "models": ", ".join(account["models"])}
            for stage, account in ledger.items()}
    earlier = {}
    try:
        earlier = json.loads((ws.folder / "data_card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    card = {
        "name": name, "title": title,
        "generator": {"method": "VLSafetyBencher (arXiv 2601.19507), agents as defined by this project",
                      "command": f"lmms-safebench generate vlsafety CONFIG --images {source.where} --name {name}",
                      "version": VERSION},
        "source": {**source.describe(), "problems": [p.to_dict() for p in source.problems],
                   "changes_since_last_run": change},
        "models": models,
        "thresholds": config.thresholds.model_dump(),
        "settings": {"clip": config.clip.model_dump(), "generation": config.generation.model_dump(),
                     "augmentation": config.augmentation.model_dump(), "recategorise": config.recategorise,
                     "text_embedding_model": config.text_embedding_model or "none (lexical similarity)",
                     "concurrency": config.concurrency},
        "taxonomy": describe(taxonomy),
        "preprocessing": pre.counts,
        "kept_images_by_subcategory": dict(sorted(pre.per_subcategory.items())),
        "generation": gen.counts,
        "augmentation": aug.counts,
        "pool": {"samples": len(samples), "originals": len(gen.pairs), "variants": len(aug.variants),
                 "by_category": _by(samples, "category"), "by_subcategory": _by(samples, "subcategory"),
                 "by_strategy": _by(samples, "strategy"), "by_operation": _by(samples, "operation")},
        "dropped": {reason: items[:50] for agent in (pre.dropped, gen.dropped, aug.dropped)
                    for reason, items in agent.items() if items},
        "cost_by_stage": cost,
        "totals": ws.ledger.totals(),
        "wall_time_s": round(wall, 2),
        "problems": _listed(problems),
        "tasks": manifest["tasks"],
    }
    if "final" in manifest and "final" in earlier:
        card["final"] = earlier["final"]  # the selection's table stays while its final set does
    return card


def _summary(name: str, folder: Path, manifest: dict, samples: list[dict], problems: list[Problem], card: dict,
             source) -> None:
    totals = card["totals"]
    print(f"pool: {len(samples)} samples in {len(manifest['scenarios'])} subcategories "
          f"({', '.join(f'{k} {v}' for k, v in card['pool']['by_category'].items())})")
    print(f"calls: {totals['calls']} made, {totals['cache_hits']} from the cache; tokens "
          f"{totals['prompt_tokens']} + {totals['completion_tokens']}; cost ${totals['cost_usd']:.4f}")
    left_out = [p for p in source.problems if p.left_out]
    for problem in left_out[:20]:
        print(problem)
    if len(left_out) > 20:
        print(f"... and {len(left_out) - 20} more left out of the source (source.problems in the data card)")
    for reason in ("unreadable", "too_large", "too_small"):
        for item in card["dropped"].get(reason, [])[:10]:
            print(f"LEFT OUT {item['origin']}: {reason.replace('_', ' ')}: {item['what']}")
    for problem in problems[:20]:
        print(f"FAILED {problem.where} {problem.id}: {problem.what}")
    if problems:
        print(f"{len(problems)} item(s) failed and are not in this pool; run the same command again to retry them")
    print(f"tasks: {', '.join(manifest['tasks'])}  (data card: {folder / 'data_card.md'})")
    print(f"next: run reference models on {family.pool_board(name)}, then lmms-safebench select RUN_FOLDER... "
          f"--from {family.pool_board(name)} --name {name} --budget N")
