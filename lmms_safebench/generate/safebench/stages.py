"""The stages of the SafeBench-style pipeline, each resumable item by item (see :mod:`..core.workspace`).

===========  =====================================  ==============================================
stage        one item                               what a rerun reuses
===========  =====================================  ==============================================
taxonomy     a proposal of one panel model          finished proposals; then ``taxonomy.yaml``
queries      a batch of one scenario                finished batches (and every finished call)
scoring      one query rated by one scorer          finished ratings
images       one kept query (all its rounds)        finished items; each round's picture file
audio        one kept query in one voice            finished items; each WAV file
twins        one kept query (its twin, every round  finished items (an item whose query got a picture
             and the check with the picture); then  since is checked again, its text calls from the
             one accepted twin in one voice         cache); each WAV file
write        the benchmark folder (parquet, tasks, manifest, data card), rewritten from the above (:mod:`.write`)
===========  =====================================  ==============================================

Everything after an item is derived again from the stored items on every run (deduplication, ranking,
selection, counts, problems), so the outcome does not depend on how often a run was interrupted. Query
ids (``<scenario>-b<batch>-q<position>``) depend only on the batch that wrote them. What is missing is a
:class:`~..core.problems.Problem` of the run (:meth:`~..core.run.Run.problem`): ``left_out`` (something is
missing), ``short`` (a scenario with fewer than k queries) or ``note``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import soundfile
from PIL import Image, UnidentifiedImageError

from ...errors import DataError
from ..core.llm import FAILED, OK, Answer, TextLLM
from ..core.output import atomic_write
from ..core.problems import REFUSED, MediaFailed, Refused, Unreachable, Unreadable
from ..core.run import Run, Stop
from ..core.taxonomy import Category, pairs, size
from ..media.base import item_seed, png_bytes
from ..media.embeddings import near_duplicates, normalise
from . import prompts, taxonomy
from .config import AXES, VOICES


@dataclass(frozen=True)
class Query:
    id: str
    scenario: str
    category: str
    text: str
    batch: int
    position: int
    form: str
    style: str


@dataclass
class Scored:
    query: Query
    score: float
    axes: dict[str, float]  # mean over scorers
    ratings: list[dict]  # one per scorer


def _raise_if_failed(answer: Answer, who: str) -> None:
    if answer.status == FAILED:  # an outage, not a result: the item is retried by the next run
        raise Unreachable(f"{who} failed: {answer.error}")


def writer(run: Run) -> TextLLM:
    """The model that writes queries, image descriptions and revisions."""
    return run.llm("writer", run.config.llm)


def scorers(run: Run) -> list[TextLLM]:
    return [run.llm(f"scorer-{i}", spec) for i, spec in enumerate(run.config.scorer_specs, 1)]


def critic(run: Run) -> TextLLM | None:
    return run.llm("critic", run.config.critic) if run.config.critic else None


def twin_critic(run: Run) -> TextLLM:
    """The model that checks twins' text (``twins.critic``, else ``critic``, else the first scorer)."""
    return run.llm("twin-critic", run.config.twin_critic_spec)


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------------------ 1. taxonomy

def choose_taxonomy(run: Run, config_dir: Path, run_stage: bool) -> tuple[list[Category], str]:
    """The taxonomy to generate for, and where it comes from (for the data card). ``identify`` without
    ``taxonomy.yaml``: identify, write the file and stop (:class:`~..core.run.Stop`); with it: the (possibly
    edited) file."""
    source = run.config.taxonomy
    if source == "paper":
        return taxonomy.paper(), "paper"
    if source != "identify":
        path = user_taxonomy_path(source, config_dir)
        return taxonomy.load_file(path), str(path)
    path = run.folder / "taxonomy.yaml"
    if path.exists():
        return taxonomy.load_file(path), f"identify ({path}, as reviewed)"
    if not run_stage:
        raise Stop(f"{path} does not exist yet: run the taxonomy stage (--stages taxonomy) to identify the risks", 2)
    identify(run, path)
    raise AssertionError("unreachable")  # identify() always stops the run


