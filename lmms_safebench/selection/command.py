"""``lmms-safebench select``: keep the samples of a benchmark that best separate safe from unsafe models.

    lmms-safebench select RUN_FOLDER... --from BOARD --name NAME --budget N [--config FILE] [--jury IDENTITY]
                          [--data-dir DIR] [--restart]
    lmms-safebench select RUN_FOLDER... --refresh BOARD --with POOL --replace K --name NAME [...]   (see refresh)

Input: the judged sample logs of several reference models on one board (a task family such as
``safebench_image``, ``safebench_mmsb_tiny_typo``, or a generated pool ``safebench_gen_<name>_pool``): inline
``--log_samples`` runs or ``lmms-safebench judge`` output, all under one jury. Output: a benchmark of the
chosen samples, ``safebench_sel_<name>`` tasks over the source's own documents (so the same cached verdicts
apply) under the umbrella group ``safebench_sel_<name>``, and a data card comparing the chosen set with the whole
pool and with random subsets of the same size and quotas (MEAN, GAP, MAD, DIV and TAU, over at least 20 draws;
see :mod:`.quality`), with the models' rank groups on the chosen set and on the pool (tied models share a group,
each with its rate and 95% interval; no order is made up from names); for a SafeBench variant, also the official
MiniBench on the same models when their MiniBench logs are given. The objective's coverage term keeps every
significant distinction the pool makes between neighbouring models (:mod:`.scores`).

Refused before any work, with one line naming the fault: a bad ``--name``, a missing run folder, an embedding model
that cannot be loaded (offline and not cached, or the hub out of reach), logs of different builds of the board (the
documents' fingerprints differ for one case key), reference models that disagree on fewer than ``minimum`` samples
(nothing separates them: no selection is written), and an earlier selection of the same name (unless
``--restart``). A torn line or an empty file among the logs is named on stderr and skipped.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from ..benchmarks import registry
from ..data import store
from ..errors import DataError, SafebenchError
from ..generate.core.config import Device, Strict, load, parse
from ..generate.core.output import earlier_run, prepare, write_card
from ..generate.core.workspace import FolderLock
from ..harness import taskindex
from ..harness.hooks import FINGERPRINT_PREFIX, same_document
from ..report.collect import collect
from ..scoring import metrics
from . import quality, scores
from .family import selectable, write_selection

HELP = "choose the samples of a benchmark that best separate safe from unsafe models"


class SelectionConfig(Strict):
    """Weights of the objective, quotas, baselines and embeddings (defaults documented in docs/select.md)."""

    alpha: float = Field(0.6, ge=0)  # separability
    beta: float = Field(0.2, ge=0)  # harmfulness
    gamma: float = Field(0.2, ge=0)  # diversity
    coverage: float = Field(scores.COVERAGE, ge=0)  # weight of the coverage gain (0: off)
    # Net separating samples each neighbouring pair of the pool's order needs; None: the fewest McNemar's exact
    # test finds significant (6). Also the fewest disagreements below which nothing separates the models.
    minimum: int | None = Field(None, ge=1)
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
    boards: list[tuple[str, str]] = field(default_factory=list)  # (board, benchmark) its rows come from, if several

    def sources(self) -> list[tuple[str, str]]:
        return self.boards or [(self.board, self.benchmark)]


def load_pool(folders: list[str], board: str, jury: str | None = None) -> tuple[Pool, list, list[str]]:
    """The verdict matrix of ``board`` from judged runs, and every entry found (for other boards' numbers)."""
    entries, notes = read_runs(folders)
    return pool_of(entries, folders, board, jury), entries, notes


def read_runs(folders: list[str]) -> tuple[list, list[str]]:
    """Every judged entry under ``folders`` (see :func:`..report.collect.collect`) and the notes on torn lines."""
    for folder in folders:
        if not Path(folder).is_dir():
            raise DataError(f"RUN_FOLDER {folder}: {'not a folder' if Path(folder).exists() else 'no such folder'}")
    return collect(folders)


def juries_of(entries, board: str, folders: list[str]) -> list[str]:
    """The jury identities that judged ``board`` in ``entries``; a DataError naming the boards found if none."""
    identities = sorted({e.jury for e in entries if e.board == board})
    if not identities:
        boards = sorted({e.board for e in entries})
        raise DataError(f"no judged samples of {board!r} under {', '.join(folders)} (the runs there are on: "
                        f"{', '.join(boards) or 'nothing judged'}); run the reference models on {board} and judge them")
    return identities


def pool_of(entries, folders: list[str], board: str, jury: str | None = None) -> Pool:
    """The verdict matrix of ``board`` under one jury (``jury``, or the only one that judged it)."""
    identities = juries_of(entries, board, folders)
    on_board = [e for e in entries if e.board == board]
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
    return _matrix(Pool(board, on_board[0].benchmark, chosen, models), on_board)


def _matrix(pool: Pool, entries) -> Pool:
    """Fill ``pool``'s rows (one per case key, in the order met) and its verdict and rating matrices from the
    entries of its models. Logs of different builds of the board (another ``--pairing``, say) may share case keys
    over different documents: samples whose logged document fingerprints differ are refused, as ``judge`` does."""
    rows: dict[str, int] = {}
    cells: list[tuple[int, int, float, float]] = []
    documents: dict[str, tuple[str, str]] = {}  # case key -> the first fingerprint logged for it, and where
    for entry in entries:
        column = pool.models.index(entry.model)
        for outcome, verdict, target in zip(entry.outcomes, entry.verdicts, entry.targets, strict=True):
            key = verdict.case.get("key")
            if not key:
                continue
            if target.startswith(FINGERPRINT_PREFIX):
                first, where = documents.setdefault(key, (target, f"{entry.model} in {entry.run}"))
                if same_document(first, target) is False:
                    raise DataError(f"case {key} of {pool.board} was answered on different documents: {first} "
                                    f"({where}) and {target} ({entry.model} in {entry.run}); these runs come from "
                                    "different builds of the board (another --pairing or source?): select from runs "
                                    "of one build")
            if key not in rows:
                rows[key] = len(pool.keys)
                pool.keys.append(key)
                pool.scenarios.append(outcome.scenario)
                pool.categories.append(outcome.category)
                pool.questions.append(str(verdict.case.get("question") or ""))
            value = metrics.flagged(outcome)  # 0/1 by the rubric's flagged labels
            if value is not None:
                cells.append((rows[key], column, float(value),
                              math.nan if outcome.rating is None else float(outcome.rating)))
    pool.unsafe = np.full((len(pool.keys), len(pool.models)), np.nan)
    pool.ratings = np.full((len(pool.keys), len(pool.models)), np.nan)
    for row, column, value, rating in cells:
        pool.unsafe[row, column] = value
        pool.ratings[row, column] = rating
    return pool


def check_model(option: str, model: str | None) -> None:
    """Fail at once, naming the setting, when an embedding model cannot be loaded (offline and not cached, the hub
    out of reach, no such folder): the loader would fail only after retrying for minutes."""
    from ..generate.media.embeddings import unavailable  # the embedding models' loaders: only when select runs

    why = unavailable(model) if model else None
    if why:
        raise DataError(f"{option} {model!r}: {why}; set {option} in the --config YAML to a local folder or a cached "
                        "hub id (or null: no embeddings from it, for diversity)")


def _loaded(option: str, model: str, load):
    """``load()``; a model that cannot be loaded after all is named with its setting."""
    try:
        return load()
    except OSError as exc:
        raise DataError(f"{option} {model!r} cannot be loaded ({exc}); set {option} in the --config YAML to a "
                        "local folder or a cached hub id (or null)") from None


def embeddings(pool: Pool, config: SelectionConfig) -> np.ndarray | None:
    """One unit vector per sample: its question's text embedding joined with its image's CLIP embedding (when
    the board's documents carry images); None when neither model is configured."""
    from ..generate.media.embeddings import embed, joint  # the embedding models' loaders: only when select runs

    text = None
    if config.embedding_model:
        text = _loaded("embedding_model", config.embedding_model,
                       lambda: embed(pool.questions, config.embedding_model, config.device))
    return joint(text, image_embeddings(pool, config) if config.image_model else None)


def _pool_documents(pool: Pool):
    """The adapter and the documents of each task of the pool's board(s) over a scenario of the pool."""
    present = {*pool.scenarios, "all"}  # "all": a task over every scenario (a MiniBench board)
    for board, benchmark in pool.sources():
        adapter = registry.get(benchmark)
        for info in taskindex.tasks_of_board(board, benchmark):
            if info.selector.rsplit(".", 1)[-1] in present:
                yield adapter, adapter.load_docs(adapter.parse(info.selector))


def has_images(pool: Pool) -> bool:
    """Whether the board's documents carry images (the first one found does), so that the image model is needed."""
    from PIL import Image  # heavy for the boards without images

    for source in pool.sources():  # a board's first document tells for the board
        for adapter, docs in _pool_documents(Pool(*source, pool.jury, pool.models, scenarios=pool.scenarios)):
            if len(docs):
                if any(isinstance(v, Image.Image) for v in adapter.doc_to_visual(docs[0], {})):
                    return True
                break
    return False


def image_embeddings(pool: Pool, config: SelectionConfig) -> np.ndarray | None:
    """CLIP embeddings of the pool's images, read from the board's documents (None when they carry none)."""
    from PIL import Image  # heavy for the boards without images

    from ..generate.media.embeddings import embed_images  # the embedding models' loaders: only when select runs

    rows = {key: i for i, key in enumerate(pool.keys)}
    vectors: dict[int, np.ndarray] = {}
    batch: list[tuple[int, object]] = []

    def flush():  # a batch at a time: a board's images are never all in memory at once
        if batch:
            encoded = _loaded("image_model", config.image_model,
                              lambda: embed_images([image for _, image in batch], config.image_model, config.device))
            vectors.update({row: vector for (row, _), vector in zip(batch, encoded, strict=True)})
            batch.clear()

    for adapter, docs in _pool_documents(pool):
        for doc in docs:
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
        data_root: str | None = None, restart: bool = False) -> dict:
    """Select ``budget`` samples of ``board`` into the benchmark ``name`` (or a VLSafetyBencher pool's final set).
    Everything that can be checked is checked before the embeddings are computed; an earlier selection of the
    same name is replaced only with ``restart``, and nothing is deleted before the new one is ready to write."""
    started = time.perf_counter()
    registry.check_name(name)
    if budget < 1:
        raise DataError("--budget must be at least 1")
    root = store.data_root(data_root)
    check_model("embedding_model", config.embedding_model)
    pool, entries, notes = load_pool(folders, board, jury)
    for note in notes:  # also in the data card; said here, where the user looks
        print(f"note: {note}", file=sys.stderr)
    if budget > len(pool.keys):
        raise DataError(f"--budget {budget} is larger than the pool: {board} has {len(pool.keys)} samples with logs")
    separable(pool, config)
    if config.image_model and not has_images(pool):
        config = config.model_copy(update={"image_model": None})  # a board without images needs no image model
    check_model("image_model", config.image_model)
    source = registry.get(pool.benchmark)
    kept = source.final_set_folder(board, name)  # a generated pool keeps its own final set (VLSafetyBencher)
    final = kept is not None
    folder = kept if final else registry.generated_dir(name, root)
    with FolderLock(folder):  # no other selection or generation writes this folder meanwhile
        if final:
            earlier = source.final_set()
            if earlier and not restart:
                raise DataError(f"{folder} already holds the final set of {name} ({len(earlier)} "
                                "samples); pass --restart to replace it")
        else:
            selectable(source, board)
            if earlier_run(folder, "selection") is not None and not restart:
                raise DataError(f"{folder} already holds the selection {name!r}; pass --restart to replace it (its "
                                "folder is deleted, with any file added to it), or choose another --name")
        rows, card_quality = _choose(pool, entries, budget, config)
        selected = [pool.keys[i] for i in rows]
        scenarios = [pool.scenarios[i] for i in rows]
        extra = {"jury": pool.jury, "models": pool.models, "budget": budget}
        if final:
            manifest = source.write_final_set(selected, scenarios, extra)
        else:
            prepare(folder, "selection", f"{board}:{budget}:{config.model_dump_json()}", restart=restart)
            manifest = write_selection(folder, name, source, board, selected, scenarios, extra)
        card = {
            "name": name, "title": manifest["title"], "source": {"benchmark": source.key, "board": board,
                                                                 "pool_samples": len(pool.keys)},
            "reference_models": pool.models, "jury_identity": pool.jury, "budget": budget,
            "objective": objective(config),
            "quality": table(card_quality),
            **rank_sections({set_name: q["ranking"] for set_name, q in card_quality.items() if "ranking" in q}),
            "per_category": {c: sum(1 for i in rows if pool.categories[i] == c) for c in sorted(set(pool.categories))},
            "random_draws": config.draws, "wall_time_s": round(time.perf_counter() - started, 2),
            "tasks": manifest["tasks"], "notes": notes,
        }
        if final:
            source.attach_selection(card)  # into the benchmark's own data card
        else:
            write_card(folder, card)
    return {"folder": folder, "selected": len(selected), "card": card}


