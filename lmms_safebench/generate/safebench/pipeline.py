"""The run of ``lmms-safebench generate safebench``: the stages in order, what each reads from the ones before, and
the summary (the command line is described in :mod:`lmms_safebench.generate.safebench`).

A stage that is not run still has its stored results read when a later stage needs them, so ``--stages images,write``
works from the queries and scores an earlier run stored. The exit status follows :mod:`..core.run`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ...benchmarks.registry import generated_dir
from ...data import store
from ..core.config import load
from ..core.run import Run, parse_stages
from ..core.taxonomy import size
from . import KIND, STAGES
from .config import VOICES, SafeBenchConfig
from .stages import (
    TWIN_AUDIO,
    choose_taxonomy,
    collect_audio,
    collect_images,
    collect_queries,
    collect_scores,
    collect_twin_audio,
    collect_twins,
    run_audio,
    run_images,
    run_queries,
    run_scoring,
    run_twin_audio,
    run_twins,
    select,
    user_taxonomy_path,
)
from .taxonomy import load_file
from .write import write

# What each stage needs from the stages before it (their stored results are read when it runs).
_NEEDED_BY = {"queries": ("queries", "scoring", "images", "audio", "twins", "write"),
              "scoring": ("scoring", "images", "audio", "twins", "write"),
              "images": ("images", "twins", "write"), "audio": ("audio", "write"), "twins": ("twins", "write"),
              "write": ("write",)}
# Workspace stages run as part of a pipeline stage (forgotten with it by --redo).
_PARTS = {"twins": (TWIN_AUDIO,)}


def main(args) -> int:
    stages = parse_stages(args.stages, STAGES)
    redo = parse_stages(args.redo, STAGES, "--redo", empty=True)
    config_path = Path(args.config)
    config = load(config_path, SafeBenchConfig)
    folder = generated_dir(args.name, store.data_root(args.data_dir))
    if config.taxonomy not in ("paper", "identify"):  # checked before anything is created
        load_file(user_taxonomy_path(config.taxonomy, config_path.parent))
    reach = config.queries.per_call * config.queries.calls_per_scenario
    if reach < config.scoring.top_k:
        print(f"note: {config.queries.calls_per_scenario} batches of {config.queries.per_call} queries give at most "
              f"{reach} candidates per scenario, fewer than top_k = {config.scoring.top_k}", file=sys.stderr)
    run, mode = Run.open(KIND, args.name, folder, config, args.restart, progress=not args.no_progress)
    print(f"{'resuming' if mode == 'resume' else 'generating'} {folder}")
    return run.execute(lambda: _pipeline(run, config_path.parent, stages, redo))


def _pipeline(run: Run, config_dir: Path, stages: tuple[str, ...], redo: tuple[str, ...]) -> int:
    config = run.config
    before = run.ws.ledger.totals()
    for stage in redo:
        for part in (stage, *_PARTS.get(stage, ())):
            run.ws.clear(part)

    def needed(stage: str) -> bool:
        return any(s in stages for s in _NEEDED_BY[stage])

    categories, source = choose_taxonomy(run, config_dir, "taxonomy" in stages)
    run.summary.append(f"taxonomy: {size(categories)} ({source})")
    kept, images, audio, twins, twin_audio = {}, {}, {}, {}, {}
    if needed("queries"):
        if "queries" in stages:
            run_queries(run, categories)
        candidates = collect_queries(run, categories)
        run.summary.append(_queries_line(run))
    if needed("scoring"):
        if "scoring" in stages:
            run_scoring(run, categories, candidates)
        kept = select(run, categories, collect_scores(run, candidates))
        run.summary.append(_scoring_line(run, kept))
    if needed("images"):
        if config.image is None:
            run.summary.append("images: none (no `image` backend configured: no image tasks)")
        else:
            if "images" in stages:
                run_images(run, kept)
            images = collect_images(run, kept)
            run.summary.append(_images_line(run, kept, images))
    if needed("audio"):
        if config.speech is None:
            run.summary.append("audio: none (no `speech` backend configured: no audio tasks)")
        else:
            if "audio" in stages:
                run_audio(run, kept)
            audio = collect_audio(run, kept)
            voices = [v for v in VOICES if v in config.speech.voices]
            total = sum(len(r) for r in kept.values())
            run.summary.append("audio: " + ", ".join(
                f"{v} {sum(1 for q in audio.values() if v in q)} of {total}" for v in voices))
    if needed("twins"):
        if config.twins is None:
            run.summary.append("twins: none (no `twins` section in the configuration: no benign family)")
        else:
            if "twins" in stages:
                run_twins(run, categories, kept, images)
            twins = collect_twins(run, kept, images)
            if config.speech is not None:
                if "twins" in stages:
                    run_twin_audio(run, kept, twins)
                twin_audio = collect_twin_audio(run, twins)
            run.summary.append(_twins_line(run, kept, twins, twin_audio))
    if "write" in stages:
        manifest = write(run, categories, source, kept, images, audio, stages, twins, twin_audio)
        variants = [v for v in ("image", "audio_female", "audio_male", "text") if v in manifest["modalities"]]
        run.summary.append(f"wrote {run.folder}: {manifest['totals']['queries']} queries, tasks "
                           f"safebench_gen_{run.name}_{{{','.join(variants)}}} (group safebench_gen_{run.name}); "
                           "data card: data_card.md")
        benign = manifest.get("benign")
        if benign:
            variants = [v for v in ("image", "audio_female", "audio_male", "text") if v in benign["modalities"]]
            run.summary.append(f"benign twins: {benign['totals']['queries']}, tasks safebench_gen_{run.name}_benign_"
                               f"{{{','.join(variants)}}} (group safebench_gen_{run.name}_benign)")
    totals = run.ws.ledger.totals()
    now = {key: totals[key] - before[key] for key in totals}
    run.summary.append(f"this run: {now['calls']} calls made (models, pictures, speech), {now['cache_hits']} reused; "
                       f"tokens {now['prompt_tokens']} in, {now['completion_tokens']} out; cost ${now['cost_usd']:.4f}; "
                       f"refused replies {now['refusals']}. All runs: {totals['calls']} calls, "
                       f"${totals['cost_usd']:.4f}")
    run.report()
    for line in run.summary:
        print(line)
    status = run.status()
    if status:
        blocking = sum(p.blocking for p in run.problems)
        print(f"lmms-safebench: {blocking} problem(s): something was left out or a scenario is short of "
              "k (named above, and under 'problems' in manifest.json and data_card.md); everything else was built",
              file=sys.stderr)
    return status


def _sum(run: Run, key: str) -> int:
    return sum(counts.get(key, 0) for counts in run.counts.values())


def _queries_line(run: Run) -> str:
    return (f"queries: {_sum(run, 'batches_done')} of {_sum(run, 'batches_planned')} batches "
            f"({_sum(run, 'batches_rephrased')} answered after a rephrasing, {_sum(run, 'batches_refused')} refused "
            f"in every phrasing, {_sum(run, 'batches_unreadable')} unreadable); {_sum(run, 'candidates')} candidates, "
            f"{_sum(run, 'exact_duplicates')} exact and {_sum(run, 'near_duplicates')} near duplicates removed, "
            f"{_sum(run, 'unique')} unique")


def _scoring_line(run: Run, kept: dict) -> str:
    k = run.config.scoring.top_k
    short = [f"{slug} ({len(ranked)})" for slug, ranked in kept.items() if len(ranked) < k]
    line = (f"scoring: {_sum(run, 'scored')} queries scored by {len(run.config.scorer_specs)} scorer(s), "
            f"{_sum(run, 'unscored')} left unscored; kept the top {k} of each scenario: "
            f"{sum(len(r) for r in kept.values())} queries")
    return line + (f"; {len(short)} scenario(s) short of {k}: {', '.join(short)}" if short else "")


def _twins_line(run: Run, kept: dict, twins: dict, twin_audio: dict) -> str:
    total = sum(len(r) for r in kept.values())
    line = (f"twins: {len(twins)} of {total} accepted by the critic ({_sum(run, 'twins_revised')} after a revision), "
            f"{_sum(run, 'twins_rejected')} rejected after {run.config.twins.revisions} revision(s), "
            f"{_sum(run, 'twins_unchecked')} unchecked")
    if run.config.image is not None:
        line += (f"; with the query's picture: {_sum(run, 'twin_image')} harmless, {_sum(run, 'twin_image_rejected')} "
                 f"not, {_sum(run, 'twin_image_unchecked')} unchecked")
    if run.config.speech is not None:
        voices = [v for v in VOICES if v in run.config.speech.voices]
        line += "; audio: " + ", ".join(f"{v} {sum(1 for q in twin_audio.values() if v in q)}" for v in voices)
    return line


def _images_line(run: Run, kept: dict, images: dict) -> str:
    line = f"images: {len(images)} of {sum(len(r) for r in kept.values())}"
    if run.config.critic:
        line += (f" ({_sum(run, 'image_approved')} approved by the critic, {_sum(run, 'image_not_approved')} not "
                 f"approved after {run.config.images.rounds} round(s), {_sum(run, 'image_unjudged')} unjudged)")
    return line
