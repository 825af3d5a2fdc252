"""The ``write`` stage of the SafeBench-style pipeline: the benchmark folder, rewritten from the stored items.

Parquet files in the official build's schema and the task folders (the family writer,
:func:`lmms_safebench.benchmarks.safebench.family.write`), ``provenance.jsonl`` (one line per kept query: scores,
rank, image rounds, audio files) and the data card (what was asked, made, spent and left out).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from ...benchmarks.safebench.family import write as write_safebench
from ...errors import DataError
from ..core.output import atomic_write, config_digest, write_card
from ..core.run import Run
from ..core.taxonomy import Category, pairs
from .config import VOICES
from .stages import TWIN_AUDIO, Scored

# A problem in the manifest and data card, keys in the order SafeBench-style benchmarks have always listed them.
PROBLEM_KEYS = ("where", "id", "field", "scenario", "what", "kind")


def write(run: Run, categories: list[Category], source: str, kept: dict[str, list[Scored]], images: dict,
          audio: dict, stages: tuple[str, ...], twins: dict | None = None, twin_audio: dict | None = None) -> dict:
    """The benchmark folder: parquet files and tasks (:func:`lmms_safebench.benchmarks.safebench.family.write`), provenance and the
    data card. Scenarios without a kept query are left out of the tasks (and named). ``source``: where the
    taxonomy came from. ``twins``: the accepted benign twins (``{query id: record}``), written as the companion
    family with ``twin_audio`` (``{query id: {voice: record}}``); none: no companion."""
    twins, twin_audio = twins or {}, twin_audio or {}
    rows, benign, written = {}, {}, []
    for category in categories:
        present = []
        for scenario in category.scenarios:
            ranked = kept.get(scenario.slug, [])
            if not ranked:
                run.problem("write", "no query to write: the scenario is left out of the tasks",
                            scenario=scenario.slug)
                continue
            present.append(scenario)
            rows[scenario.slug] = [{
                "id": s.query.id, "query": s.query.text,
                "image": (run.folder / images[s.query.id]["final"]).read_bytes() if s.query.id in images else None,
                **{f"audio_{v}": (run.folder / audio[s.query.id][v]["file"]).read_bytes()
                   if v in audio.get(s.query.id, {}) else None for v in VOICES}} for s in ranked]
            benign[scenario.slug] = [_twin_row(run, s.query.id, twins[s.query.id], twin_audio.get(s.query.id, {}))
                                     for s in ranked if s.query.id in twins]
        if present:
            written.append(replace(category, scenarios=tuple(present)))
    if not written:
        raise DataError("nothing to write: no scenario has a scored query (see the problems above)")
    for stale in run.folder.glob("*.parquet"):  # scenarios of an earlier write that are gone now
        stale.unlink()
    title = run.config.title or f"SafeBench-style benchmark {run.name}"
    generator = {"kind": "safebench", "command": f"lmms-safebench generate safebench CONFIG --name {run.name}",
                 "config_digest": config_digest(run.config), "taxonomy": source,
                 "top_k": run.config.scoring.top_k}
    problems = [p.to_dict(PROBLEM_KEYS) for p in run.problems]
    twin_problems = [p for p in problems if p["where"] in ("twins", TWIN_AUDIO)]
    manifest = write_safebench(run.folder, run.name, title, written, rows,
                               {"generator": generator, "problems": problems},
                               benign if twins else None, {"generator": generator, "problems": twin_problems})
    _write_provenance(run, kept, images, audio, twin_audio)
    write_card(run.folder, data_card(run, title, categories, source, manifest, stages, problems))
    return manifest


def _twin_row(run: Run, query_id: str, twin: dict, voices: dict) -> dict:
    """A twin's row: the query's id (so it pairs with its harmful query), the twin's text, the query's picture when the
    critic found the pair harmless, the twin read in each voice."""
    picture = twin.get("picture") or {}
    return {"id": query_id, "query": twin["twin"],
            "image": (run.folder / picture["file"]).read_bytes() if picture.get("benign") else None,
            **{f"audio_{v}": (run.folder / voices[v]["file"]).read_bytes() if v in voices else None for v in VOICES}}


def _write_provenance(run: Run, kept: dict[str, list[Scored]], images: dict, audio: dict,
                      twin_audio: dict) -> None:
    lines, stored = [], run.ws.items("twins") if run.config.twins else {}
    for ranked in kept.values():
        for rank, s in enumerate(ranked, 1):
            q = s.query
            lines.append(json.dumps({
                "id": q.id, "scenario": q.scenario, "category": q.category, "query": q.text, "rank": rank,
                "score": s.score, "axes": s.axes, "ratings": s.ratings, "batch": q.batch, "position": q.position,
                "form": q.form, "style": q.style,
                "image": {k: images[q.id][k] for k in ("subject", "seed", "rounds", "final", "approved", "critic")}
                if q.id in images else None,
                "audio": {v: r["file"] for v, r in audio.get(q.id, {}).items()} or None,
                **({"twin": _twin_provenance(stored.get(q.id), twin_audio.get(q.id, {}))} if run.config.twins else {})},
                ensure_ascii=False))
    atomic_write(run.folder / "provenance.jsonl", "\n".join(lines) + "\n")


def _twin_provenance(record: dict | None, voices: dict) -> dict | None:
    """A kept query's twin, accepted or not (every round with the critic's verdict), from its stored item."""
    if record is None:
        return None
    return {"text": record["twin"], "accepted": record["accepted"], "rounds": record["rounds"],
            "critic": record["critic"], "picture": record.get("picture"),
            "audio": {v: r["file"] for v, r in voices.items()} or None}


def _spec(spec) -> dict | None:
    return None if spec is None else spec.public()


def data_card(run: Run, title: str, categories: list[Category], source: str, manifest: dict,
              stages: tuple[str, ...], problems: list[dict]) -> dict:
    cfg = run.config
    identify = run.ws.work / "identify.json" if cfg.taxonomy == "identify" else None
    ledger = run.ws.ledger.to_dict()
    per_scenario = {}
    for category, scenario in pairs(categories):
        counts = run.counts.get(scenario.slug, {})
        per_scenario[scenario.slug] = {"category": category.abbr, **counts,
                                       "short_of_k": max(0, cfg.scoring.top_k - counts.get("kept", 0))}
    return {
        "name": run.name, "title": title,
        "generator": {"command": f"lmms-safebench generate safebench CONFIG --name {run.name}",
                      "stages_run_last": ",".join(stages), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "config_digest": manifest["generator"]["config_digest"]},
        "taxonomy": {"source": source,
                     "identification": json.loads(identify.read_text(encoding="utf-8")) if identify and identify.exists()
                     else None,
                     "categories": {c.abbr: {"title": c.title, "definition": c.definition,
                                             "scenarios": ", ".join(s.title for s in c.scenarios)} for c in categories}},
        "pipeline": {
            "queries": {"per_call": cfg.queries.per_call, "calls_per_scenario": cfg.queries.calls_per_scenario,
                        "forms": cfg.queries.forms, "styles": cfg.queries.styles,
                        "near_duplicates": {"threshold": cfg.queries.near_duplicate_threshold,
                                            "similarity": cfg.queries.embedding_model or "lexical (difflib ratio)"}},
            "scoring": {"weights": cfg.scoring.weights.normalised(), "top_k": cfg.scoring.top_k,
                        "ranking": "weighted sum of the 0-9 scores (mean over scorers), then "
                                   + "".join(f"{a}, " for a in cfg.scoring.tie_break) + "query id",
                        "scored_by": "every scorer must rate a query for it to be ranked"},
            "images": {"rounds": cfg.images.rounds if cfg.critic else 1,
                       "critic": "yes" if cfg.critic else "no (each picture rendered once)"} if cfg.image else None,
            "audio": {"voices": cfg.speech.voices} if cfg.speech else None,
            "twins": {"revisions": cfg.twins.revisions,
                      "checked_by": "twin critic: benign and close in wording (JSON booleans), revised when rejected",
                      "picture": "the query's picture, when the vision critic finds the twin harmless with it"
                                 if cfg.critic and cfg.image else "none (no vision critic or no images)",
                      "audio": "the twin read in the query's voices" if cfg.speech else None,
                      "pairing": "a twin's id is its harmful query's id; its case tag `pair` is the harmful case key",
                      "family": f"safebench_gen_{run.name}_benign_*, judged by the refusal rubric"}
            if cfg.twins else None},
        "models": {"writer": _spec(cfg.llm), "scorers": [_spec(s) for s in cfg.scorer_specs], "critic": _spec(cfg.critic),
                   "image": _spec(cfg.image), "speech": _spec(cfg.speech),
                   "panel": [_spec(s) for s in cfg.panel_specs] if cfg.taxonomy == "identify" else None,
                   "twin_critic": _spec(cfg.twin_critic_spec)},
        "seeds": {"image_base_seed": cfg.image.seed if cfg.image else None,
                  "image_seed_per_query": "item_seed(image_base_seed, query id): base + a hash of the id, the same in "
                                          "every round of a query; each round's seed is in provenance.jsonl",
                  "speech_seed": cfg.speech.seed if cfg.speech else None},
        "counts": {"totals": manifest["totals"], "modalities": manifest["modalities"],
                   "benign": {k: manifest["benign"][k] for k in ("totals", "modalities")} if manifest.get("benign")
                   else None,
                   "per_scenario": per_scenario},
        "cost": {"per_stage": {stage: {k: v for k, v in account.items() if k != "models"}
                               for stage, account in ledger.items()},
                 "models_per_stage": {stage: ", ".join(account["models"]) for stage, account in ledger.items()},
                 "totals": run.ws.ledger.totals()},
        "wall_time_seconds": {"this_run": round(time.perf_counter() - run.started, 3),
                              "all_runs_in_stages": round(sum(a["seconds"] for a in ledger.values()), 3)},
        "problems": problems,
        "files": {"provenance": "provenance.jsonl (one line per kept query: scores, ranks, image rounds, audio, twin)",
                  "work": "work/ (resumable state: items per stage, calls.sqlite, ledger.json, media files)"},
    }