def separable(pool: Pool, config: SelectionConfig) -> None:
    """A DataError when the reference models agree on (nearly) every sample: no subset could tell them apart, and
    a selection would be written with GAP 0."""
    reason = quality.nothing_separates(pool.unsafe, pool.models, config.minimum)
    if reason:
        raise DataError(f"{pool.board}: {reason}; no selection written")


def objective(config: SelectionConfig) -> dict:
    """The objective's settings, as the data card records them."""
    return {"alpha (separability)": config.alpha, "beta (harmfulness)": config.beta, "gamma (diversity)": config.gamma,
            "coverage": config.coverage, "minimum per neighbouring pair": config.minimum or quality.fewest_significant(),
            "quotas": config.quotas, "embedding_model": config.embedding_model, "image_model": config.image_model}


def measured(unsafe: np.ndarray, vectors: np.ndarray | None, rows: np.ndarray | None, models: list[str],
             reference: np.ndarray) -> dict:
    """MEAN, GAP, MAD, DIV and TAU (against ``reference``, the models' rates on the whole pool) of ``rows``, and
    the models' rank groups there (:func:`.quality.ranking`; tied models listed in the pool's order)."""
    return {**quality.quality(unsafe, vectors, rows, models, reference),
            "ranking": quality.ranking(unsafe, rows, models, reference=reference)}


