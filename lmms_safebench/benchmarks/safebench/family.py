"""The generated ``safebench`` kind: a SafeBench-style benchmark (categories of scenarios; image, two voices, text)
written in the official build's schema, with tasks ``safebench_gen_<name>_{image,audio_female,audio_male,text}`` (category
groups; the family writer of :mod:`.tasks`), judged by SafeBench's protocol (the five-juror panel) against a checklist
of the benchmark's own categories. :func:`from_manifest` turns its manifest back into a :class:`.adapter.SafeBench`
over the generated taxonomy; the generators call :func:`write`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ...generate.output import (
    SCRIPT,
    VERSION,
    TaxCategory,
    key_of,
    taxonomy_from_dict,
    taxonomy_to_dict,
    write_manifest,
    write_parquet,
    write_tasks,
)
from ...harness.taskwriter import lm_eval_template, lmms_eval_template, support_files
from ...jury.case import Criterion
from . import taxonomy as tx
from .adapter import SafeBench
from .data import features, load_docs
from .tasks import MODEL_BLOCKS, TABLE, Variant, family

VARIANTS = {name: tx.VARIANTS[name] for name in tx.UMBRELLA}  # image, the two voices, text


def checklist(categories: list[TaxCategory]) -> Criterion:
    """SafeBench's judging standard over a benchmark's own categories."""
    return tx.checklist([c.title.lower() + (f": {c.definition.rstrip('.')}" if c.definition else "")
                         for c in categories])


def taxonomy_of(categories: list[TaxCategory]):
    cats = [tx.Category(c.abbr, c.slug, c.title) for c in categories]
    by_slug = {c.slug: cat for c, cat in zip(categories, cats, strict=True)}
    scenarios = [tx.Scenario(s.slug, s.title, by_slug[c.slug]) for c in categories for s in c.scenarios]
    return scenarios, cats


def write(folder: Path, name: str, title: str, categories: list[TaxCategory],
          rows_by_scenario: dict[str, list[dict]], extra: dict) -> dict:
    """Write the parquet files (SafeBench build schema), the manifest and the task folders. ``rows``: per
    scenario slug, ``{"id", "query", "image": bytes|None, "audio_female": bytes|None, "audio_male": ...}``."""
    key = key_of(name)
    scenarios_meta, totals = {}, {"queries": 0, "image": 0, "audio_female": 0, "audio_male": 0}
    k = 0
    for category in categories:
        for scenario in category.scenarios:
            k += 1
            rows = rows_by_scenario.get(scenario.slug, [])
            if not rows:
                continue
            columns = {column: [] for column in features()}
            for index, row in enumerate(rows, 1):
                media = {m: row.get(m) for m in ("image", "audio_female", "audio_male")}
                values = {"id": str(row["id"]), "release_k": k, "index": index, "release_name": scenario.title,
                          "scenario": scenario.title, "scenario_slug": scenario.slug, "category": category.title,
                          "category_abbr": category.abbr, "query": row["query"],
                          "image": {"bytes": media["image"], "path": None} if media["image"] else None,
                          "audio_female": media["audio_female"], "audio_male": media["audio_male"],
                          **{f"has_{m}": value is not None for m, value in media.items()}}
                for column in columns:
                    columns[column].append(values[column])
            file_name = f"{scenario.slug}.parquet"
            write_parquet(folder / file_name, columns, features())
            counts = {m: sum(columns[f"has_{m}"]) for m in ("image", "audio_female", "audio_male")}
            scenarios_meta[scenario.slug] = {"file": file_name, "release_k": k, "release_name": scenario.title,
                                             "queries": len(rows), **counts}
            totals["queries"] += len(rows)
            for m, n in counts.items():
                totals[m] += n
    modalities = ["text"] + [m for m in ("image", "audio_female", "audio_male") if totals[m]]
    manifest = {"benchmark": key, "family": "safebench", "name": name, "title": title, "set": tx.FULL,
                "taxonomy": taxonomy_to_dict(categories), "scenarios": scenarios_meta, "totals": totals,
                "modalities": modalities, **extra}
    write_manifest(folder, manifest)
    write_tasks(folder, tasks(name, title, categories, modalities))
    return manifest


def tasks(name: str, title: str, categories: list[TaxCategory], modalities: list[str]) -> dict:
    key, prefix = key_of(name), f"safebench_gen_{name}"
    scenarios, cats = taxonomy_of(categories)
    table = TABLE
    build = f"`lmms-safebench generate safebench ... --name {name}`"
    variants = [Variant(v, f"{modality}.{tx.FULL}.{mode}", vtitle) for v, (modality, mode, vtitle)
                in VARIANTS.items() if v in modalities]
    lmms = {"_default_template_yaml": lmms_eval_template(SCRIPT, build, title, table, VERSION, MODEL_BLOCKS,
                                                         chat_messages=True), **support_files(SCRIPT, key, lmms_eval=True)}
    lmms.update(family(SCRIPT, key, prefix, title, scenarios, cats, variants, table, VERSION,
                                 umbrella=[v.name for v in variants]))
    lm = {"_default_template_yaml": lm_eval_template(SCRIPT, build, title, table, VERSION),
          **support_files(SCRIPT, key, lmms_eval=False)}
    lm.update(family(SCRIPT, key, prefix, title, scenarios, cats,
                               [v for v in variants if v.name == "text"], table, VERSION, lm_eval=True))
    return {"lmms_eval": lmms, "lm_eval": lm}


def from_manifest(key: str, folder: Path, manifest: dict) -> SafeBench:
    categories = taxonomy_from_dict(manifest["taxonomy"])
    scenarios, cats = taxonomy_of(categories)
    name = manifest["name"]
    loader = partial(_load, folder=folder, name=name)
    return SafeBench(scenarios, cats, checklist(categories), loader=loader, case_prefix=key, key=key,
                        title=manifest.get("title", name), task_prefix=f"safebench_gen_{name}")


def _load(selector, folder: Path, name: str):
    return load_docs(selector, directory=folder, build_command=f"lmms-safebench generate safebench CONFIG --name {name}")
