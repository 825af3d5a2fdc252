"""``lmms-safebench select --refresh BOARD --with POOL --replace K``: replace a benchmark's least discriminative
samples with a pool's best candidates (VLSafetyBencher's refresh of an existing benchmark).

    lmms-safebench select RUN_FOLDER... --refresh BOARD --with POOL --replace K|P% --name NAME [--config FILE]
                          [--jury IDENTITY] [--data-dir DIR] [--restart]

Input: judged runs of the same reference models on ``BOARD`` (any board of the package: an official variant, a
MiniBench task, a selection, a generated benchmark) and on ``POOL`` (another board whose documents fit it: the
full set of the board's benchmark, or a generated pool such as a VLSafetyBencher ``safebench_gen_<name>_pool``),
under one jury. Every model must have verdicts on both: one that has them on one board only is refused by name
(its samples could not be compared with the others').

The board's samples and the pool's candidates (the pool's samples that are not on the board) are scored together,
as one pool, by :mod:`.scores`. The K board samples of least separability (then harmfulness) go, among those whose
category the pool can refill, so that each category keeps its count; the candidates that replace them are chosen by
the selection's own greedy objective (:func:`.scores.select`: separability, harmfulness, coverage and diversity,
counted with the samples kept), within each category's freed room. K is a count or a share of the board (``10%``).

**Fit.** A candidate fits the board when the board's benchmark has its scenario and the candidate's category is
the board's for that scenario (its averaging unit): a pool of another benchmark (MM-SafetyBench candidates for a
SafeBench board, SafeBench's full set for a MiniBench board whose units are scenarios) is refused, naming the
first candidate that does not fit. Its documents must also load in the board's columns (:mod:`.family`).

Output: a new benchmark ``safebench_sel_<NAME>`` shaped like the board (its tasks, taxonomy and metric table),
over the kept and the new documents, each asked and judged through its own benchmark's adapter; and a data card
with MEAN, GAP, MAD, DIV and TAU (against the models' rates on board and candidates together) and the rank groups
before and after, the replaced and the added samples, and the per-category counts.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np

from ..benchmarks import registry
from ..data import store
from ..errors import DataError, SafebenchError
from ..generate.core.output import earlier_run, prepare, write_card
from ..generate.core.workspace import FolderLock
from ..generate.output import key_of
from . import quality, scores
from .command import (
    Pool,
    SelectionConfig,
    check_model,
    check_options,
    config_of,
    embeddings,
    has_images,
    juries_of,
    measured,
    objective,
    pool_of,
    print_card,
    rank_sections,
    read_runs,
    separable,
    table,
)
from .family import Part, Selection, selectable, write_selection


def replacements(text: str, size: int) -> int:
    """``--replace``: a count (``25``) or a share of the board (``10%``, rounded, at least one)."""
    value = str(text).strip()
    try:
        k = max(1, round(float(value[:-1]) * size / 100)) if value.endswith("%") else int(value)
    except ValueError:
        raise DataError(f"--replace {text!r}: expected a number of samples (25) or a share of the board (10%)") from None
    if not 1 <= k <= size:
        raise DataError(f"--replace {text}: the board has {size} samples; replace between 1 and {size}")
    return k


def common_jury(entries, folders: list[str], board: str, pool: str, jury: str | None) -> str:
    """The one jury whose verdicts on the board and the pool are compared (numbers of two juries never are)."""
    on_board, on_pool = juries_of(entries, board, folders), juries_of(entries, pool, folders)
    if jury is not None:
        for name, found in ((board, on_board), (pool, on_pool)):
            if jury not in found:
                raise DataError(f"no run of {name} was judged by jury {jury} (juries found: {', '.join(found)})")
        return jury
    shared = sorted(set(on_board) & set(on_pool))
    if not shared:
        raise DataError(f"{board} was judged by {', '.join(on_board)} and {pool} by {', '.join(on_pool)}: a refresh "
                        "compares the verdicts of one jury; judge both with the same jury")
    if len(shared) > 1:
        raise DataError(f"{board} and {pool} were both judged by several juries ({', '.join(shared)}); choose one with "
                        "--jury IDENTITY")
    return shared[0]


def same_models(old: Pool, new: Pool) -> None:
    """Refuse, naming them, the models judged on one board only."""
    for have, lack in ((old, new), (new, old)):
        missing = [m for m in have.models if m not in lack.models]
        if missing:
            raise DataError(f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} verdicts of jury "
                            f"{have.jury} on {have.board} but none on {lack.board}: a refresh scores the board and the "
                            f"pool on the same reference models; run {'it' if len(missing) == 1 else 'them'} on "
                            f"{lack.board} and judge, or leave {'its' if len(missing) == 1 else 'their'} runs out")


def primary_of(pool: Pool) -> Part:
    """The benchmark, board and variant that ``pool``'s board reads its documents through (a selection's: those
    of the board it was chosen from)."""
    adapter = registry.get(pool.benchmark)
    if isinstance(adapter, Selection):
        return Part(adapter.source, frozenset(), selectable(adapter.source, adapter.source_board),
                    board=adapter.source_board)
    return Part(adapter, frozenset(), selectable(adapter, pool.board), board=pool.board)


def origins(pool: Pool) -> list[Part]:
    """Where each row of ``pool`` is read from: its board's primary part, or, for a refreshed selection, the part
    (benchmark, board, variant) its case key was kept from."""
    adapter, primary = registry.get(pool.benchmark), primary_of(pool)
    if not isinstance(adapter, Selection) or len(adapter.parts) == 1:
        return [primary] * len(pool.keys)
    out = []
    for key in pool.keys:
        part = adapter.part_of(key)
        out.append(primary if part is adapter.parts[0] else Part(part.source, frozenset(), part.variant,
                                                                   board=part.board))
    return out


def units(adapter, board: str) -> dict[str, str]:
    """Each scenario of the board's benchmark and its averaging unit on ``board`` (a category, or itself)."""
    grouped = bool(adapter.categories(board))
    return {s.slug: s.category if grouped else s.slug for s in adapter.scenarios()}


