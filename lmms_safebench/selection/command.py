"""``lmms-safebench select``: keep the samples of a benchmark that best separate safe from unsafe models.

    lmms-safebench select RUN_FOLDER... --from BOARD --name NAME [--budget N] [--config FILE]

Input: the judged sample logs of several reference models on one board (a task family such as
``safebench_image``, ``safebench_mmsb_tiny_typo``, or a generated pool ``safebench_gen_<name>_pool``): inline
``--log_samples`` runs or ``lmms-safebench judge`` output, all under one jury. Output: a benchmark of the
chosen samples, ``safebench_sel_<name>`` tasks over the source's own documents (so the same cached verdicts
apply), and a data card comparing the chosen set with the whole pool and with random subsets of the same size
and quotas (MEAN, GAP, MAD, DIV over at least 20 draws; see :mod:`.quality`) and the models' rank order; for a
SafeBench variant, also the official MiniBench on the same models when their MiniBench logs are given.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from ..errors import DataError, SafebenchError
from ..generate.config import Device, Strict

HELP = "choose the samples of a benchmark that best separate safe from unsafe models"


class SelectionConfig(Strict):
    """Weights of the objective, quotas, baselines and embeddings (defaults documented in the README)."""

    alpha: float = Field(0.6, ge=0)  # separability
    beta: float = Field(0.2, ge=0)  # harmfulness
    gamma: float = Field(0.2, ge=0)  # diversity
    quotas: str = Field("proportional", pattern="^(proportional|equal)$")
    draws: int = Field(50, ge=20)  # random subsets for the baseline
    seed: int = 0
    embedding_model: str | None = "sentence-transformers/all-MiniLM-L6-v2"  # text embeddings of the questions
    image_model: str | None = "openai/clip-vit-base-patch32"  # CLIP image embeddings, for boards with images
    device: Device = "auto"  # both models; with neither model, diversity plays no part


@dataclass
class Pool:
    """The board's samples (rows) and the reference models (columns) of one jury."""

    board: str
    benchmark: str
    jury: str
    models: list[str]
    keys: list[str] = field(default_factory=list)  # case keys: what identifies a sample across models and runs
    scenarios: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    unsafe: np.ndarray | None = None  # rows x models: 1, 0 or NaN
    ratings: np.ndarray | None = None


def load_pool(folders: list[str], board: str, jury: str | None = None) -> tuple[Pool, list, list[str]]:
    """The verdict matrix of ``board`` from judged runs, and every entry found (for other boards' numbers)."""
    from ..report.collect import collect

    entries, notes = collect(folders)
    on_board = [e for e in entries if e.board == board]
    if not on_board:
        boards = sorted({e.board for e in entries})
        raise DataError(f"no judged samples of {board!r} under {', '.join(folders)} (the runs there are on: "
                        f"{', '.join(boards) or 'nothing judged'}); run the reference models on {board} and judge them")
    identities = sorted({e.jury for e in on_board})
    if jury is None and len(identities) > 1:
        raise DataError(f"the runs of {board} were judged by several juries ({', '.join(identities)}); choose one "
                        "with --jury IDENTITY (numbers of different juries must not be mixed)")
    chosen = jury or identities[0]
    on_board = [e for e in on_board if e.jury == chosen]
    if not on_board:
        raise DataError(f"no run of {board} was judged by jury {chosen} (juries found: {', '.join(identities)})")
    models = sorted({e.model for e in on_board})
    if len(models) < 2:
        raise DataError(f"selection needs the logs of at least two reference models on {board}; found {models}")
    return _matrix(Pool(board, on_board[0].benchmark, chosen, models), on_board), entries, notes


def _matrix(pool: Pool, entries) -> Pool:
    """Fill ``pool``'s rows (one per case key, in the order met) and its verdict and rating matrices from the
    entries of its models."""
    rows: dict[str, int] = {}
    cells: list[tuple[int, int, float, float]] = []
    for entry in entries:
        column = pool.models.index(entry.model)
        for outcome, verdict in zip(entry.outcomes, entry.verdicts, strict=True):
            key = verdict.case.get("key")
            if not key:
                continue
            if key not in rows:
                rows[key] = len(pool.keys)
                pool.keys.append(key)
                pool.scenarios.append(outcome.scenario)
                pool.categories.append(outcome.category)
                pool.questions.append(str(verdict.case.get("question") or ""))
            if outcome.status == "judged" and outcome.unsafe in (0, 1):
                cells.append((rows[key], column, float(outcome.unsafe),
                              math.nan if outcome.rating is None else float(outcome.rating)))
    pool.unsafe = np.full((len(pool.keys), len(pool.models)), np.nan)
    pool.ratings = np.full((len(pool.keys), len(pool.models)), np.nan)
    for row, column, value, rating in cells:
        pool.unsafe[row, column] = value
        pool.ratings[row, column] = rating
    return pool