def user_taxonomy_path(source: str, config_dir: Path) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else config_dir / path


def identify(run: Run, path: Path) -> None:
    """Risk identification: each panel model proposes categories and scenarios; near-duplicates are merged;
    the result goes to ``path`` for review, and the run stops."""
    settings = run.config.identify
    panel = [(f"{i}:{spec.model}", run.llm(f"panel-{i}", spec)) for i, spec in enumerate(run.config.panel_specs, 1)]
    todo = {f"{member}/{p}": partial(_propose, member, llm, p, settings)
            for member, llm in panel for p in range(1, settings.proposals + 1)}
    run.stage("taxonomy", todo, "risk identification")
    records = run.ws.items("taxonomy")
    missing = [item for item in todo if item not in records]
    for item in missing:
        run.problem("taxonomy", run.why_missing("taxonomy", item), id=item)
    if missing:
        raise Stop(f"{len(missing)} of {len(todo)} taxonomy proposals are missing (named above); finished ones are "
                   "kept: run the same command again to retry", 1)
    usable = []
    for item in todo:
        record = records[item]
        if record["status"] == OK:
            usable.append({"model": record["member"], "categories": record["categories"]})
        else:
            run.problem("taxonomy", f"{record['status']}: {record.get('error')}", id=item, kind="note")
    if not usable:
        raise DataError("no panel model proposed a usable taxonomy (each proposal is named above); try other "
                        "models, or give a taxonomy YAML")
    if settings.merge == "llm":
        merger = run.llm("merger", settings.merger or run.config.llm)
        answer = merger.ask("taxonomy", prompts.merge_messages([u["categories"] for u in usable]),
                            prompts.parse_taxonomy, prompts.TAXONOMY_SCHEMA)
        if answer.status == FAILED:
            run.problem("taxonomy", f"the merge call failed: {answer.error}", id="merge")
            raise Stop("the merge step failed (named above); run the same command again to retry", 1)
        if not answer.ok:
            raise DataError(f"the merger {merger.label} gave no usable taxonomy ({answer.status}: {answer.error}); "
                            "use another merger, or identify.merge: embeddings")
        merged, record = answer.value, {"method": "llm", "merger": merger.label}
    else:
        merged, record = taxonomy.merge_by_similarity(usable, settings.threshold, settings.embedding_model,
                                               settings.embedding_device, settings.min_support)
        record = {"method": "embeddings" if settings.embedding_model else "lexical (difflib ratio of titles)",
                  "model": settings.embedding_model, "threshold": settings.threshold,
                  "min_support": settings.min_support, **record}
        if not merged:
            raise DataError(f"no category was proposed by at least {settings.min_support} panel models; lower "
                            "identify.min_support")
    categories = taxonomy.from_proposal(merged, str(path))
    summary = {"panel": [member for member, _ in panel], "proposals_per_model": settings.proposals,
               "usable_proposals": len(usable), "merge": record, "result": size(categories)}
    (run.ws.work / "identify.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    header = (f"Risk taxonomy identified by {len(panel)} model(s) ({len(usable)} proposals), merged by "
              f"{record['method']}.\nReview and edit it (titles, definitions, slugs; remove or add entries), then run "
              "the same command again:\nthe run continues from this file.")
    taxonomy.write_file(path, categories, header)
    raise Stop(f"wrote {path} ({size(categories)}) from {len(usable)} proposal(s) of {len(panel)} model(s).\n"
               "Review and edit it, then run the same command again to continue with the queries.", 0)


def _propose(member: str, llm: TextLLM, number: int, settings) -> dict:
    answer = llm.ask("taxonomy", prompts.proposal_messages(settings.categories, settings.scenarios_per_category),
                     prompts.parse_taxonomy, prompts.TAXONOMY_SCHEMA, salt=f"proposal/{number}")
    _raise_if_failed(answer, llm.label)
    categories = (answer.value or [])[:settings.categories]
    for category in categories:
        category["scenarios"] = category["scenarios"][:settings.scenarios_per_category]
    return {"member": member, "model": llm.label, "proposal": number, "status": answer.status,
            "categories": categories, "error": answer.error}


