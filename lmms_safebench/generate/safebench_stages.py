"""The stages of the SafeBench-style pipeline, each resumable item by item (see :mod:`.workspace`).

===========  =====================================  ==============================================
stage        one item                               what a rerun reuses
===========  =====================================  ==============================================
taxonomy     a proposal of one panel model          finished proposals; then ``taxonomy.yaml``
queries      a batch of one scenario                finished batches (and every finished call)
scoring      one query rated by one scorer          finished ratings
images       one kept query (all its rounds)        finished items; each round's picture file
audio        one kept query in one voice            finished items; each WAV file
write        the benchmark folder (parquet, tasks, manifest, data card), rewritten from the above
===========  =====================================  ==============================================

Everything after an item is derived again from the stored items on every run (deduplication, ranking,
selection, counts, problems), so the outcome does not depend on how often a run was interrupted. Query
ids (``<scenario>-b<batch>-q<position>``) depend only on the batch that wrote them. Problems are dicts in
the manifest's format (``where``, ``id``, ``field``, ``scenario``, ``what``, ``kind``) with ``kind``
``left_out`` (something is missing), ``short`` (a scenario with fewer than k queries) or ``note``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import safebench_prompts as P
from . import safebench_taxonomy as T
from .llm import FAILED, OK, Answer, TextLLM, make_limiter
from .media import item_seed
from .output import TaxCategory, atomic_write
from .safebench_config import AXES, VOICES, SafeBenchConfig
from .workspace import Workspace

STAGES = ("taxonomy", "queries", "scoring", "images", "audio", "write")
BLOCKING = ("left_out", "short")  # problem kinds that make the exit status 1


class Stop(Exception):
    """The run stops here on purpose (a taxonomy to review) or because an earlier step is incomplete."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


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


