"""The generated ``mmsafetybench`` kind: an MM-SafetyBench-style benchmark (scenarios with key-phrase images: SD, TYPO,
SD_TYPO, text) written in the official build's schema, with tasks ``safebench_mmsb_gen_<name>_{sd,typo,sd_typo,text}``
(the family writer of :mod:`.tasks`), judged with the criterion of each scenario's group. :func:`from_manifest` turns
its manifest back into a :class:`.adapter.MMSafetyBench` over the generated scenarios; the generator calls
:func:`write`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ...generate.output import SCRIPT, VERSION, key_of, write_manifest, write_parquet, write_tasks
from ...harness.taskwriter import lm_eval_template, lmms_eval_template, support_files
from . import taxonomy as tx
from .adapter import MMSafetyBench
from .data import features, load_docs
from .tasks import TABLE, family


def scenarios_of(manifest: dict) -> list[tx.Scenario]:
    """The scenarios of a manifest. ``"criterion": "official"`` in an entry: the official scenario of that slug's
    criterion, word for word (so a regenerated official benchmark is judged exactly like the official one)."""
    out = []
    for number, entry in enumerate(manifest["scenario_list"], 1):
        official = tx.BY_SLUG.get(entry["slug"]) if entry.get("criterion") == "official" else None
        criterion = official.criterion if official else tx.criterion_for(entry["group"], entry["title"])
        out.append(tx.Scenario(number, entry["upstream"], entry["slug"], entry["title"], entry.get("questions", 0),
                                 criterion))
    return out


def write(folder: Path, name: str, title: str, scenario_list: list[dict], records_by_scenario: dict[str, list[dict]],
          extra: dict, kinds: tuple[str, ...] = tx.IMAGE_KINDS) -> dict:
    """Write the parquet files (MM-SafetyBench build schema), the manifest and the task folders.
    ``scenario_list``: ``[{"slug", "title", "group", "upstream"}]``; ``records``: per slug, rows with the
    build's text fields and ``typo_image``/``sd_image`` bytes (None when absent)."""
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
            values = {**{f: record.get(f) for f in tx.TEXT_FIELDS}, "id": str(record["id"]),
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
    available = [k for k in kinds if k not in tx.KINDS_NEEDING_SD or totals["sd_images"]]
    manifest = {"benchmark": key, "family": "mmsafetybench", "name": name, "title": title, "scenario_list": listed,
                "scenarios": scenarios_meta, "totals": totals, "kinds": available, "tiny_list": False,
                "pairing": dict(tx.DEFAULT_PAIRING), **extra}
    write_manifest(folder, manifest)
    write_tasks(folder, tasks(name, title, scenarios_of(manifest), available))
    return manifest


def tasks(name: str, title: str, scenarios: list[tx.Scenario], kinds: list[str]) -> dict:
    key, prefix = key_of(name), f"safebench_mmsb_gen_{name}"
    table = TABLE
    build = f"`lmms-safebench generate mmsafetybench ... --name {name}`"
    blocks = "lmms_eval_specific_kwargs:\n  default:\n    pre_prompt: \"\"\n    post_prompt: \"\"\n"
    lmms = {"_default_template_yaml": lmms_eval_template(SCRIPT, build, title, table, VERSION, blocks),
            **support_files(SCRIPT, key, lmms_eval=True)}
    lmms.update(family(SCRIPT, key, prefix, title, scenarios, tuple(kinds), ("full",), ("plain",), table, VERSION))
    lm = {"_default_template_yaml": lm_eval_template(SCRIPT, build, title, table, VERSION),
          **support_files(SCRIPT, key, lmms_eval=False)}
    lm.update(family(SCRIPT, key, prefix, title, scenarios, ("text",), ("full",), ("plain",), table, VERSION,
                          lm_eval=True))
    return {"lmms_eval": lmms, "lm_eval": lm}


def from_manifest(key: str, folder: Path, manifest: dict) -> MMSafetyBench:
    name = manifest["name"]
    loader = partial(_load, folder=folder, name=name)
    return MMSafetyBench(scenarios_of(manifest), loader=loader, case_prefix=key, key=key,
                              title=manifest.get("title", name), task_prefix=f"safebench_mmsb_gen_{name}")


def _load(selector, folder: Path, name: str):
    return load_docs(selector, directory=folder,
                          build_command=f"lmms-safebench generate mmsafetybench CONFIG --name {name}")