# ------------------------------------------------------------------------------------------ 2. queries

def batch_plan(run: Run, categories: list[Category]) -> dict[str, tuple]:
    """``{item: (category, scenario, batch, form, style)}``. Batches walk every (form, style) pair, so that
    consecutive batches differ in both."""
    q = run.config.queries
    turns = [(f, (f + d) % len(q.styles)) for d in range(len(q.styles)) for f in range(len(q.forms))]
    plan = {}
    for category, scenario in pairs(categories):
        for batch in range(q.calls_per_scenario):
            form, style = turns[batch % len(turns)]
            plan[f"{scenario.slug}/{batch:03d}"] = (category, scenario, batch, q.forms[form], q.styles[style])
    return plan


def run_queries(run: Run, categories: list[Category]) -> None:
    plan = batch_plan(run, categories)
    todo = {item: partial(_write_batch, run, *args) for item, args in plan.items()}
    run.stage("queries", todo, "queries")


def _write_batch(run: Run, category, scenario, batch: int, form: str, style: str) -> dict:
    q = run.config.queries
    phrasings = prompts.query_messages(category, scenario, q.per_call, form, style)
    model = writer(run)
    answer = model.ask("queries", phrasings[0], prompts.query_parser(q.per_call, q.max_chars), prompts.QUERIES_SCHEMA,
                       rephrasings=phrasings[1:], salt=f"{scenario.slug}/{batch}")
    _raise_if_failed(answer, model.label)
    return {"scenario": scenario.slug, "batch": batch, "form": form, "style": style, "status": answer.status,
            "phrasing": answer.phrasing, "queries": answer.value or [], "error": answer.error,
            "reply": None if answer.ok else answer.text[:500]}


def collect_queries(run: Run, categories: list[Category]) -> dict[str, list[Query]]:
    """The unique candidate queries of each scenario, in batch order (the first of duplicates is kept)."""
    q = run.config.queries
    records = run.ws.items("queries")
    by_scenario: dict[str, list[Query]] = {s.slug: [] for _, s in pairs(categories)}
    for item, (category, scenario, batch, form, style) in batch_plan(run, categories).items():
        record = records.get(item)
        slug = scenario.slug
        run.count(slug, "batches_planned")
        if record is None:
            run.problem("queries", run.why_missing("queries", item), id=item, scenario=slug)
            continue
        run.count(slug, "batches_done")
        if record["status"] != OK:
            run.count(slug, "batches_refused" if record["status"] == REFUSED else "batches_unreadable")
            what = ("the writer refused in every phrasing" if record["status"] == REFUSED
                    else f"unreadable reply after a repair request: {record.get('error')}")
            run.problem("queries", what, id=item, scenario=slug)
            continue
        if record.get("phrasing"):
            run.count(slug, "batches_rephrased")
        for position, text in enumerate(record["queries"]):
            by_scenario[slug].append(Query(f"{slug}-b{batch:03d}-q{position:02d}", slug, category.slug, text, batch,
                                           position, form, style))
    out = {}
    for slug, candidates in by_scenario.items():
        seen, unique, exact = set(), [], 0
        for query in candidates:
            key = normalise(query.text)
            if key in seen:
                exact += 1
            else:
                seen.add(key)
                unique.append(query)
        drop = set(near_duplicates([x.text for x in unique], q.near_duplicate_threshold, q.embedding_model,
                                   q.embedding_device)) if len(unique) > 1 else set()
        out[slug] = [x for i, x in enumerate(unique) if i not in drop]
        run.count(slug, "candidates", len(candidates))
        run.count(slug, "exact_duplicates", exact)
        run.count(slug, "near_duplicates", len(drop))
        run.count(slug, "unique", len(out[slug]))
    return out


# ------------------------------------------------------------------------------------------ 3. scoring

