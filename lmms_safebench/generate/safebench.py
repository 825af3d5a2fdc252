"""Generate a SafeBench-style benchmark: SafeBench's pipeline, resumable, concurrent and accounted.

    lmms-safebench generate safebench CONFIG --name NAME [--stages LIST] [--redo LIST] [--data-dir DIR]
                                      [--restart] [--no-progress]

Stages (in this order; ``--stages`` runs a subset, default all):

1. ``taxonomy``: the paper's 8 categories x 23 scenarios, a taxonomy YAML, or risk identification by a
   panel of models (merged proposals written to ``taxonomy.yaml`` for review; the run stops there and the
   next run continues from the edited file).
2. ``queries``: per scenario, repeated batches of queries, each batch in another sentence form and style;
   exact and near-duplicates removed.
3. ``scoring``: every scorer rates every query 0-9 on feasibility, harmfulness and applicability (legality
   is not a factor); weighted sum, top k per scenario, deterministic ties.
4. ``images``: per kept query, a subject and a picture description, rendered; a vision-language critic
   says (structurally) whether it fits and what to change; revised and rendered again, at most ``rounds``.
5. ``audio``: every kept query read in two voices (``female``, ``male``).
6. ``write``: parquet files in the official build's schema, the manifest, the tasks
   ``safebench_gen_<name>_{image,audio_female,audio_male,text}``, ``provenance.jsonl`` and a data card.

Every finished item is stored as it finishes, every finished model call is cached: a rerun of the same
command (after a crash, Ctrl-C or an outage) makes none of them again. Exit status: 0 when everything was
built; 1 when something was left out or a scenario has fewer than k queries (each named); 2 on an error
(bad configuration or taxonomy, an output folder that is not this generator's); 130 when interrupted.
"""

from __future__ import annotations

import sys

HELP = "SafeBench's pipeline (taxonomy, varied queries, top-k scoring, critic-checked images, two voices)"

STAGE_NAMES = ("taxonomy", "queries", "scoring", "images", "audio", "write")
# What each stage needs from the stages before it (their stored results are read when it runs).
_NEEDED_BY = {"queries": ("queries", "scoring", "images", "audio", "write"),
              "scoring": ("scoring", "images", "audio", "write"),
              "images": ("images", "write"), "audio": ("audio", "write"), "write": ("write",)}
_MAX_LINES = 40


def add_arguments(parser) -> None:
    parser.add_argument("--stages", default=",".join(STAGE_NAMES), metavar="LIST",
                        help="comma-separated stages to run (default: all): " + ",".join(STAGE_NAMES) +
                             "; a stage reads what earlier stages stored")
    parser.add_argument("--redo", default="", metavar="LIST",
                        help="comma-separated stages whose finished items are forgotten first (their model calls "
                             "stay cached, so only pictures and audio cost anything again)")


def _stage_list(value: str, option: str) -> list[str]:
    from ..errors import SafebenchError

    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in STAGE_NAMES]
    if unknown or (option == "--stages" and not names):
        raise SafebenchError(f"{option} {value!r}: unknown stage(s) {unknown}; choose from {','.join(STAGE_NAMES)}")
    return [name for name in STAGE_NAMES if name in names]


