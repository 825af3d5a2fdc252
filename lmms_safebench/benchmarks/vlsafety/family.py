"""The ``vlsafety`` family of generated benchmarks: a candidate pool, then the final set chosen from it.

Written in the SafeBench build's schema (one parquet file per scenario; here the scenarios are the
taxonomy's subcategories and the categories its 6 categories), with provenance columns added (strategy,
intended harm, key phrase, conflict direction, image id, parent, root, operation, origin, text check). Its
tasks come from :func:`lmms_safebench.harness.taskwriter.safebench_family`:

- ``safebench_gen_<name>_pool`` (variant ``pool``): every candidate, with category groups
  ``safebench_gen_<name>_pool_<category>`` over subcategory tasks ``safebench_gen_<name>_pool_<subcategory>``;
- after ``lmms-safebench select RUNS --from safebench_gen_<name>_pool --name <name> --budget N``: the variant
  ``final`` (``safebench_gen_<name>_final...``, the pool's documents whose case key was selected) under the
  umbrella group ``safebench_gen_<name>``. The selected keys are in the manifest (``final.selected``) and the
  selection's quality table in the data card (``final``).

The adapter is SafeBench's (image + question, the five-juror panel by default, a checklist of the
benchmark's own categories). Its case keys are ``gen_<name>/<sample id>`` whichever variant a document is
read through, so a verdict on a pool sample is the verdict on the same final sample (the jury cache and
``judge`` carry it over). Every model is sent the question as written with its image (``prompt_mode: plain``):
the pairs were written for that.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from loguru import logger

from ...data import store
from ...errors import DataError
from ...generate.output import (
    SCRIPT,
    VERSION,
    key_of,
    taxonomy_from_dict,
    taxonomy_to_dict,
    write_card,
    write_manifest,
    write_parquet,
    write_tasks,
)
from ...harness.taskwriter import lmms_eval_template, support_files, top_groups
from .. import safebench as sb
from ..base import CaseSpec
from ..base import Category as BaseCategory
from ..safebench.data import features as safebench_features
from ..safebench.data import load_docs
from ..safebench.family import checklist, taxonomy_of
from ..safebench.tasks import TABLE, Variant, family

FAMILY = "vlsafety"
POOL, FINAL = "pool", "final"
EXTRA_COLUMNS = ("strategy", "intended_harm", "key_phrase", "conflict_direction", "image_id", "parent", "root",
                 "operation", "origin", "text_check")

MODEL_BLOCKS = """\
# The question goes to every model as written, with its image (prompt_mode plain): the pairs were written for
# that. SAFEBENCH_PROMPT_MODE=paper wraps it in SafeBench's instruction instead.
lmms_eval_specific_kwargs:
  default: {prompt_mode: plain, audio_format: array, pre_prompt: "", post_prompt: ""}