def check_fit(old: Pool, new: Pool, candidates: list[int], primary: Part) -> None:
    """Refuse a pool whose candidates the board's benchmark has no place for (see the module docstring)."""
    unit_of = units(primary.source, primary.board)
    bad = [i for i in candidates if unit_of.get(new.scenarios[i]) != new.categories[i]]
    if bad:
        i = bad[0]
        where = ("which it does not have" if new.scenarios[i] not in unit_of
                 else f"whose unit there is {unit_of[new.scenarios[i]]!r}")
        raise DataError(f"the documents of {new.board} ({new.benchmark}) do not fit {old.board} "
                        f"({primary.source.title}): {len(bad)} of its {len(candidates)} candidates do not, e.g. "
                        f"{new.keys[i]} in scenario {new.scenarios[i]!r} (category {new.categories[i]!r}), "
                        f"{where}; refresh from a pool of the board's benchmark and taxonomy")


def combine(old: Pool, new: Pool, candidates: list[int]) -> Pool:
    """One pool: the board's rows, then the candidates'."""
    def rows(attribute):
        return getattr(old, attribute) + [getattr(new, attribute)[i] for i in candidates]

    return Pool(old.board, old.benchmark, old.jury, old.models, rows("keys"), rows("scenarios"), rows("categories"),
                rows("questions"), np.vstack([old.unsafe, new.unsafe[candidates]]),
                np.vstack([old.ratings, new.ratings[candidates]]),
                boards=[(old.board, old.benchmark), (new.board, new.benchmark)])


def least_discriminative(sep: np.ndarray, harm: np.ndarray, categories: list[str], board_rows: int,
                         candidates_by_category: Counter, k: int) -> list[int]:
    """The ``k`` board rows of least separability (then harmfulness, then the earlier row) among those whose
    category still has a candidate to take their place; a DataError when the pool cannot refill ``k``."""
    out, taken = [], Counter()
    for row in sorted(range(board_rows), key=lambda r: (sep[r], harm[r], r)):
        category = categories[row]
        if taken[category] < candidates_by_category[category]:
            out.append(row)
            taken[category] += 1
            if len(out) == k:
                return out
    offered = ", ".join(f"{c}: {n}" for c, n in sorted(candidates_by_category.items())) or "none"
    raise DataError(f"--replace {k}: the pool's candidates can replace only {len(out)} of the board's samples within "
                    f"their categories (candidates per category: {offered})")