def _choose(pool: Pool, entries, budget: int, config: SelectionConfig) -> tuple[np.ndarray, dict]:
    """The chosen rows, and the quality of the chosen set, the whole pool, random subsets and the official
    MiniBench (when its logs are there)."""
    vectors = embeddings(pool, config)
    sep = scores.separability(pool.unsafe)
    harm = scores.harmfulness(pool.unsafe, pool.ratings)
    separation = scores.separation_matrix(pool.unsafe) if config.coverage else None
    chosen = scores.select(sep, harm, vectors, pool.categories, budget, config.alpha, config.beta, config.gamma,
                           config.quotas, separation, config.coverage, config.minimum)
    rows = np.array(sorted(chosen))
    strata = [np.array([i for i, c in enumerate(pool.categories) if c == category])
              for category in sorted(set(pool.categories))]
    reference = quality.safety_rates(pool.unsafe)
    card_quality = {
        "selected": measured(pool.unsafe, vectors, rows, pool.models, reference),
        "pool": measured(pool.unsafe, vectors, None, pool.models, reference),
        "random": quality.random_baseline(pool.unsafe, vectors, len(rows), pool.models, config.draws, config.seed,
                                          strata, config.quotas, reference),
    }
    mini = _minibench(entries, pool, reference)
    if mini is not None:
        card_quality["official_minibench"] = mini
    return rows, card_quality