"""


def features():
    import datasets  # heavy: only when a benchmark is written

    return datasets.Features({**safebench_features(), **{c: datasets.Value("string") for c in EXTRA_COLUMNS}})


def pool_board(name: str) -> str:
    return f"safebench_gen_{name}_{POOL}"


class VLSafety(sb.SafeBench):
    """A VLSafetyBencher benchmark: SafeBench's adapter over its taxonomy, with the ``pool`` and ``final`` sets."""

    def __init__(self, key: str, folder: Path, manifest: dict):
        categories = taxonomy_from_dict(manifest["taxonomy"])
        scenarios, cats = taxonomy_of(categories)
        self.name, self.folder = manifest["name"], Path(folder)
        super().__init__(scenarios, cats, checklist(categories), loader=partial(_load, folder=self.folder, name=self.name),
                         case_prefix=key, key=key, title=manifest.get("title", self.name),
                         task_prefix=f"safebench_gen_{self.name}")
        self.selected = frozenset((manifest.get("final") or {}).get("selected") or ())

    def parse(self, selector: str) -> sb.Selector:
        parts = (selector or "").split(".")
        if len(parts) != 4 or parts[0] != "image" or parts[1] not in (POOL, FINAL) or parts[2] != "default":
            raise ValueError(f"bad {self.title} selector {selector!r}: expected image.<pool|final>.default.<subcategory|all>")
        slug = parts[3]
        if slug != "all" and slug not in self._by_slug:
            raise ValueError(f"bad {self.title} selector {selector!r}: unknown subcategory {slug!r}")
        return sb.Selector("image", parts[1], "default", None if slug == "all" else self._by_slug[slug])

    def categories(self, board: str):
        return [BaseCategory(c.slug, c.abbr, c.title) for c in self._categories]

    def load_docs(self, selector: sb.Selector):
        if selector.set == FINAL and not self.selected:
            raise DataError(f"{self.title} has no final set yet: choose it with `lmms-safebench select RUN_FOLDER... "
                            f"--from {pool_board(self.name)} --name {self.name} --budget N`")
        docs = super().load_docs(selector)
        if selector.set == FINAL:
            docs = docs.filter(lambda sample: f"{self.key}/{sample}" in self.selected, input_columns=["id"])
        return docs

    def metric_table(self, variant: str) -> dict:
        return TABLE

    def metrics(self) -> dict:
        return dict(TABLE)

    def case(self, doc: dict) -> CaseSpec:
        scenario = self._scenario(doc.get("scenario_slug"))
        variant = doc.get("variant") or f"image.{doc.get('set')}.default"
        category = scenario.category.slug
        return CaseSpec(f"{self.key}/{doc['id']}", doc["query"], self._criterion, scenario.slug, category,
                        self.default_protocol, TABLE, (variant, category, scenario.slug))

    def case_from_logged(self, case: dict, variant: str) -> CaseSpec:
        scenario = self._scenario(case.get("scenario"))
        category = case.get("category") or scenario.category.slug
        path = tuple(case.get("path") or ()) or (variant, category, scenario.slug)
        return CaseSpec(str(case.get("key", "")), case.get("question", ""), self._criterion, scenario.slug, category,
                        self.default_protocol, TABLE, path)

    # ---------------------------------------------------------------- the final set `select` chooses from the pool
    def final_set_folder(self, board: str, name: str) -> Path | None:
        """``select --from safebench_gen_<name>_pool --name <name>`` chooses this pool's final set, kept here."""
        return self.folder if name == self.name and board == pool_board(self.name) else None

    def final_set(self) -> list[str]:
        return list(((store.read_manifest(self.folder) or {}).get("final") or {}).get("selected") or ())

    def write_final_set(self, selected: list[str], scenarios: list[str], extra: dict) -> dict:
        """Record the chosen case keys in the pool's manifest and add the final family's tasks. Returns what the
        selection reports: ``{"title", "tasks"}`` (the final family's umbrella group)."""
        manifest = store.read_manifest(self.folder)
        if manifest is None:
            raise DataError(f"{self.folder}: the pool's manifest.json is missing or unreadable")
        counts: dict[str, int] = {}
        for slug in scenarios:
            counts[slug] = counts.get(slug, 0) + 1
        manifest["final"] = {"selected": list(selected), "board": pool_board(self.name), "scenarios": counts,
                             "tasks": [f"safebench_gen_{self.name}"], **extra}
        manifest.pop("built_at", None)
        _write(self.folder, manifest, taxonomy_from_dict(manifest["taxonomy"]))
        return {"title": f"{manifest['title']} (final set)", "tasks": manifest["final"]["tasks"]}

    def attach_selection(self, card: dict) -> None:
        """Put the selection's data card (quality table, rank order, objective...) into the benchmark's, as ``final``."""
        try:
            whole = json.loads((self.folder / "data_card.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            whole = {"name": card.get("name"), "title": card.get("title")}
        whole["final"] = {k: v for k, v in card.items() if k not in ("name", "title")}
        write_card(self.folder, whole)


def _load(selector, folder: Path, name: str):
    return load_docs(selector, directory=folder,
                          build_command=f"lmms-safebench generate vlsafety CONFIG --images SOURCE --name {name}")


# ------------------------------------------------------------------------------------------ writing

def tasks(name: str, title: str, categories, pool_slugs, final_slugs=()) -> dict:
    """The lmms-eval task folder: the pool variant, and the final variant with its umbrella when chosen."""
    key, prefix = key_of(name), f"safebench_gen_{name}"
    scenarios, cats = taxonomy_of(categories)
    table = TABLE
    build = f"`lmms-safebench generate vlsafety ... --name {name}`"
    files = {"_default_template_yaml": lmms_eval_template(SCRIPT, build, title, table, VERSION, MODEL_BLOCKS,
                                                          chat_messages=True), **support_files(SCRIPT, key, lmms_eval=True)}
    for variant, slugs, vtitle, umbrella in ((POOL, pool_slugs, "candidate pool", None),
                                             (FINAL, final_slugs, "final set", [FINAL])):
        present = [s for s in scenarios if s.slug in set(slugs)]
        if not present:
            continue
        kept = [c for c in cats if any(s.category.slug == c.slug for s in present)]
        files.update(family(SCRIPT, key, prefix, title, present, kept,
                                      [Variant(variant, f"image.{variant}.default", vtitle)], table, VERSION,
                                      umbrella=umbrella))
    return {"lmms_eval": files}


def write_pool(folder: Path, name: str, title: str, categories, rows_by_scenario: dict[str, list[dict]],
               extra: dict) -> dict:
    """The pool's parquet files, manifest and tasks. ``rows``: per subcategory, ``{"id", "query", "image": bytes or
    a path (read when its subcategory is written, so one subcategory's images are in memory at a time),
    <EXTRA_COLUMNS>}``. A final set chosen earlier is kept when every selected sample is still in the pool."""
    key = key_of(name)
    earlier = store.read_manifest(folder) or {}
    scenarios_meta, total = {}, 0
    k = 0
    keys = set()
    for category in categories:
        for scenario in category.scenarios:
            k += 1
            rows = rows_by_scenario.get(scenario.slug) or []
            path = folder / f"{scenario.slug}.parquet"
            if not rows:
                path.unlink(missing_ok=True)  # a subcategory an earlier run had
                continue
            columns = {column: [] for column in features()}
            for index, row in enumerate(rows, 1):
                values = {"id": row["id"], "release_k": k, "index": index, "release_name": scenario.title,
                          "scenario": scenario.title, "scenario_slug": scenario.slug, "category": category.title,
                          "category_abbr": category.abbr, "query": row["query"],
                          "image": {"bytes": row["image"] if isinstance(row["image"], bytes) else
                                    Path(row["image"]).read_bytes(), "path": None}, "audio_female": None, "audio_male": None,
                          "has_image": True, "has_audio_female": False, "has_audio_male": False,
                          **{c: None if row.get(c) is None else str(row[c]) for c in EXTRA_COLUMNS}}
                for column in columns:
                    columns[column].append(values[column])
                keys.add(f"{key}/{row['id']}")
            write_parquet(path, columns, features())
            scenarios_meta[scenario.slug] = {"file": path.name, "release_k": k, "release_name": scenario.title,
                                             "queries": len(rows), "image": len(rows), "audio_female": 0,
                                             "audio_male": 0}
            total += len(rows)
    final = earlier.get("final")
    if final and not set(final.get("selected") or ()) <= keys:
        logger.warning(f"{name}: the regenerated pool no longer holds every sample of the final set chosen earlier; "
                       f"the final set is dropped (choose it again with lmms-safebench select ... --name {name})")
        final = None
    manifest = {"benchmark": key, "family": FAMILY, "name": name, "title": title, "set": POOL,
                "taxonomy": taxonomy_to_dict(categories), "scenarios": scenarios_meta,
                "totals": {"queries": total, "image": total, "audio_female": 0, "audio_male": 0},
                "modalities": ["image"], **extra}
    if final:
        manifest["final"] = final
    _write(folder, manifest, categories)
    return manifest


def _write(folder: Path, manifest: dict, categories) -> None:
    final = manifest.get("final") or {}
    files = tasks(manifest["name"], manifest["title"], categories, list(manifest["scenarios"]),
                  list(final.get("scenarios") or ()))
    manifest["tasks"] = top_groups(files["lmms_eval"])
    write_manifest(folder, manifest)
    write_tasks(folder, files)