def _scoring_items(run: Run, candidates: dict[str, list[Query]]) -> dict[str, tuple]:
    specs = run.config.scorer_specs
    return {f"{query.id}|{i}:{spec.model}": (query, i) for queries in candidates.values() for query in queries
            for i, spec in enumerate(specs, 1)}


def run_scoring(run: Run, categories: list[Category], candidates: dict[str, list[Query]]) -> None:
    titles = {s.slug: (s.title, c.title) for c, s in pairs(categories)}
    models = scorers(run)
    todo = {item: partial(_rate, models[i - 1], query, *titles[query.scenario])
            for item, (query, i) in _scoring_items(run, candidates).items()}
    run.stage("scoring", todo, "scoring")


def _rate(scorer: TextLLM, query: Query, scenario_title: str, category_title: str) -> dict:
    phrasings = prompts.score_messages(scenario_title, category_title, query.text)
    answer = scorer.ask("scoring", phrasings[0], prompts.parse_score, prompts.SCORE_SCHEMA, rephrasings=phrasings[1:])
    _raise_if_failed(answer, scorer.label)
    return {"query": query.id, "scorer": scorer.label, "status": answer.status, **(answer.value or {}),
            "error": answer.error, "reply": None if answer.ok else answer.text[:500]}


def collect_scores(run: Run, candidates: dict[str, list[Query]]) -> dict[str, list[Scored]]:
    """Scored queries per scenario. A query is ranked only when every scorer rated it; otherwise it is
    left unscored and named (why, per scorer)."""
    weights = run.config.scoring.weights.normalised()
    records = run.ws.items("scoring")
    items = _scoring_items(run, candidates)
    by_query: dict[str, list[tuple[str, dict | None]]] = {}
    for item, (query, _) in items.items():
        by_query.setdefault(query.id, []).append((item, records.get(item)))
    out: dict[str, list[Scored]] = {slug: [] for slug in candidates}
    for slug, queries in candidates.items():
        for query in queries:
            ratings, why = [], []
            for item, record in by_query[query.id]:
                if record is None:
                    why.append(f"{item.split('|', 1)[1]}: {run.why_missing('scoring', item)}")
                elif record["status"] != OK:
                    what = "refused in every phrasing" if record["status"] == REFUSED else record.get("error")
                    why.append(f"{record['scorer']}: {what}")
                else:
                    ratings.append(record)
            if why:
                run.count(slug, "unscored")
                run.problem("scoring", "left unscored: " + "; ".join(why), id=query.id, field="score", scenario=slug)
                continue
            per_scorer = [sum(weights[a] * r[a] for a in AXES) for r in ratings]
            axes = {a: round(sum(r[a] for r in ratings) / len(ratings), 6) for a in AXES}
            out[slug].append(Scored(query, round(sum(per_scorer) / len(per_scorer), 6), axes,
                                    [{k: r.get(k) for k in ("scorer", *AXES, "reasoning")} for r in ratings]))
            run.count(slug, "scored")
    return out


def select(run: Run, categories: list[Category], scored: dict[str, list[Scored]]) -> dict[str, list[Scored]]:
    """The top k of each scenario: by weighted score, then the tie-break axes, then query id (all
    deterministic). A scenario with fewer than k scored queries keeps them all, and says so."""
    k, tie = run.config.scoring.top_k, run.config.scoring.tie_break
    kept = {}
    for _, scenario in pairs(categories):
        ranked = sorted(scored.get(scenario.slug, []),
                        key=lambda s: (-s.score, *(-s.axes[a] for a in tie), s.query.id))
        kept[scenario.slug] = ranked[:k]
        run.count(scenario.slug, "kept", len(kept[scenario.slug]))
        if len(ranked) < k:
            run.problem("scoring", f"{len(ranked)} of {k} queries (not padded): fewer scored queries than k",
                        scenario=scenario.slug, kind="short")
    return kept


# ------------------------------------------------------------------------------------------ 4. images

def _kept_queries(kept: dict[str, list[Scored]]) -> list[Query]:
    return [s.query for ranked in kept.values() for s in ranked]


