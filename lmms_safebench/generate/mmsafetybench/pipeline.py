"""The run of ``lmms-safebench generate mmsafetybench``: its stages in order (:mod:`.stages`), then the ``write``
stage: the benchmark in the official build's schema, its manifest and task family
(:func:`lmms_safebench.benchmarks.mmsafetybench.family.write`), and a data card.

``--official`` skips ``rewrite``: it reads the official build's 1,680 questions, key phrases and typography
images (:func:`.questions.read_official`) and renders SD images for them, written as a generated benchmark
(never mistaken for the official images: its tasks, case keys and manifest say so) judged with the official
scenarios' criteria. The exit status follows :mod:`..core.run`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from loguru import logger

from ...benchmarks import mmsafetybench as official_benchmark
from ...benchmarks.mmsafetybench.family import write as write_mmsb
from ...benchmarks.registry import generated_dir
from ...data import store
from ...errors import ConfigError, DataError
from ..core.config import load
from ..core.output import write_card
from ..core.problems import REFUSED, UNREACHABLE, UNREADABLE, Problem
from ..core.run import Run, parse_stages
from ..output import key_of
from . import KIND, KIND_OFFICIAL, STAGES
from .config import MMSBGenConfig
from .questions import Questions, read_official, read_questions
from .stages import (
    ITEM_STAGES,
    SD_KINDS_NOTE,
    current_rewrites,
    font_name,
    images,
    key_phrases,
    rewrite,
    sd_current,
    stage_problems,
    typo_current,
)


def main(args) -> int:
    config_path = Path(args.config).expanduser()
    config = load(config_path, MMSBGenConfig)
    stages = parse_stages(args.stages, STAGES)
    if args.official:
        if args.stages is not None and "rewrite" in stages:
            raise ConfigError("--stages: --official has no rewrite stage (the official questions are already "
                              "rewritten)")
        stages = tuple(stage for stage in stages if stage != "rewrite")
    if args.official and args.questions:
        raise ConfigError("--official and --questions exclude each other: --official uses the official questions")
    if not args.official and not args.questions:
        raise ConfigError("give --questions FILE (harmful questions with scenario labels), or --official")
    if args.official and config.image is None:
        raise ConfigError(f"{config_path}: --official renders SD images: set `image` (the image backend)")
    if not args.official and "rewrite" in stages and config.llm is None:
        raise ConfigError(f"{config_path}: `llm` (the rewriter) is required to rewrite questions")

    root = store.data_root(args.data_dir)
    folder = generated_dir(args.name, root)
    if args.official:
        questions = read_official(root, args.data_dir)
    else:
        questions = read_questions(Path(args.questions).expanduser(), dict(config.groups), config_path)
    # Only the config is compared with an earlier run's: an edited question is redone by itself (its records no
    # longer match it), the others are kept.
    run, state = Run.open(KIND_OFFICIAL if args.official else KIND, args.name, folder, config, args.restart,
                          progress=not args.no_progress)
    logger.info(f"generate mmsafetybench: {len(questions.items)} questions in {len(questions.scenarios)} scenarios "
                f"-> {folder} ({state})")
    return run.execute(lambda: _run(run, questions, stages, config_path))


def _run(run: Run, questions: Questions, stages: tuple[str, ...], config_path: Path) -> int:
    if "rewrite" in stages:
        rewrite(run, questions)
    if "images" in stages:
        images(run, questions)
    if "write" not in stages:
        print(f"stages {', '.join(stages)} done in {run.folder}; run with --stages write to write the benchmark")
        run.problems = questions.problems + [p for stage in ITEM_STAGES if stage in run.results
                                             for p in stage_problems(run, questions, stage)]
        run.report()
        return run.status()
    manifest = write(run, questions, config_path)
    run.ws.ledger.save()
    write_card(run.folder, card(run, questions, manifest))
    return report(run, manifest)


# ------------------------------------------------------------------------------------------ write

def write(run: Run, questions: Questions, config_path: Path) -> dict:
    """The benchmark folder from the stored items; the run's problems: the input's, the items still failing, and
    the questions still waiting for a stage."""
    config = run.config
    rewrites = current_rewrites(run, questions)
    phrases = key_phrases(run, questions)
    typos = {k: r for k, r in run.ws.items("typography").items() if typo_current(run, phrases, k, r)}
    sds = {k: r for k, r in run.ws.items("sd_images").items() if sd_current(run, phrases, k, r)} \
        if config.image else {}
    problems = list(questions.problems)
    named: dict[str, set] = {}
    for stage, done in (("rewrite", rewrites), ("typography", typos), ("sd_images", sds)):
        for problem in stage_problems(run, questions, stage):
            key = f"{problem.scenario}/{problem.id}"
            if key in questions.items and key not in done:  # still without a result: the problem stands
                named.setdefault(stage, set()).add(key)
                problems.append(problem)
    records: dict[str, list[dict]] = {sc.slug: [] for sc in questions.scenarios}
    waiting = {"rewrite": 0, "typography": 0, "sd_images": 0}
    for key, item in questions.items.items():
        if questions.official:
            row = questions.official[key]
            text = {f: row.get(f) for f in official_benchmark.TEXT_FIELDS}
            typo, lines = row["typo_image"]["bytes"], row.get("typo_lines", -1)
        else:
            rewritten, typo_record = rewrites.get(key), typos.get(key)
            if rewritten is None:
                waiting["rewrite"] += key not in named.get("rewrite", ())
                continue
            if typo_record is None:
                waiting["typography"] += key not in named.get("typography", ())
                continue
            text = {"question": item.question, "changed_question": rewritten["instruction"],
                    "key_phrase": rewritten["key_phrase"], "phrase_type": rewritten["phrase_type"],
                    "rephrased_question": rewritten["rephrased_question"],
                    "rephrased_question_sd": rewritten["rephrased_question_sd"], "gpt_pred": rewritten["reply"]}
            typo, lines = (run.ws.work / typo_record["file"]).read_bytes(), typo_record["lines"]
        sd = None
        if config.image is not None:
            sd_record = sds.get(key)
            if sd_record is None:
                waiting["sd_images"] += key not in named.get("sd_images", ())
            else:
                sd = (run.ws.work / sd_record["file"]).read_bytes()
        records[item.scenario.slug].append({"id": item.id, **text, "typo_image": typo, "typo_lines": lines,
                                            "sd_image": sd})
    results_of = {"rewrite": "rewrite", "typography": "typography image", "sd_images": "SD image"}
    for stage, count in waiting.items():
        if count:
            what = (f"{count} question(s) have no {results_of[stage]} yet (run --stages "
                    f"{'images' if stage != 'rewrite' else 'rewrite'}); "
                    + (SD_KINDS_NOTE if stage == "sd_images" else "they are left out"))
            problems.append(Problem(stage, what, field="sd_image" if stage == "sd_images" else None))
    if not any(records.values()):
        raise DataError("nothing to write: no question has been rewritten and drawn yet:\n" +
                        "\n".join(store.problem_lines(problems)))
    run.problems = problems

    scenario_list = [{"slug": sc.slug, "title": sc.title, "group": sc.group, "upstream": sc.upstream}
                     | ({"criterion": "official"} if questions.official else {}) for sc in questions.scenarios]
    kinds = official_benchmark.IMAGE_KINDS if config.image is not None else ("typo", "text")
    title = config.title or (f"MM-SafetyBench, regenerated SD images ({run.name})" if questions.official
                             else f"{run.name} (MM-SafetyBench-style)")
    extra = {"generator": generator_info(run, questions, config_path), "input": questions.info,
             "problems": [p.to_dict() for p in problems]}
    if config.image is not None:
        extra["sd_images"] = "regenerated" if questions.official else "generated"
        extra["sd_generation"] = sd_generation(run, questions, sds)
    manifest = write_mmsb(run.folder, run.name, title, scenario_list, records, extra, kinds)
    run.ws.ledger.add("write", items_done=sum(map(len, records.values())))
    return manifest


def generator_info(run: Run, questions: Questions, config_path: Path) -> dict:
    config, official = run.config, bool(questions.official)
    info = {"command": "lmms-safebench generate mmsafetybench", "mode": "official" if official else "questions",
            "config": str(config_path)}
    if config.llm is not None and not official:
        info["rewriter"] = config.llm.public()
    if config.image is not None:
        info["image"] = config.image.public()
    if not official:
        info["font"] = font_name(run)
    return info


def sd_generation(run: Run, questions: Questions, sds: dict[str, dict]) -> dict:
    spec = run.config.image
    items = questions.items
    return {"backend": spec.backend, "model": spec.model, "steps": spec.steps, "guidance": spec.guidance,
            "negative_prompt": spec.negative_prompt, "size": spec.size if spec.backend == "openai" else
            [spec.width, spec.height], "prompt_template": run.config.sd_prompt, "base_seed": spec.seed,
            "seed_rule": "base_seed + a hash of the item's '<scenario slug>/<id>' (lmms_safebench.generate.media."
                         "item_seed)",
            "seeds": {f"{items[k].scenario.upstream}/{items[k].id}": r["seed"] for k, r in sds.items() if k in items}}


# ------------------------------------------------------------------------------------------ card and summary

def card(run: Run, questions: Questions, manifest: dict) -> dict:
    name, ledger = run.name, run.ws.ledger

    def stage(name: str, **more) -> dict:
        result = run.results.get(name)
        return {"done_now": result.done if result else 0, "already_done": result.skipped if result else 0,
                "left_out": len(run.ws.failures(name)), **more}

    failed = [p.code for p in run.ws.failures("rewrite").values()]
    rewrites = current_rewrites(run, questions)
    counts = {"rewrite": stage("rewrite", refused=failed.count(REFUSED), unreadable=failed.count(UNREADABLE),
                               unreachable=failed.count(UNREACHABLE),
                               refused_replies=ledger.to_dict().get("rewrite", {}).get("refusals", 0),
                               answered_after_rephrasing=sum(r.get("phrasing", 0) > 0 for r in rewrites.values())),
              "typography": stage("typography"), "sd_images": stage("sd_images")}
    if questions.official:
        del counts["rewrite"], counts["typography"]
    accounts = ledger.to_dict()
    return {
        "name": name, "title": manifest["title"], "benchmark": key_of(name),
        "tasks": [f"safebench_mmsb_gen_{name}_{kind}" for kind in manifest["kinds"]],
        "generator": manifest["generator"],
        "scenarios": {entry["slug"]: {"label": entry["title"], "group": entry["group"],
                                      "criterion": "official" if entry.get("criterion") == "official" else
                                      f"{entry['group']} group", "questions": entry["questions"],
                                      "sd_images": manifest["scenarios"][entry["slug"]]["sd_images"]}
                      for entry in manifest["scenario_list"]},
        "input": questions.info,
        "counts_per_stage": counts,
        "written": manifest["totals"],
        "models": {"rewriter": manifest["generator"].get("rewriter", {}).get("model"),
                   "image": (manifest["generator"].get("image") or {}).get("model")},
        "seeds": {"base": run.config.image.seed if run.config.image else None,
                  "rule": "base + a hash of '<scenario slug>/<id>'; every image's seed is in manifest.json "
                          "(sd_generation.seeds)"},
        "tokens_and_cost": {stage: {"calls": a["calls"], "cache_hits": a["cache_hits"],
                                    "prompt_tokens": a["prompt_tokens"],
                                    "completion_tokens": a["completion_tokens"], "cost_usd": a["cost_usd"],
                                    "seconds": a["seconds"]} for stage, a in accounts.items()},
        "wall_time": {"this_run_seconds": round(time.perf_counter() - run.started, 2),
                      "all_runs_stage_seconds": round(sum(a["seconds"] for a in accounts.values()), 2)},
        "problems": [str(p) for p in run.problems],
    }


def report(run: Run, manifest: dict) -> int:
    totals = manifest["totals"]
    name = manifest["name"]
    print(f"wrote {manifest['benchmark']} to {run.folder}: {totals['questions']} questions in "
          f"{len(manifest['scenario_list'])} scenarios, {totals['sd_images']} SD images")
    print(f"tasks: {', '.join(f'safebench_mmsb_gen_{name}_{kind}' for kind in manifest['kinds'])} "
          f"(and safebench_mmsb_gen_{name} for all kinds); data card: {run.folder / 'data_card.md'}")
    run.report()
    status = run.status()
    if status:
        print(f"lmms-safebench: {sum(p.left_out for p in run.problems)} problem(s) left something out; everything "
              "else was written (see 'problems' in manifest.json)", file=sys.stderr)
    return status
