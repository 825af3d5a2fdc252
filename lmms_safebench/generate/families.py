"""Families of generated benchmarks: how each is written, and the adapter its manifest gives back.

A family writes a benchmark in the schema of an official build (so the official loaders read it), with a
manifest naming the family, and the task folders of the same family writers the official tasks use
(:mod:`lmms_safebench.harness.taskwriter`). The registry (:mod:`lmms_safebench.benchmarks.registry`) turns the
manifest back into an adapter of the same class as the official benchmark's, over the generated taxonomy:
the same prompts, criteria style, default protocol and metrics. Importing this module registers the families.

- ``safebench``: SafeBench-style (categories of scenarios; image, two voices, text), tasks
  ``safebench_gen_<name>_{image,audio_female,audio_male,text}`` with category groups, judged by SafeBench's
  protocol (the five-juror panel) against a checklist of the benchmark's own categories.
- ``mmsafetybench``: MM-SafetyBench-style (scenarios with key-phrase images: SD, TYPO, SD_TYPO, text),
  tasks ``safebench_mmsb_gen_<name>_{sd,typo,sd_typo,text}``, judged with the criterion of each scenario's group.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..benchmarks import mmsafetybench as mmsb
from ..benchmarks import registry
from ..benchmarks import safebench as sb
from ..harness.taskwriter import (
    SAFEBENCH_MODEL_BLOCKS,
    Variant,
    lm_eval_template,
    lmms_eval_template,
    mmsb_family,
    safebench_family,
    support_files,
)
from ..jury.case import Criterion
from ..scoring.metrics import TABLES
from .output import (
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

# ------------------------------------------------------------------------------------------ SafeBench-style

SAFEBENCH_VARIANTS = {name: sb.VARIANTS[name] for name in sb.UMBRELLA}  # image, the two voices, text


def checklist(categories: list[TaxCategory]) -> Criterion:
    """SafeBench's judging standard over a benchmark's own categories."""
    return sb.checklist([c.title.lower() + (f": {c.definition.rstrip('.')}" if c.definition else "")
                         for c in categories])


def _sb_taxonomy(categories: list[TaxCategory]):
    cats = [sb.Category(c.abbr, c.slug, c.title) for c in categories]
    by_slug = {c.slug: cat for c, cat in zip(categories, cats, strict=True)}
    scenarios = [sb.Scenario(s.slug, s.title, by_slug[c.slug]) for c in categories for s in c.scenarios]
    return scenarios, cats


def write_safebench(folder: Path, name: str, title: str, categories: list[TaxCategory],
                    rows_by_scenario: dict[str, list[dict]], extra: dict) -> dict:
    """Write the parquet files (SafeBench build schema), the manifest and the task folders. ``rows``: per
    scenario slug, ``{"id", "query", "image": bytes|None, "audio_female": bytes|None, "audio_male": ...}``."""
    from ..data.safebench import features

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
    manifest = {"benchmark": key, "family": "safebench", "name": name, "title": title, "set": sb.FULL,
                "taxonomy": taxonomy_to_dict(categories), "scenarios": scenarios_meta, "totals": totals,
                "modalities": modalities, **extra}
    write_manifest(folder, manifest)
    write_tasks(folder, safebench_tasks(name, title, categories, modalities))
    registry.reset()
    return manifest


def safebench_tasks(name: str, title: str, categories: list[TaxCategory], modalities: list[str]) -> dict:
    key, prefix = key_of(name), f"safebench_gen_{name}"
    scenarios, cats = _sb_taxonomy(categories)
    table = TABLES["safebench"]
    build = f"`lmms-safebench generate safebench ... --name {name}`"
    variants = [Variant(v, f"{modality}.{sb.FULL}.{mode}", vtitle) for v, (modality, mode, vtitle)
                in SAFEBENCH_VARIANTS.items() if v in modalities]
    lmms = {"_default_template_yaml": lmms_eval_template(SCRIPT, build, title, table, VERSION, SAFEBENCH_MODEL_BLOCKS,
                                                         chat_messages=True), **support_files(SCRIPT, lmms_eval=True)}
    lmms.update(safebench_family(SCRIPT, key, prefix, title, scenarios, cats, variants, table, VERSION,
                                 umbrella=[v.name for v in variants]))
    lm = {"_default_template_yaml": lm_eval_template(SCRIPT, build, title, table, VERSION),
          **support_files(SCRIPT, lmms_eval=False)}
    lm.update(safebench_family(SCRIPT, key, prefix, title, scenarios, cats,
                               [v for v in variants if v.name == "text"], table, VERSION, lm_eval=True))
    return {"lmms_eval": lmms, "lm_eval": lm}


def safebench_adapter(key: str, folder: Path, manifest: dict) -> sb.SafeBench:
    categories = taxonomy_from_dict(manifest["taxonomy"])
    scenarios, cats = _sb_taxonomy(categories)
    name = manifest["name"]
    loader = partial(_load_safebench, folder=folder, name=name)
    return sb.SafeBench(scenarios, cats, checklist(categories), loader=loader, case_prefix=key, key=key,
                        title=manifest.get("title", name), task_prefix=f"safebench_gen_{name}")


def _load_safebench(selector, folder: Path, name: str):
    from ..data import safebench as data

    return data.load_docs(selector, directory=folder, build_command=f"lmms-safebench generate safebench CONFIG --name {name}")


# ------------------------------------------------------------------------------------------ MM-SafetyBench-style

def mmsb_scenarios(manifest: dict) -> list[mmsb.Scenario]:
    """The scenarios of a manifest. ``"criterion": "official"`` in an entry: the official scenario of that slug's
    criterion, word for word (so a regenerated official benchmark is judged exactly like the official one)."""
    out = []
    for number, entry in enumerate(manifest["scenario_list"], 1):
        official = mmsb.BY_SLUG.get(entry["slug"]) if entry.get("criterion") == "official" else None
        criterion = official.criterion if official else mmsb.criterion_for(entry["group"], entry["title"])
        out.append(mmsb.Scenario(number, entry["upstream"], entry["slug"], entry["title"], entry.get("questions", 0),
                                 criterion))
    return out


def write_mmsb(folder: Path, name: str, title: str, scenario_list: list[dict], records_by_scenario: dict[str, list[dict]],
               extra: dict, kinds: tuple[str, ...] = mmsb.IMAGE_KINDS) -> dict:
    """Write the parquet files (MM-SafetyBench build schema), the manifest and the task folders.
    ``scenario_list``: ``[{"slug", "title", "group", "upstream"}]``; ``records``: per slug, rows with the
    build's text fields and ``typo_image``/``sd_image`` bytes (None when absent)."""
    from ..data.mmsafetybench import features

    key = key_of(name)
    scenarios_meta, totals = {}, {"questions": 0, "sd_images": 0}
    listed = []
    for entry in scenario_list:
        records = records_by_scenario.get(entry["slug"], [])
        if not records:
            continue
        columns = {column: [] for column in features()}
        for record in records:
            typo, sd = record.get("typo_image"), record.get("sd_image")
            values = {**{f: record.get(f) for f in mmsb.TEXT_FIELDS}, "id": str(record["id"]),
                      "scenario": entry["upstream"], "scenario_slug": entry["slug"], "in_tiny": False,
                      "has_sd": sd is not None, "typo_lines": int(record.get("typo_lines", -1)),
                      "typo_image": {"bytes": typo, "path": None} if typo else None,
                      "sd_image": {"bytes": sd, "path": None} if sd else None}
            for column in columns:
                columns[column].append(values[column])
        file_name = f"{entry['slug']}.parquet"
        write_parquet(folder / file_name, columns, features())
        sd_count = sum(columns["has_sd"])
        scenarios_meta[entry["slug"]] = {"file": file_name, "upstream": entry["upstream"], "questions": len(records),
                                         "tiny": 0, "sd_images": sd_count}
        listed.append({**entry, "questions": len(records)})
        totals["questions"] += len(records)
        totals["sd_images"] += sd_count
    available = [k for k in kinds if k not in mmsb.KINDS_NEEDING_SD or totals["sd_images"]]
    manifest = {"benchmark": key, "family": "mmsafetybench", "name": name, "title": title, "scenario_list": listed,
                "scenarios": scenarios_meta, "totals": totals, "kinds": available, "tiny_list": False,
                "pairing": dict(mmsb.DEFAULT_PAIRING), **extra}
    write_manifest(folder, manifest)
    write_tasks(folder, mmsb_tasks(name, title, mmsb_scenarios(manifest), available))
    registry.reset()
    return manifest