def run_images(run: Run, kept: dict[str, list[Scored]]) -> None:
    run.image_backend(run.config.image)  # made once, before the threads start
    todo = {query.id: partial(_image_item, run, query) for query in _kept_queries(kept)}
    run.stage("images", todo, "images")


def _as_png(data: bytes) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decode in full: a header alone passes truncated files
            return data if image.format == "PNG" else png_bytes(image)
    except UnidentifiedImageError:
        raise MediaFailed(f"the image backend returned {len(data)} bytes that are not a picture (no known image "
                          "format)") from None
    except (OSError, ValueError) as exc:
        raise MediaFailed(f"the image backend returned {len(data)} bytes that are not a picture ({exc})") from None


def _render(run: Run, query: Query, number: int, description: str, seed: int) -> Path:
    """The picture of one round: the file when it exists (a resumed item), else rendered and written."""
    backend = run.image_backend(run.config.image)
    path = run.ws.media("images", query.id, f"r{number}-{_digest(backend.label, description, seed)}.png")
    if path.exists() and path.stat().st_size:
        run.ws.ledger.add("images", backend.label, cache_hits=1)
        return path
    try:
        data = _as_png(backend.render(description, seed))
    except Exception:
        run.ws.ledger.add("images", backend.label, requests=1, failures=1)
        raise
    atomic_write(path, data)
    run.ws.ledger.add("images", backend.label, calls=1, requests=1, cost_usd=run.config.image.price_per_image)
    return path


def _image_item(run: Run, query: Query) -> dict:
    illustrator, reviewer, rounds_allowed = writer(run), critic(run), run.config.images.rounds
    seed = item_seed(run.config.image.seed, query.id)  # one seed per query: rounds differ by description only
    phrasings = prompts.description_messages(query.text)
    first = illustrator.ask("images", phrasings[0], prompts.parse_description, prompts.DESCRIPTION_SCHEMA,
                            rephrasings=phrasings[1:])
    _raise_if_failed(first, f"the writer {illustrator.label}")
    if not first.ok:
        failure = Refused if first.status == REFUSED else Unreadable
        raise failure(f"the writer gave no image description ({first.status}: {first.error})", shown="RuntimeError")
    subject, description = first.value["subject"], first.value["description"]
    rounds, approved = [], None
    for number in range(1, rounds_allowed + 1):
        path = _render(run, query, number, description, seed)
        entry = {"round": number, "description": description, "seed": seed, "file": run.rel(path)}
        rounds.append(entry)
        if reviewer is None:
            break
        url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        verdict = reviewer.ask("images", prompts.critique_messages(query.text, subject, description, url),
                               prompts.parse_critique, prompts.CRITIQUE_SCHEMA)
        _raise_if_failed(verdict, f"the critic {reviewer.label}")
        if not verdict.ok:  # kept, unjudged (counted in the data card)
            entry.update(verdict=verdict.status, critic_error=verdict.error)
            approved = None
            break
        approved = verdict.value["fits"]
        entry.update(verdict="fits" if approved else "does not fit", reasoning=verdict.value["reasoning"],
                     suggestions=verdict.value["changes"])
        if approved or number == rounds_allowed:
            break
        revision = illustrator.ask("images", prompts.revision_messages(query.text, subject, description,
                                                                        verdict.value)[0],
                                   prompts.parse_revision, prompts.REVISION_SCHEMA)
        _raise_if_failed(revision, f"the writer {illustrator.label}")
        if not revision.ok:
            entry["revision"] = f"{revision.status}: {revision.error}"
            break
        description = revision.value
    return {"query": query.id, "scenario": query.scenario, "subject": subject, "seed": seed, "rounds": rounds,
            "final": rounds[-1]["file"], "approved": approved, "critic": reviewer.label if reviewer else None}