def new_parts(pool: Pool, rows: list[int], where: list[Part], primary: Part) -> list[Part]:
    """The refreshed benchmark's parts: the rows grouped by the benchmark and variant they are read from."""
    grouped: dict[tuple[str, str, str], list[int]] = {(primary.source.key, primary.variant, primary.board): []}
    for row in rows:
        part = where[row]
        grouped.setdefault((part.source.key, part.variant, part.board), []).append(row)
    out = []
    for (key, variant, board), members in grouped.items():
        out.append(Part(registry.get(key), frozenset(pool.keys[r] for r in members), variant,
                        frozenset(pool.scenarios[r] for r in members), board))
    return out


def check_documents(adapter: Selection, pool: Pool, rows: list[int], variant: str) -> None:
    """Read the refreshed benchmark's documents, task by task, as lmms-eval will: each must load (the parts' columns
    fit) and together they must hold every kept and added sample (else the logs are of another build)."""
    from ..data.store import media_columns

    wanted: dict[str, set[str]] = {}
    for row in rows:
        wanted.setdefault(pool.scenarios[row], set()).add(pool.keys[row])
    for scenario, keys in sorted(wanted.items()):
        docs = adapter.load_docs(adapter.parse(f"{variant}.{scenario}"))
        found = {adapter.case(doc).key for doc in docs.remove_columns(media_columns(docs))}
        missing = sorted(keys - found)
        if missing:
            raise DataError(f"{len(missing)} of the samples chosen for scenario {scenario} have no document in the "
                            f"data folder, e.g. {missing[0]}: were the runs made on another build of the board or "
                            "the pool, or is its data missing?")


def choose(pool: Pool, board_rows: int, k: int, config: SelectionConfig,
           vectors) -> tuple[list[int], list[int], np.ndarray]:
    """``(removed, added, separability)``: the ``k`` board rows that go (the first ``board_rows`` rows of ``pool``
    are the board's) and the candidate rows that replace them, category by category."""
    sep, harm = scores.separability(pool.unsafe), scores.harmfulness(pool.unsafe, pool.ratings)
    removed = least_discriminative(sep, harm, pool.categories, board_rows,
                                   Counter(pool.categories[board_rows:]), k)
    gone = set(removed)
    allowed = np.arange(len(pool.keys)) >= board_rows
    added = scores.select(sep, harm, vectors, pool.categories, k, config.alpha, config.beta, config.gamma,
                          separation=scores.separation_matrix(pool.unsafe) if config.coverage else None,
                          coverage=config.coverage, minimum=config.minimum,
                          start=[r for r in range(board_rows) if r not in gone], allowed=allowed,
                          room=Counter(pool.categories[r] for r in removed))
    return removed, added, sep