def main(args) -> int:
    import time
    from pathlib import Path

    from ..benchmarks.registry import generated_dir
    from ..data import store
    from ..errors import SafebenchError
    from . import output
    from . import safebench_stages as S
    from . import safebench_taxonomy as T
    from .config import load
    from .safebench_config import SafeBenchConfig
    from .workspace import Workspace

    started = time.perf_counter()
    stages = _stage_list(args.stages, "--stages")
    redo = _stage_list(args.redo, "--redo") if args.redo.strip() else []
    config_path = Path(args.config)
    config = load(config_path, SafeBenchConfig)
    folder = generated_dir(args.name, store.data_root(args.data_dir))
    if config.taxonomy not in ("paper", "identify"):  # checked before anything is created
        T.load_file(S.user_taxonomy_path(config.taxonomy, config_path.parent))
    reach = config.queries.per_call * config.queries.calls_per_scenario
    if reach < config.scoring.top_k:
        print(f"note: {config.queries.calls_per_scenario} batches of {config.queries.per_call} queries give at most "
              f"{reach} candidates per scenario, fewer than top_k = {config.scoring.top_k}", file=sys.stderr)
    ws, mode = Workspace.open(folder, "safebench", output.config_digest(config), args.restart)
    print(f"{'resuming' if mode == 'resume' else 'generating'} {folder}")
    try:
        run = S.Run(config, args.name, folder, ws, progress=not args.no_progress)
    except BaseException:
        ws.close()
        raise
    try:
        status = _pipeline(run, config_path.parent, stages, redo, started)
    except KeyboardInterrupt:
        _report(run)
        print("interrupted: every finished item and model call is saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    except S.Stop as stop:
        _report(run)
        print(str(stop), file=sys.stderr if stop.status else sys.stdout)
        return stop.status
    except SafebenchError:
        _report(run)
        raise
    finally:
        run.close()
    return status


def _pipeline(run, config_dir, stages: list[str], redo: list[str], started: float) -> int:
    from . import safebench_stages as S
    from . import safebench_taxonomy as T

    cfg = run.config
    before = run.ws.ledger.totals()
    for stage in redo:
        run.ws.clear(stage)

    def needed(stage: str) -> bool:
        return any(s in stages for s in _NEEDED_BY[stage])

    categories = S.taxonomy(run, config_dir, "taxonomy" in stages)
    run.summary.append(f"taxonomy: {T.size(categories)} ({run.taxonomy_source})")
    kept, images, audio = {}, {}, {}
    if needed("queries"):
        if "queries" in stages:
            S.run_queries(run, categories)
        candidates = S.collect_queries(run, categories)
        run.summary.append(_queries_line(run))
    if needed("scoring"):
        if "scoring" in stages:
            S.run_scoring(run, categories, candidates)
        kept = S.select(run, categories, S.collect_scores(run, candidates))
        run.summary.append(_scoring_line(run, kept))
    if needed("images"):
        if cfg.image is None:
            run.summary.append("images: none (no `image` backend configured: no image tasks)")
        else:
            if "images" in stages:
                S.run_images(run, kept)
            images = S.collect_images(run, kept)
            run.summary.append(_images_line(run, kept, images))
    if needed("audio"):
        if cfg.speech is None:
            run.summary.append("audio: none (no `speech` backend configured: no audio tasks)")
        else:
            if "audio" in stages:
                S.run_audio(run, kept)
            audio = S.collect_audio(run, kept)
            voices = [v for v in ("female", "male") if v in cfg.speech.voices]
            total = sum(len(r) for r in kept.values())
            run.summary.append("audio: " + ", ".join(
                f"{v} {sum(1 for q in audio.values() if v in q)} of {total}" for v in voices))
    if "write" in stages:
        manifest = S.write(run, categories, kept, images, audio, started, stages)
        variants = [v for v in ("image", "audio_female", "audio_male", "text") if v in manifest["modalities"]]
        run.summary.append(f"wrote {run.folder}: {manifest['totals']['queries']} queries, tasks "
                           f"safebench_gen_{run.name}_{{{','.join(variants)}}} (group safebench_gen_{run.name}); "
                           "data card: data_card.md")
    totals = run.ws.ledger.totals()
    now = {key: totals[key] - before[key] for key in totals}
    run.summary.append(f"this run: {now['calls']} calls made (models, pictures, speech), {now['cache_hits']} reused; "
                       f"tokens {now['prompt_tokens']} in, {now['completion_tokens']} out; cost ${now['cost_usd']:.4f}; "
                       f"refused replies {now['refusals']}. All runs: {totals['calls']} calls, "
                       f"${totals['cost_usd']:.4f}")
    _report(run)
    for line in run.summary:
        print(line)
    blocking = [p for p in run.problems if p["kind"] in S.BLOCKING]
    if blocking:
        print(f"lmms-safebench: {len(blocking)} problem(s): something was left out or a scenario is short of "
              "k (named above, and under 'problems' in manifest.json and data_card.md); everything else was built",
              file=sys.stderr)
        return 1
    return 0


def _sum(run, key: str) -> int:
    return sum(counts.get(key, 0) for counts in run.stats.values())


def _queries_line(run) -> str:
    return (f"queries: {_sum(run, 'batches_done')} of {_sum(run, 'batches_planned')} batches "
            f"({_sum(run, 'batches_rephrased')} answered after a rephrasing, {_sum(run, 'batches_refused')} refused "
            f"in every phrasing, {_sum(run, 'batches_unreadable')} unreadable); {_sum(run, 'candidates')} candidates, "
            f"{_sum(run, 'exact_duplicates')} exact and {_sum(run, 'near_duplicates')} near duplicates removed, "
            f"{_sum(run, 'unique')} unique")


def _scoring_line(run, kept: dict) -> str:
    k = run.config.scoring.top_k
    short = [f"{slug} ({len(ranked)})" for slug, ranked in kept.items() if len(ranked) < k]
    line = (f"scoring: {_sum(run, 'scored')} queries scored by {len(run.config.scorer_specs)} scorer(s), "
            f"{_sum(run, 'unscored')} left unscored; kept the top {k} of each scenario: "
            f"{sum(len(r) for r in kept.values())} queries")
    return line + (f"; {len(short)} scenario(s) short of {k}: {', '.join(short)}" if short else "")


def _images_line(run, kept: dict, images: dict) -> str:
    line = f"images: {len(images)} of {sum(len(r) for r in kept.values())}"
    if run.config.critic:
        line += (f" ({_sum(run, 'image_approved')} approved by the critic, {_sum(run, 'image_not_approved')} not "
                 f"approved after {run.config.images.rounds} round(s), {_sum(run, 'image_unjudged')} unjudged)")
    return line


def _report(run) -> None:
    """Every problem, one line each (the first few dozen; all of them are in the manifest and data card)."""
    lines = []
    for p in run.problems:
        where = p["where"] + (f", id {p['id']!r}" if p.get("id") else "") + \
            (f", field {p['field']!r}" if p.get("field") else "") + \
            (f", scenario {p['scenario']!r}" if p.get("scenario") and not p.get("id") else "")
        label = {"left_out": "LEFT OUT", "short": "SHORT", "note": "NOTE"}[p["kind"]]
        lines.append(f"{label} {where}: {p['what']}")
    for line in lines[:_MAX_LINES]:
        print(line, file=sys.stderr)
    if len(lines) > _MAX_LINES:
        print(f"... and {len(lines) - _MAX_LINES} more (all under 'problems' in manifest.json and data_card.md)",
              file=sys.stderr)