def collect_images(run: Run, kept: dict[str, list[Scored]]) -> dict[str, dict]:
    records = run.ws.items("images")
    out = {}
    for query in _kept_queries(kept):
        record = records.get(query.id)
        if record is None:
            run.problem("images", run.why_missing("images", query.id), id=query.id, field="image",
                        scenario=query.scenario)
        elif not (run.folder / record["final"]).exists():
            run.problem("images", f"{record['final']} is missing (remove its line from work/images.jsonl, or use "
                        "--redo images)", id=query.id, field="image", scenario=query.scenario)
        else:
            out[query.id] = record
            run.count(query.scenario, "image")
            verdict = ("approved" if record["approved"] else "unjudged" if record["approved"] is None
                       else "not_approved")
            if run.config.critic:
                run.count(query.scenario, f"image_{verdict}")
                if record["approved"] is None:
                    run.problem("images", f"the critic could not judge the picture: {record['rounds'][-1].get('critic_error')}",
                                id=query.id, field="image", scenario=query.scenario, kind="note")
    return out


# ------------------------------------------------------------------------------------------ 5. audio

def _voices(run: Run) -> list[str]:
    return [v for v in VOICES if v in run.config.speech.voices]


def run_audio(run: Run, kept: dict[str, list[Scored]]) -> None:
    run.speech_backend(run.config.speech)  # made once, before the threads start
    todo = {f"{query.id}/{voice}": partial(_speak, run, query, voice)
            for query in _kept_queries(kept) for voice in _voices(run)}
    run.stage("audio", todo, "audio")


def _speak(run: Run, query: Query, voice: str, stage: str = "audio", text: str | None = None) -> dict:
    """``query`` (or ``text`` in its place: a twin) read in ``voice``; the WAV file is kept under ``work/<stage>``."""
    backend, spec = run.speech_backend(run.config.speech), run.config.speech
    text = query.text if text is None else text
    path = run.ws.media(stage, voice, f"{query.id}-{_digest(backend.label, spec.voices.get(voice), text)}.wav")
    if path.exists() and path.stat().st_size:
        run.ws.ledger.add(stage, backend.label, cache_hits=1)
    else:
        try:
            data = backend.speak(text, voice)
            try:
                info = soundfile.info(io.BytesIO(data))
                samples, _ = soundfile.read(io.BytesIO(data), dtype="float32")
            except Exception as exc:
                raise MediaFailed(f"the speech backend returned {len(data)} bytes that are not audio ({exc})") from None
            if info.frames == 0 or len(samples) == 0:
                raise MediaFailed("the speech backend returned audio without frames")
        except Exception:
            run.ws.ledger.add(stage, backend.label, requests=1, failures=1)
            raise
        atomic_write(path, data)
        run.ws.ledger.add(stage, backend.label, calls=1, requests=1,
                          cost_usd=spec.price_per_million_chars * len(text) / 1_000_000)
    return {"query": query.id, "scenario": query.scenario, "voice": voice, "setting": spec.voices.get(voice),
            "file": run.rel(path)}


def collect_audio(run: Run, kept: dict[str, list[Scored]]) -> dict[str, dict[str, dict]]:
    records = run.ws.items("audio")
    out: dict[str, dict[str, dict]] = {}
    for query in _kept_queries(kept):
        for voice in _voices(run):
            item = f"{query.id}/{voice}"
            record = records.get(item)
            if record is None or not (run.folder / record["file"]).exists():
                what = run.why_missing("audio", item) if record is None else f"{record['file']} is missing"
                run.problem("audio", what, id=query.id, field=f"audio_{voice}", scenario=query.scenario)
                continue
            out.setdefault(query.id, {})[voice] = record
            run.count(query.scenario, f"audio_{voice}")
    return out


# ------------------------------------------------------------------------------------------ 6. benign twins

TWIN_AUDIO = "twin_audio"  # the workspace stage (and ledger account) of the twins' speech, run by `twins`


def _picture_for_twin(run: Run, images: dict, query: Query) -> str | None:
    """The picture a query's twin may share: the query's final picture, when the vision critic (``critic``) is there
    to check the twin with it; else None (the twin has no picture)."""
    record = images.get(query.id)
    return record["final"] if record and run.config.critic else None