@dataclass
class Run:
    """One invocation: the config, the work folder, the models, and what was found wrong."""

    config: SafeBenchConfig
    name: str
    folder: Path
    ws: Workspace  # opened (and the folder locked) by the caller; closed by close()
    progress: bool = True
    taxonomy_source: str = "paper"
    problems: list[dict] = field(default_factory=list)
    stats: dict[str, dict] = field(default_factory=dict)  # per scenario slug: counts for the data card
    summary: list[str] = field(default_factory=list)
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # stage -> item -> why (this run)

    def __post_init__(self):
        self.limiter = make_limiter()
        self._llms: dict[str, TextLLM] = {}
        self._image_backend = self._speech_backend = None
        self._lock = threading.Lock()

    def llm(self, role: str, spec) -> TextLLM:
        with self._lock:  # stages ask for their models from worker threads
            if role not in self._llms:
                self._llms[role] = TextLLM(spec, self.ws.cache, self.ws.ledger, self.limiter, role=role)
            return self._llms[role]

    @property
    def writer(self) -> TextLLM:
        return self.llm("writer", self.config.llm)

    @property
    def scorers(self) -> list[TextLLM]:
        return [self.llm(f"scorer-{i}", spec) for i, spec in enumerate(self.config.scorer_specs, 1)]

    @property
    def critic(self) -> TextLLM | None:
        return self.llm("critic", self.config.critic) if self.config.critic else None

    @property
    def image_backend(self):
        if self._image_backend is None:
            from .backends import image_backend

            self._image_backend = image_backend(self.config.image, self.limiter)
        return self._image_backend

    @property
    def speech_backend(self):
        if self._speech_backend is None:
            from .backends import speech_backend

            self._speech_backend = speech_backend(self.config.speech, self.limiter)
        return self._speech_backend

    def problem(self, where: str, what: str, id: str | None = None, field: str | None = None,
                scenario: str | None = None, kind: str = "left_out") -> None:
        with self._lock:
            self.problems.append({"where": where, "id": id, "field": field, "scenario": scenario, "what": what,
                                  "kind": kind})

    def stage(self, stage: str, todo: dict, desc: str):
        result = self.ws.run(stage, todo, self.config.concurrency, desc=desc, progress=self.progress)
        self.failures.setdefault(stage, {}).update({p["id"]: p["what"] for p in result.problems})
        return result

    def why_missing(self, stage: str, item: str) -> str:
        failed = self.failures.get(stage, {}).get(item)
        return f"failed: {failed} (a rerun tries it again)" if failed else f"not done yet (run the {stage} stage)"

    def count(self, scenario: str, key: str, amount: int = 1) -> None:
        with self._lock:
            counts = self.stats.setdefault(scenario, {})
            counts[key] = counts.get(key, 0) + amount

    def rel(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def close(self) -> None:
        self.ws.close()


def _raise_if_failed(answer: Answer, who: str) -> None:
    if answer.status == FAILED:  # an outage, not a result: the item is retried by the next run
        raise RuntimeError(f"{who} failed: {answer.error}")


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------------------ 1. taxonomy

def taxonomy(run: Run, config_dir: Path, run_stage: bool) -> list[TaxCategory]:
    """The taxonomy to generate for. ``identify`` without ``taxonomy.yaml``: identify, write the file and
    stop (:class:`Stop`); with it: the (possibly edited) file."""
    source = run.config.taxonomy
    if source == "paper":
        run.taxonomy_source = "paper"
        return T.paper()
    if source != "identify":
        path = user_taxonomy_path(source, config_dir)
        run.taxonomy_source = str(path)
        return T.load_file(path)
    path = run.folder / "taxonomy.yaml"
    if path.exists():
        run.taxonomy_source = f"identify ({path}, as reviewed)"
        return T.load_file(path)
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
    from ..errors import DataError

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
        answer = merger.ask("taxonomy", P.merge_messages([u["categories"] for u in usable]), P.parse_taxonomy,
                            P.TAXONOMY_SCHEMA)
        if answer.status == FAILED:
            run.problem("taxonomy", f"the merge call failed: {answer.error}", id="merge")
            raise Stop("the merge step failed (named above); run the same command again to retry", 1)
        if not answer.ok:
            raise DataError(f"the merger {merger.label} gave no usable taxonomy ({answer.status}: {answer.error}); "
                            "use another merger, or identify.merge: embeddings")
        merged, record = answer.value, {"method": "llm", "merger": merger.label}
    else:
        merged, record = T.merge_by_similarity(usable, settings.threshold, settings.embedding_model,
                                               settings.embedding_device, settings.min_support)
        record = {"method": "embeddings" if settings.embedding_model else "lexical (difflib ratio of titles)",
                  "model": settings.embedding_model, "threshold": settings.threshold,
                  "min_support": settings.min_support, **record}
        if not merged:
            raise DataError(f"no category was proposed by at least {settings.min_support} panel models; lower "
                            "identify.min_support")
    categories = T.from_proposal(merged, str(path))
    summary = {"panel": [member for member, _ in panel], "proposals_per_model": settings.proposals,
               "usable_proposals": len(usable), "merge": record, "result": T.size(categories)}
    (run.ws.work / "identify.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    header = (f"Risk taxonomy identified by {len(panel)} model(s) ({len(usable)} proposals), merged by "
              f"{record['method']}.\nReview and edit it (titles, definitions, slugs; remove or add entries), then run "
              "the same command again:\nthe run continues from this file.")
    T.write_file(path, categories, header)
    raise Stop(f"wrote {path} ({T.size(categories)}) from {len(usable)} proposal(s) of {len(panel)} model(s).\n"
               "Review and edit it, then run the same command again to continue with the queries.", 0)


def _propose(member: str, llm: TextLLM, number: int, settings) -> dict:
    answer = llm.ask("taxonomy", P.proposal_messages(settings.categories, settings.scenarios_per_category),
                     P.parse_taxonomy, P.TAXONOMY_SCHEMA, salt=f"proposal/{number}")
    _raise_if_failed(answer, llm.label)
    categories = (answer.value or [])[:settings.categories]
    for category in categories:
        category["scenarios"] = category["scenarios"][:settings.scenarios_per_category]
    return {"member": member, "model": llm.label, "proposal": number, "status": answer.status,
            "categories": categories, "error": answer.error}


# ------------------------------------------------------------------------------------------ 2. queries

def scenarios(categories: list[TaxCategory]):
    return [(c, s) for c in categories for s in c.scenarios]


def batch_plan(run: Run, categories: list[TaxCategory]) -> dict[str, tuple]:
    """``{item: (category, scenario, batch, form, style)}``. Batches walk every (form, style) pair, so that
    consecutive batches differ in both."""
    q = run.config.queries
    pairs = [(f, (f + d) % len(q.styles)) for d in range(len(q.styles)) for f in range(len(q.forms))]
    plan = {}
    for category, scenario in scenarios(categories):
        for batch in range(q.calls_per_scenario):
            form, style = pairs[batch % len(pairs)]
            plan[f"{scenario.slug}/{batch:03d}"] = (category, scenario, batch, q.forms[form], q.styles[style])
    return plan


def run_queries(run: Run, categories: list[TaxCategory]) -> None:
    plan = batch_plan(run, categories)
    todo = {item: partial(_write_batch, run, *args) for item, args in plan.items()}
    run.stage("queries", todo, "queries")


def _write_batch(run: Run, category, scenario, batch: int, form: str, style: str) -> dict:
    q = run.config.queries
    phrasings = P.query_messages(category, scenario, q.per_call, form, style)
    answer = run.writer.ask("queries", phrasings[0], P.query_parser(q.per_call, q.max_chars), P.QUERIES_SCHEMA,
                            rephrasings=phrasings[1:], salt=f"{scenario.slug}/{batch}")
    _raise_if_failed(answer, run.writer.label)
    return {"scenario": scenario.slug, "batch": batch, "form": form, "style": style, "status": answer.status,
            "phrasing": answer.phrasing, "queries": answer.value or [], "error": answer.error,
            "reply": None if answer.ok else answer.text[:500]}


def collect_queries(run: Run, categories: list[TaxCategory]) -> dict[str, list[Query]]:
    """The unique candidate queries of each scenario, in batch order (the first of duplicates is kept)."""
    from .embeddings import near_duplicates, normalise

    q = run.config.queries
    records = run.ws.items("queries")
    by_scenario: dict[str, list[Query]] = {s.slug: [] for _, s in scenarios(categories)}
    for item, (category, scenario, batch, form, style) in batch_plan(run, categories).items():
        record = records.get(item)
        slug = scenario.slug
        run.count(slug, "batches_planned")
        if record is None:
            run.problem("queries", run.why_missing("queries", item), id=item, scenario=slug)
            continue
        run.count(slug, "batches_done")
        if record["status"] != OK:
            run.count(slug, "batches_refused" if record["status"] == "refused" else "batches_unreadable")
            what = ("the writer refused in every phrasing" if record["status"] == "refused"
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


def run_scoring(run: Run, categories: list[TaxCategory], candidates: dict[str, list[Query]]) -> None:
    titles = {s.slug: (s.title, c.title) for c, s in scenarios(categories)}
    scorers = run.scorers
    todo = {item: partial(_rate, scorers[i - 1], query, *titles[query.scenario])
            for item, (query, i) in _scoring_items(run, candidates).items()}
    run.stage("scoring", todo, "scoring")


def _rate(scorer: TextLLM, query: Query, scenario_title: str, category_title: str) -> dict:
    phrasings = P.score_messages(scenario_title, category_title, query.text)
    answer = scorer.ask("scoring", phrasings[0], P.parse_score, P.SCORE_SCHEMA, rephrasings=phrasings[1:])
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
                    what = "refused in every phrasing" if record["status"] == "refused" else record.get("error")
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


def select(run: Run, categories: list[TaxCategory], scored: dict[str, list[Scored]]) -> dict[str, list[Scored]]:
    """The top k of each scenario: by weighted score, then the tie-break axes, then query id (all
    deterministic). A scenario with fewer than k scored queries keeps them all, and says so."""
    k, tie = run.config.scoring.top_k, run.config.scoring.tie_break
    kept = {}
    for _, scenario in scenarios(categories):
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
    run.image_backend  # noqa: B018 - made once, before the threads start
    todo = {query.id: partial(_image_item, run, query) for query in _kept_queries(kept)}
    run.stage("images", todo, "images")


def _as_png(data: bytes) -> bytes:
    from PIL import Image, UnidentifiedImageError

    from .media import png_bytes

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decode in full: a header alone passes truncated files
            return data if image.format == "PNG" else png_bytes(image)
    except UnidentifiedImageError:
        raise ValueError(f"the image backend returned {len(data)} bytes that are not a picture (no known image "
                         "format)") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"the image backend returned {len(data)} bytes that are not a picture ({exc})") from None


def _render(run: Run, query: Query, number: int, description: str, seed: int) -> Path:
    """The picture of one round: the file when it exists (a resumed item), else rendered and written."""
    backend = run.image_backend
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
    writer, critic, rounds_allowed = run.writer, run.critic, run.config.images.rounds
    seed = item_seed(run.config.image.seed, query.id)  # one seed per query: rounds differ by description only
    phrasings = P.description_messages(query.text)
    first = writer.ask("images", phrasings[0], P.parse_description, P.DESCRIPTION_SCHEMA, rephrasings=phrasings[1:])
    _raise_if_failed(first, f"the writer {writer.label}")
    if not first.ok:
        raise RuntimeError(f"the writer gave no image description ({first.status}: {first.error})")
    subject, description = first.value["subject"], first.value["description"]
    rounds, approved = [], None
    for number in range(1, rounds_allowed + 1):
        path = _render(run, query, number, description, seed)
        entry = {"round": number, "description": description, "seed": seed, "file": run.rel(path)}
        rounds.append(entry)
        if critic is None:
            break
        url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        verdict = critic.ask("images", P.critique_messages(query.text, subject, description, url), P.parse_critique,
                             P.CRITIQUE_SCHEMA)
        _raise_if_failed(verdict, f"the critic {critic.label}")
        if not verdict.ok:  # kept, unjudged (counted in the data card)
            entry.update(verdict=verdict.status, critic_error=verdict.error)
            approved = None
            break
        approved = verdict.value["fits"]
        entry.update(verdict="fits" if approved else "does not fit", reasoning=verdict.value["reasoning"],
                     suggestions=verdict.value["changes"])
        if approved or number == rounds_allowed:
            break
        revision = writer.ask("images", P.revision_messages(query.text, subject, description, verdict.value)[0],
                              P.parse_revision, P.REVISION_SCHEMA)
        _raise_if_failed(revision, f"the writer {writer.label}")
        if not revision.ok:
            entry["revision"] = f"{revision.status}: {revision.error}"
            break
        description = revision.value
    return {"query": query.id, "scenario": query.scenario, "subject": subject, "seed": seed, "rounds": rounds,
            "final": rounds[-1]["file"], "approved": approved, "critic": critic.label if critic else None}


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
    run.speech_backend  # noqa: B018 - made once, before the threads start
    todo = {f"{query.id}/{voice}": partial(_speak, run, query, voice)
            for query in _kept_queries(kept) for voice in _voices(run)}
    run.stage("audio", todo, "audio")


def _speak(run: Run, query: Query, voice: str) -> dict:
    import soundfile

    backend, spec = run.speech_backend, run.config.speech
    path = run.ws.media("audio", voice, f"{query.id}-{_digest(backend.label, spec.voices.get(voice), query.text)}.wav")
    if path.exists() and path.stat().st_size:
        run.ws.ledger.add("audio", backend.label, cache_hits=1)
    else:
        try:
            data = backend.speak(query.text, voice)
            try:
                info = soundfile.info(io.BytesIO(data))
                samples, _ = soundfile.read(io.BytesIO(data), dtype="float32")
            except Exception as exc:
                raise ValueError(f"the speech backend returned {len(data)} bytes that are not audio ({exc})") from None
            if info.frames == 0 or len(samples) == 0:
                raise ValueError("the speech backend returned audio without frames")
        except Exception:
            run.ws.ledger.add("audio", backend.label, requests=1, failures=1)
            raise
        atomic_write(path, data)
        run.ws.ledger.add("audio", backend.label, calls=1, requests=1,
                          cost_usd=spec.price_per_million_chars * len(query.text) / 1_000_000)
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


# ------------------------------------------------------------------------------------------ 6. write

def write(run: Run, categories: list[TaxCategory], kept: dict[str, list[Scored]], images: dict, audio: dict,
          started: float, stages: list[str]) -> dict:
    """The benchmark folder: parquet files and tasks (:func:`lmms_safebench.benchmarks.safebench.family.write`), provenance and the
    data card. Scenarios without a kept query are left out of the tasks (and named)."""
    from ..benchmarks.safebench.family import write as write_safebench
    from ..errors import DataError
    from .output import config_digest

    rows, written = {}, []
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
        if present:
            written.append(TaxCategory(category.slug, category.abbr, category.title, category.definition,
                                       tuple(present)))
    if not written:
        raise DataError("nothing to write: no scenario has a scored query (see the problems above)")
    for stale in run.folder.glob("*.parquet"):  # scenarios of an earlier write that are gone now
        stale.unlink()
    title = run.config.title or f"SafeBench-style benchmark {run.name}"
    generator = {"kind": "safebench", "command": f"lmms-safebench generate safebench CONFIG --name {run.name}",
                 "config_digest": config_digest(run.config), "taxonomy": run.taxonomy_source,
                 "top_k": run.config.scoring.top_k}
    manifest = write_safebench(run.folder, run.name, title, written, rows,
                               {"generator": generator, "problems": run.problems})
    _write_provenance(run, kept, images, audio)
    card = data_card(run, title, categories, manifest, started, stages)
    from .output import write_card

    write_card(run.folder, card)
    return manifest


def _write_provenance(run: Run, kept: dict[str, list[Scored]], images: dict, audio: dict) -> None:
    lines = []
    for ranked in kept.values():
        for rank, s in enumerate(ranked, 1):
            q = s.query
            lines.append(json.dumps({
                "id": q.id, "scenario": q.scenario, "category": q.category, "query": q.text, "rank": rank,
                "score": s.score, "axes": s.axes, "ratings": s.ratings, "batch": q.batch, "position": q.position,
                "form": q.form, "style": q.style,
                "image": {k: images[q.id][k] for k in ("subject", "seed", "rounds", "final", "approved", "critic")}
                if q.id in images else None,
                "audio": {v: r["file"] for v, r in audio.get(q.id, {}).items()} or None}, ensure_ascii=False))
    atomic_write(run.folder / "provenance.jsonl", "\n".join(lines) + "\n")


def _spec(spec) -> dict | None:
    return None if spec is None else spec.public()


def data_card(run: Run, title: str, categories: list[TaxCategory], manifest: dict, started: float,
              stages: list[str]) -> dict:
    cfg = run.config
    identify = run.ws.work / "identify.json" if cfg.taxonomy == "identify" else None
    ledger = run.ws.ledger.to_dict()
    per_scenario = {}
    for category, scenario in scenarios(categories):
        counts = run.stats.get(scenario.slug, {})
        per_scenario[scenario.slug] = {"category": category.abbr, **counts,
                                       "short_of_k": max(0, cfg.scoring.top_k - counts.get("kept", 0))}
    return {
        "name": run.name, "title": title,
        "generator": {"command": f"lmms-safebench generate safebench CONFIG --name {run.name}",
                      "stages_run_last": ",".join(stages), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "config_digest": manifest["generator"]["config_digest"]},
        "taxonomy": {"source": run.taxonomy_source,
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
            "audio": {"voices": cfg.speech.voices} if cfg.speech else None},
        "models": {"writer": _spec(cfg.llm), "scorers": [_spec(s) for s in cfg.scorer_specs], "critic": _spec(cfg.critic),
                   "image": _spec(cfg.image), "speech": _spec(cfg.speech),
                   "panel": [_spec(s) for s in cfg.panel_specs] if cfg.taxonomy == "identify" else None},
        "seeds": {"image_base_seed": cfg.image.seed if cfg.image else None,
                  "image_seed_per_query": "item_seed(image_base_seed, query id): base + a hash of the id, the same in "
                                          "every round of a query; each round's seed is in provenance.jsonl",
                  "speech_seed": cfg.speech.seed if cfg.speech else None},
        "counts": {"totals": manifest["totals"], "modalities": manifest["modalities"], "per_scenario": per_scenario},
        "cost": {"per_stage": {stage: {k: v for k, v in account.items() if k != "models"}
                               for stage, account in ledger.items()},
                 "models_per_stage": {stage: ", ".join(account["models"]) for stage, account in ledger.items()},
                 "totals": run.ws.ledger.totals()},
        "wall_time_seconds": {"this_run": round(time.perf_counter() - started, 3),
                              "all_runs_in_stages": round(sum(a["seconds"] for a in ledger.values()), 3)},
        "problems": run.problems,
        "files": {"provenance": "provenance.jsonl (one line per kept query: scores, ranks, image rounds, audio)",
                  "work": "work/ (resumable state: items per stage, calls.sqlite, ledger.json, media files)"},
    }