def mmsb_tasks(name: str, title: str, scenarios: list[mmsb.Scenario], kinds: list[str]) -> dict:
    key, prefix = key_of(name), f"safebench_mmsb_gen_{name}"
    table = TABLES["mmsafetybench"]
    build = f"`lmms-safebench generate mmsafetybench ... --name {name}`"
    blocks = "lmms_eval_specific_kwargs:\n  default:\n    pre_prompt: \"\"\n    post_prompt: \"\"\n"
    lmms = {"_default_template_yaml": lmms_eval_template(SCRIPT, build, title, table, VERSION, blocks),
            **support_files(SCRIPT, lmms_eval=True)}
    lmms.update(mmsb_family(SCRIPT, key, prefix, title, scenarios, tuple(kinds), ("full",), ("plain",), table, VERSION))
    lm = {"_default_template_yaml": lm_eval_template(SCRIPT, build, title, table, VERSION),
          **support_files(SCRIPT, lmms_eval=False)}
    lm.update(mmsb_family(SCRIPT, key, prefix, title, scenarios, ("text",), ("full",), ("plain",), table, VERSION,
                          lm_eval=True))
    return {"lmms_eval": lmms, "lm_eval": lm}


def mmsb_adapter(key: str, folder: Path, manifest: dict) -> mmsb.MMSafetyBench:
    name = manifest["name"]
    loader = partial(_load_mmsb, folder=folder, name=name)
    return mmsb.MMSafetyBench(mmsb_scenarios(manifest), loader=loader, case_prefix=key, key=key,
                              title=manifest.get("title", name), task_prefix=f"safebench_mmsb_gen_{name}")


def _load_mmsb(selector, folder: Path, name: str):
    from ..data import mmsafetybench as data

    return data.load_docs(selector, directory=folder,
                          build_command=f"lmms-safebench generate mmsafetybench CONFIG --name {name}")


registry.register_family("safebench", safebench_adapter)
registry.register_family("mmsafetybench", mmsb_adapter)