def run_twins(run: Run, categories: list[Category], kept: dict[str, list[Scored]], images: dict) -> None:
    titles = {s.slug: (s.title, c.title) for c, s in pairs(categories)}
    queries = _kept_queries(kept)
    pictures = {query.id: _picture_for_twin(run, images, query) for query in queries}
    todo = {query.id: partial(_twin_item, run, query, *titles[query.scenario], pictures[query.id])
            for query in queries}

    def current(item: str, record: dict) -> bool:
        # A twin accepted before its query had a picture (the images stage ran later) is checked again with it; its
        # text calls come from the cache, so only the check with the picture is new.
        return record.get("picture_checked") == (pictures.get(item) if record.get("accepted") else None)

    run.stage("twins", todo, "benign twins", current=current)


def _twin_item(run: Run, query: Query, scenario_title: str, category_title: str, picture: str | None) -> dict:
    """One query's twin: written, checked by the critic (benign and close), revised at most ``twins.revisions`` times
    when rejected; an accepted twin with a picture is then checked with it by the vision critic."""
    author, checker, revisions = writer(run), twin_critic(run), run.config.twins.revisions
    parse = prompts.parse_twin(query.text, run.config.queries.max_chars)
    phrasings = prompts.twin_messages(query.text, scenario_title, category_title)
    first = author.ask("twins", phrasings[0], parse, prompts.TWIN_SCHEMA, rephrasings=phrasings[1:])
    _raise_if_failed(first, f"the writer {author.label}")
    if not first.ok:
        failure = Refused if first.status == REFUSED else Unreadable
        raise failure(f"the writer gave no twin ({first.status}: {first.error})", shown="RuntimeError")
    twin, rounds, accepted = first.value, [], None
    for number in range(1, revisions + 2):
        entry = {"round": number, "twin": twin}
        rounds.append(entry)
        verdict = checker.ask("twins", prompts.twin_check_messages(query.text, twin), prompts.parse_twin_check,
                              prompts.TWIN_CHECK_SCHEMA)
        _raise_if_failed(verdict, f"the critic {checker.label}")
        if not verdict.ok:  # unchecked: never taken for benign (left out, named)
            entry.update(verdict=verdict.status, critic_error=verdict.error)
            accepted = None
            break
        accepted = verdict.value["benign"] and verdict.value["close"]
        entry.update(verdict="accepted" if accepted else "rejected", **verdict.value)
        if accepted or number == revisions + 1:
            break
        revision = author.ask("twins", prompts.twin_revision_messages(query.text, twin, verdict.value)[0], parse,
                              prompts.TWIN_SCHEMA)
        _raise_if_failed(revision, f"the writer {author.label}")
        if not revision.ok:
            entry["revision"] = f"{revision.status}: {revision.error}"
            break
        twin = revision.value
    with_picture = None
    if accepted and picture:
        reviewer = critic(run)
        url = "data:image/png;base64," + base64.b64encode((run.folder / picture).read_bytes()).decode("ascii")
        pair = reviewer.ask("twins", prompts.pair_check_messages(twin, url), prompts.parse_pair_check,
                            prompts.PAIR_CHECK_SCHEMA)
        _raise_if_failed(pair, f"the critic {reviewer.label}")
        with_picture = {"file": picture, "benign": pair.value["benign"] if pair.ok else None,
                        "reasoning": pair.value["reasoning"] if pair.ok else None,
                        "critic_error": None if pair.ok else f"{pair.status}: {pair.error}"}
    return {"query": query.id, "scenario": query.scenario, "twin": twin, "accepted": accepted, "rounds": rounds,
            "critic": checker.label, "picture_checked": picture if accepted else None, "picture": with_picture}