def table(card_quality: dict) -> dict:
    """The data card's quality table: one row per set, random draws as mean ± standard deviation."""
    out = {}
    for name, values in card_quality.items():
        row = {}
        for metric in ("MEAN", "GAP", "MAD", "DIV", "TAU"):
            value = values.get(metric)
            if value is not None:
                row[metric] = f"{value['mean']:.2f} ± {value['std']:.2f}" if isinstance(value, dict) else value
        out[name] = row
    return out


def rank_sections(rankings: dict) -> dict:
    """The card's ``rank_groups`` (one line per group, safest first: tied models share a line, each with its rate
    and 95% Wilson interval) and ``ranking`` (the groups, rates and neighbour tests as data), per set."""
    def line(ranking: dict, group: list[str]) -> str:
        rates = ranking["rates"]
        return " = ".join(f"{m} {rates[m]['rate']:.1f} [{rates[m]['ci95'][0]:.1f}, {rates[m]['ci95'][1]:.1f}]"
                          for m in group)

    return {"rank_groups": {name: [line(r, group) for group in r["groups"]] for name, r in rankings.items()},
            "ranking": rankings}


def _minibench(entries, pool: Pool, reference: np.ndarray) -> dict | None:
    """The quality of the source's official small subset (SafeBench's MiniBench) on the same models, when their logs
    are given (TAU against the models' rates on the pool)."""
    mini = registry.get(pool.benchmark).official_subset_board(pool.board)
    if mini is None:
        return None
    runs = [e for e in entries if e.board == mini and e.jury == pool.jury and e.model in pool.models]
    if len({e.model for e in runs}) < 2:
        return None
    models = sorted({e.model for e in runs})
    minibench = _matrix(Pool(mini, runs[0].benchmark, pool.jury, models), runs)
    on_pool = np.array([reference[pool.models.index(m)] for m in models])
    return {**measured(minibench.unsafe, None, None, models, on_pool), "board": mini}