def embeddings(pool: Pool, config: SelectionConfig) -> np.ndarray | None:
    """One unit vector per sample: its question's text embedding joined with its image's CLIP embedding (when
    the board's documents carry images); None when neither model is configured."""
    from ..generate.embeddings import embed, joint

    text = embed(pool.questions, config.embedding_model, config.device) if config.embedding_model else None
    return joint(text, image_embeddings(pool, config) if config.image_model else None)


def image_embeddings(pool: Pool, config: SelectionConfig) -> np.ndarray | None:
    """CLIP embeddings of the pool's images, read from the board's documents (None when they carry none)."""
    from PIL import Image

    from .. import taskindex
    from ..benchmarks import registry
    from ..generate.embeddings import embed_images

    adapter = registry.get(pool.benchmark)
    rows = {key: i for i, key in enumerate(pool.keys)}
    vectors: dict[int, np.ndarray] = {}
    batch: list[tuple[int, object]] = []

    def flush():  # a batch at a time: a board's images are never all in memory at once
        if batch:
            encoded = embed_images([image for _, image in batch], config.image_model, config.device)
            vectors.update({row: vector for (row, _), vector in zip(batch, encoded, strict=True)})
            batch.clear()

    for info in taskindex.tasks_of_board(pool.board, pool.benchmark):
        for doc in adapter.load_docs(adapter.parse(info.selector)):
            row = rows.get(adapter.case(doc).key)
            if row is None or row in vectors or any(r == row for r, _ in batch):
                continue
            visual = [v for v in adapter.doc_to_visual(doc, {}) if isinstance(v, Image.Image)]
            if visual:
                batch.append((row, visual[0]))
            if len(batch) >= 32:
                flush()
    flush()
    if len(vectors) < len(pool.keys):
        return None  # a board without images (or with some missing): text alone measures diversity
    return np.stack([vectors[i] for i in range(len(pool.keys))])


def run(folders: list[str], board: str, name: str, budget: int, config: SelectionConfig, jury: str | None = None,
        data_root: str | None = None) -> dict:
    from ..benchmarks import registry
    from ..generate.output import write_card
    from . import quality, scores

    started = time.perf_counter()
    pool, entries, notes = load_pool(folders, board, jury)
    if budget < 1:
        raise DataError("--budget must be at least 1")
    if budget > len(pool.keys):
        raise DataError(f"--budget {budget} is larger than the pool: {board} has {len(pool.keys)} samples with logs")
    vectors = embeddings(pool, config)
    sep = scores.separability(pool.unsafe)
    harm = scores.harmfulness(pool.unsafe, pool.ratings)
    chosen = scores.select(sep, harm, vectors, pool.categories, budget, config.alpha, config.beta, config.gamma,
                           config.quotas)
    rows = np.array(sorted(chosen))
    strata = [np.array([i for i, c in enumerate(pool.categories) if c == category])
              for category in sorted(set(pool.categories))]
    card_quality = {
        "selected": quality.quality(pool.unsafe, vectors, rows, pool.models),
        "pool": quality.quality(pool.unsafe, vectors, None, pool.models),
        "random": quality.random_baseline(pool.unsafe, vectors, len(rows), pool.models, config.draws, config.seed,
                                          strata, config.quotas),
    }
    mini = _minibench(entries, board, pool)
    if mini is not None:
        card_quality["official_minibench"] = mini
    source = registry.get(pool.benchmark)
    selected = [pool.keys[i] for i in rows]
    extra = {"jury": pool.jury, "models": pool.models, "budget": budget}
    from ..generate.vlsafety import family as vlsafety

    final = vlsafety.is_pool(source, board, name)
    if final:  # VLSafetyBencher: the final set goes into the pool's own benchmark, as safebench_gen_<name>
        folder = source.folder
        manifest = vlsafety.write_final(source, selected, [pool.scenarios[i] for i in rows], extra)
    else:
        folder = registry.generated_dir(name, Path(data_root) if data_root else None)
        from ..generate.output import prepare

        prepare(folder, "selection", f"{board}:{budget}:{config.model_dump_json()}", restart=True)
        from .family import write_selection

        manifest = write_selection(folder, name, source, board, selected, [pool.scenarios[i] for i in rows], extra)
    card = {
        "name": name, "title": manifest["title"], "source": {"benchmark": source.key, "board": board,
                                                             "pool_samples": len(pool.keys)},
        "reference_models": pool.models, "jury_identity": pool.jury, "budget": budget,
        "objective": {"alpha (separability)": config.alpha, "beta (harmfulness)": config.beta,
                      "gamma (diversity)": config.gamma, "quotas": config.quotas,
                      "embedding_model": config.embedding_model, "image_model": config.image_model},
        "quality": _table(card_quality),
        "rank_order": {name: q.get("rank") for name, q in card_quality.items() if "rank" in q},
        "per_category": {c: sum(1 for i in rows if pool.categories[i] == c) for c in sorted(set(pool.categories))},
        "random_draws": config.draws, "wall_time_s": round(time.perf_counter() - started, 2),
        "tasks": manifest["tasks"], "notes": notes,
    }
    if final:
        vlsafety.attach_selection(folder, card)  # into the benchmark's own data card, under "final"
    else:
        write_card(folder, card)
    return {"folder": folder, "selected": len(selected), "card": card}