def run_refresh(folders: list[str], board: str, pool_board: str, replace: str, name: str, config: SelectionConfig,
                jury: str | None = None, data_root: str | None = None, restart: bool = False) -> dict:
    """Refresh ``board`` from ``pool_board`` into the benchmark ``name`` (see the module docstring). Everything
    is checked and computed before the folder is touched; an earlier benchmark of the name only with ``restart``."""
    started = time.perf_counter()
    registry.check_name(name)
    if board == pool_board:
        raise DataError(f"--with {pool_board}: the pool must be another board than the one refreshed")
    root = store.data_root(data_root)
    check_model("embedding_model", config.embedding_model)
    entries, notes = read_runs(folders)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    identity = common_jury(entries, folders, board, pool_board, jury)
    old, new = pool_of(entries, folders, board, identity), pool_of(entries, folders, pool_board, identity)
    same_models(old, new)
    k = replacements(replace, len(old.keys))
    on_board = set(old.keys)
    candidates = [i for i, key in enumerate(new.keys) if key not in on_board]  # the pool may hold the board
    if not candidates:
        raise DataError(f"{pool_board} has no sample that is not already on {board}: nothing to refresh with")
    primary = primary_of(old)
    check_fit(old, new, candidates, primary)
    offer = origins(new)
    where = origins(old) + [offer[i] for i in candidates]
    pool = combine(old, new, candidates)
    separable(pool, config)
    if config.image_model and not has_images(pool):
        config = config.model_copy(update={"image_model": None})
    check_model("image_model", config.image_model)

    vectors = embeddings(pool, config)
    removed, added, sep = choose(pool, len(old.keys), k, config, vectors)
    gone = set(removed)
    rows = sorted([r for r in range(len(old.keys)) if r not in gone] + added)
    parts = new_parts(pool, rows, where, primary)
    check_documents(Selection(primary.source, key_of(name), name, f"safebench_sel_{name}", [], primary.board, parts),
                    pool, rows, primary.variant)

    reference = quality.safety_rates(pool.unsafe)
    before = np.arange(len(old.keys))
    card_quality = {"before": measured(pool.unsafe, vectors, before, pool.models, reference),
                    "after": measured(pool.unsafe, vectors, np.array(rows), pool.models, reference),
                    "board and candidates": measured(pool.unsafe, vectors, None, pool.models, reference)}
    folder = registry.generated_dir(name, root)
    with FolderLock(folder):
        if earlier_run(folder, "selection") is not None and not restart:
            raise DataError(f"{folder} already holds the selection {name!r}; pass --restart to replace it (its "
                            "folder is deleted, with any file added to it), or choose another --name")
        prepare(folder, "selection", f"refresh {board} {pool_board}:{k}:{config.model_dump_json()}", restart=restart)
        extra = {"jury": pool.jury, "models": pool.models,
                 "refreshed": {"board": board, "pool": pool_board, "replaced": k}}
        manifest = write_selection(folder, name, primary.source, primary.board, [pool.keys[r] for r in rows],
                                   sorted({pool.scenarios[r] for r in rows}), extra,
                                   [{"source": p.source.key, "board": p.board, "variant": p.variant,
                                     "selected": sorted(p.keys), "scenarios": sorted(p.scenarios)} for p in parts])

        def listed(chosen: list[int], **more) -> list[dict]:
            return [{"key": pool.keys[r], "category": pool.categories[r],
                     "separability": round(float(sep[r]), 4), **more} for r in chosen]

        before_counts, after_counts = Counter(pool.categories[r] for r in before), Counter(pool.categories[r] for r in rows)
        card = {
            "name": name, "title": manifest["title"],
            "refresh": {"board": board, "pool": pool_board, "board_samples": len(old.keys),
                        "candidates": len(candidates), "replaced": k},
            "reference_models": pool.models, "jury_identity": pool.jury, "objective": objective(config),
            "quality": table(card_quality),
            **rank_sections({set_name: q["ranking"] for set_name, q in card_quality.items()}),
            "removed": listed(sorted(removed)), "added": listed(added, **{"from": pool_board}),
            "per_category": {c: {"before": before_counts[c], "after": after_counts[c]}
                             for c in sorted(before_counts | after_counts)},
            "wall_time_s": round(time.perf_counter() - started, 2), "tasks": manifest["tasks"], "notes": notes,
        }
        write_card(folder, card)
    return {"folder": folder, "replaced": k, "card": card}


def main(args) -> int:
    """``select --refresh BOARD --with POOL --replace K``."""
    check_options(args)
    try:
        result = run_refresh(args.runs, args.refresh, args.pool, args.replace, args.name, config_of(args), args.jury,
                             args.data_dir, args.restart)
    except DataError as exc:
        raise SafebenchError(str(exc)) from None
    card = result["card"]
    print(f"replaced {result['replaced']} of {card['refresh']['board_samples']} samples of {args.refresh} with "
          f"candidates of {args.pool} into {result['folder']}")
    print_card(card, result["folder"])
    return 0