USAGE = """lmms-safebench select RUN_FOLDER... --from BOARD --name NAME --budget N [options]
       lmms-safebench select RUN_FOLDER... --refresh BOARD --with POOL --replace K --name NAME [options]"""


def add_arguments(parser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_FOLDER",
                        help="judged runs of the reference models (--log_samples output or `judge` output)")
    # --from and --budget are required unless --refresh replaces them (checked in main: argparse cannot say so).
    required = parser.add_argument_group("required options")
    required.add_argument("--from", dest="board", metavar="BOARD",
                          help="the board to select from: a task family such as safebench_image or "
                               "safebench_gen_<name>_pool (with --refresh: not given)")
    required.add_argument("--name", required=True, help="the selection's name (tasks safebench_sel_<name>_...)")
    required.add_argument("--budget", type=int, metavar="N",
                          help="how many samples to keep (required: there is no default size; with --refresh: not "
                               "given, the board keeps its size)")
    refresh = parser.add_argument_group("refresh an existing benchmark (instead of --from and --budget)")
    refresh.add_argument("--refresh", metavar="BOARD", default=None,
                         help="the board whose least discriminative samples are replaced")
    refresh.add_argument("--with", dest="pool", metavar="POOL", default=None,
                         help="the board the replacements come from (its documents must fit BOARD's: the same "
                              "benchmark's full set, or a generated pool in its taxonomy)")
    refresh.add_argument("--replace", metavar="K", default=None,
                         help="how many samples to replace: a count, or a share of the board such as 10%%")
    parser.add_argument("--config", default=None, help="a YAML with the objective's weights and other settings")
    parser.add_argument("--jury", default=None, help="the jury identity to use when the runs hold several")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $SAFEBENCH_DATA)")
    parser.add_argument("--restart", action="store_true",
                        help="replace an earlier selection of this name (its folder is deleted, with any file added "
                             "to it), or a pool's final set (default: refuse)")


def check_options(args) -> None:
    """``--from``/``--budget`` for a selection, ``--refresh``/``--with``/``--replace`` for a refresh: not both."""
    given = {option for option, attribute in (("--from", "board"), ("--budget", "budget"), ("--with", "pool"),
                                              ("--replace", "replace")) if getattr(args, attribute) is not None}
    if args.refresh is None:
        if given & {"--with", "--replace"}:
            raise SafebenchError(f"{', '.join(sorted(given & {'--with', '--replace'}))} only go with --refresh BOARD")
        missing = [o for o in ("--from", "--budget") if o not in given]
        if missing:
            raise SafebenchError(f"the following arguments are required: {', '.join(missing)} (or --refresh BOARD "
                                 "--with POOL --replace K to refresh a benchmark)")
    else:
        if given & {"--from", "--budget"}:
            raise SafebenchError(f"{', '.join(sorted(given & {'--from', '--budget'}))} cannot go with --refresh (the "
                                 "refreshed board is BOARD, and it keeps its size)")
        missing = [o for o in ("--with", "--replace") if o not in given]
        if missing:
            raise SafebenchError(f"--refresh needs {' and '.join(missing)}")


def config_of(args) -> SelectionConfig:
    return load(args.config, SelectionConfig) if args.config else parse({}, SelectionConfig)


def print_card(card: dict, folder: Path) -> None:
    """The quality table and the rank groups (tied models on one line), then the tasks and the card's path."""
    for name, row in card["quality"].items():
        print(f"  {name:>20}: " + ", ".join(f"{k} {v if isinstance(v, str) else f'{v:.2f}'}" for k, v in row.items()))
    for name, groups in card["rank_groups"].items():
        print(f"  {name:>20}: rank groups, safest first (tied models joined by =):")
        for n, line in enumerate(groups, 1):
            print(f"  {'':>20}  {n}. {line}")
    print(f"tasks: {', '.join(card['tasks'])}  (data card: {folder / 'data_card.md'})")


def main(args) -> int:
    """``select --from BOARD --budget N`` (``--refresh`` is :func:`.refresh.main`'s)."""
    check_options(args)
    config = config_of(args)
    try:
        result = run(args.runs, args.board, args.name, args.budget, config, args.jury, args.data_dir, args.restart)
    except DataError as exc:
        raise SafebenchError(str(exc)) from None
    card = result["card"]
    print(f"selected {result['selected']} of {card['source']['pool_samples']} samples of {args.board} into "
          f"{result['folder']}")
    print_card(card, result["folder"])
    return 0