def _table(card_quality: dict) -> dict:
    out = {}
    for name, values in card_quality.items():
        row = {}
        for metric in ("MEAN", "GAP", "MAD", "DIV"):
            value = values[metric]
            row[metric] = f"{value['mean']:.2f} ± {value['std']:.2f}" if isinstance(value, dict) else value
        out[name] = row
    return out


def _minibench(entries, board: str, pool: Pool) -> dict | None:
    """The official MiniBench's quality on the same models (SafeBench boards), when their logs are given."""
    from . import quality

    if not board.startswith("safebench_") or board.startswith(("safebench_mini_", "safebench_mmsb", "safebench_gen_")):
        return None
    mini = board.replace("safebench_", "safebench_mini_", 1)
    runs = [e for e in entries if e.board == mini and e.jury == pool.jury and e.model in pool.models]
    if len({e.model for e in runs}) < 2:
        return None
    models = sorted({e.model for e in runs})
    minibench = _matrix(Pool(mini, runs[0].benchmark, pool.jury, models), runs)
    return {**quality.quality(minibench.unsafe, None, None, models), "board": mini}


def add_arguments(parser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_FOLDER",
                        help="judged runs of the reference models (--log_samples output or `judge` output)")
    parser.add_argument("--from", dest="board", required=True,
                        help="the board to select from: a task family such as safebench_image or "
                             "safebench_gen_<name>_pool")
    parser.add_argument("--name", required=True, help="the selection's name (tasks safebench_sel_<name>_...)")
    parser.add_argument("--budget", type=int, required=True, help="how many samples to keep")
    parser.add_argument("--config", default=None, help="a YAML with the objective's weights and other settings")
    parser.add_argument("--jury", default=None, help="the jury identity to use when the runs hold several")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $SAFEBENCH_DATA)")


def main(args) -> int:
    from ..generate.config import load, parse

    config = load(args.config, SelectionConfig) if args.config else parse({}, SelectionConfig)
    try:
        result = run(args.runs, args.board, args.name, args.budget, config, args.jury, args.data_dir)
    except DataError as exc:
        raise SafebenchError(str(exc)) from None
    card = result["card"]
    print(f"selected {result['selected']} of {card['source']['pool_samples']} samples of {args.board} into "
          f"{result['folder']}")
    for name, row in card["quality"].items():
        print(f"  {name:>18}: " + ", ".join(f"{k} {v if isinstance(v, str) else f'{v:.2f}'}" for k, v in row.items()))
    print(f"tasks: {', '.join(card['tasks'])}  (data card: {result['folder'] / 'data_card.md'})")
    return 0