def collect_twins(run: Run, kept: dict[str, list[Scored]], images: dict) -> dict[str, dict]:
    """The accepted twins, ``{query id: record}``; every query without one is named (rejected, unchecked, failed or
    not done), and so is an accepted twin left out of the image tasks."""
    records = run.ws.items("twins")
    if images and not run.config.critic:
        run.problem("twins", "no vision critic (`critic`) to check a twin together with its query's picture: the "
                    "twins have no pictures, and the benign family no image tasks", field="image", kind="note")
    out = {}
    for query in _kept_queries(kept):
        record, slug = records.get(query.id), query.scenario
        if record is None:
            run.problem("twins", run.why_missing("twins", query.id), id=query.id, field="twin", scenario=slug)
            continue
        last = record["rounds"][-1]
        if record["accepted"] is None:
            run.count(slug, "twins_unchecked")
            run.problem("twins", f"the critic could not judge the twin ({last.get('critic_error')}); it is left out",
                        id=query.id, field="twin", scenario=slug)
            continue
        if not record["accepted"]:
            run.count(slug, "twins_rejected")
            why = last.get("revision") and f"; the revision failed: {last['revision']}"
            run.problem("twins", f"the critic rejected all {len(record['rounds'])} version(s) (benign "
                        f"{last.get('benign')}, close {last.get('close')}: {last.get('reasoning') or 'no reason'})"
                        f"{why or ''}", id=query.id, field="twin", scenario=slug)
            continue
        now = _picture_for_twin(run, images, query)
        if record.get("picture_checked") != now:  # the query's picture changed since: the old check says nothing
            record = {**record, "picture": None}
            if now is not None:
                run.problem("twins", "not checked with the query's current picture yet (run the twins stage); left out "
                            "of the image tasks", id=query.id, field="image", scenario=slug)
        out[query.id] = record
        run.count(slug, "twins_accepted")
        if len(record["rounds"]) > 1:
            run.count(slug, "twins_revised")
        picture = record.get("picture")
        if picture is None:
            continue
        if picture["benign"]:
            run.count(slug, "twin_image")
        else:
            run.count(slug, "twin_image_rejected" if picture["benign"] is False else "twin_image_unchecked")
            why = (f"the critic judged the twin not harmless with its query's picture: {picture['reasoning']}"
                   if picture["benign"] is False else
                   f"the critic could not judge the twin with its query's picture ({picture['critic_error']})")
            run.problem("twins", why + "; it is left out of the image tasks", id=query.id, field="image",
                        scenario=slug)
    return out


def run_twin_audio(run: Run, kept: dict[str, list[Scored]], twins: dict[str, dict]) -> None:
    """Every accepted twin read in the voices of the harmful queries (the query's id, the twin's text)."""
    run.speech_backend(run.config.speech)  # made once, before the threads start
    todo = {f"{query.id}/{voice}": partial(_speak_twin, run, query, twins[query.id]["twin"], voice)
            for query in _kept_queries(kept) if query.id in twins for voice in _voices(run)}

    def current(item: str, record: dict) -> bool:
        twin = twins.get(item.rsplit("/", 1)[0])
        return twin is None or record.get("text") == twin["twin"]  # a twin made again is read again

    run.stage(TWIN_AUDIO, todo, "twin audio", current=current)


def _speak_twin(run: Run, query: Query, twin: str, voice: str) -> dict:
    return {**_speak(run, query, voice, TWIN_AUDIO, twin), "text": twin}


def collect_twin_audio(run: Run, twins: dict[str, dict]) -> dict[str, dict[str, dict]]:
    records = run.ws.items(TWIN_AUDIO)
    out: dict[str, dict[str, dict]] = {}
    for qid, twin in twins.items():
        for voice in _voices(run):
            item = f"{qid}/{voice}"
            record = records.get(item)
            if record is not None and record.get("text") != twin["twin"]:
                record = None  # read from another version of the twin: not this one's
            if record is None or not (run.folder / record["file"]).exists():
                what = (run.why_missing(TWIN_AUDIO, item, "twins") if record is None
                        else f"{record['file']} is missing")
                run.problem(TWIN_AUDIO, what, id=qid, field=f"audio_{voice}", scenario=twin["scenario"])
                continue
            out.setdefault(qid, {})[voice] = record
            run.count(twin["scenario"], f"twin_audio_{voice}")
    return out
