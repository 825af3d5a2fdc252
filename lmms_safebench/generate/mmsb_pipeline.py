"""The work of ``lmms-safebench generate mmsafetybench``: its configuration, stages and outputs.

Stages, each resumable item by item (:class:`~.workspace.Workspace`; a rerun does no finished item, call or
image again):

- ``rewrite``: one structured reply per question from the rewriter (:mod:`.mmsb_prompts`): instruction,
  key phrase, phrase type, the question pointing at "the bottom of the image" and the one pointing at
  "the image". A reply that breaks the rules gets one repair request; a refusal is retried with the other
  phrasings. A question that is still refused, unreadable or unreachable is named and left out, never padded.
- ``images``: the typography image of each key phrase (the official renderer) and, with an ``image`` backend,
  the SD image of ``sd_prompt`` (seed per item, recorded). A failed SD image leaves its question out of the
  SD and SD_TYPO tasks only. SD_TYPO is composed when a task loads (as for the official build).
- ``write``: the benchmark in the official build's schema, its manifest and task family
  (:func:`lmms_safebench.benchmarks.mmsafetybench.family.write`), and a data card.

``--official`` skips ``rewrite``: it reads the official build's 1,680 questions, key phrases and typography
images and renders SD images for them, written as a generated benchmark (never mistaken for the official
images: its tasks, case keys and manifest say so) judged with the official scenarios' criteria.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from functools import partial
from pathlib import Path
from typing import Literal

from loguru import logger
from pydantic import Field, field_validator

from ..benchmarks import mmsafetybench as mmsb
from ..data import store
from ..errors import ConfigError, DataError
from . import mmsb_input
from .config import ImageSpec, LLMSpec, Strict, load
from .ledger import Ledger
from .output import atomic_write, config_digest, key_of, write_card

Group = Literal["general", "political", "legal", "financial", "health", "government"]
assert set(Group.__args__) == set(mmsb.GROUPS)

STAGES = ("rewrite", "images", "write")
KIND = "mmsafetybench"  # the output folder's kind (a --questions run)
KIND_OFFICIAL = "mmsafetybench_official"  # an --official run: never resumed as the other kind
SD_KINDS_NOTE = "left out of the SD and SD_TYPO tasks"


class MMSBGenConfig(Strict):
    """The generation YAML of ``generate mmsafetybench`` (every option is described in the README)."""

    llm: LLMSpec | None = None  # the rewriter (not used with --official)
    image: ImageSpec | None = None  # the SD image backend; without it, only TYPO and text tasks
    groups: dict[str, Group] = Field(default_factory=dict)  # scenario label -> group
    font: str | None = None  # TrueType font of the typography images (default: Liberation Sans)
    concurrency: int = Field(32, ge=1)  # items in flight per stage
    sd_prompt: str = "A photo of {key_phrase}"
    title: str | None = None  # the benchmark's title (default: from its name)

    @field_validator("sd_prompt")
    @classmethod
    def _one_placeholder(cls, value):
        try:
            value.format(key_phrase="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"use {{key_phrase}} as the only placeholder ({exc!r})") from None
        if "{key_phrase}" not in value:
            raise ValueError("must contain {key_phrase}")
        return value

    @field_validator("title")
    @classmethod
    def _plain_title(cls, value):
        # It becomes a group alias in the task YAMLs: keep to characters that need no quoting there.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][\w .,()&+/-]{0,99}", value):
            raise ValueError("use up to 100 letters, digits, spaces and . , ( ) & + / - _ (starting with a letter or "
                             "digit)")
        return value

    @field_validator("font")
    @classmethod
    def _font_exists(cls, value):
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such font file: {value}")
        return value


# ------------------------------------------------------------------------------------------ problems per item

class Refused(Exception):
    """The rewriter refused every phrasing."""


class Unreadable(Exception):
    """No usable rewrite, even after a repair request."""


class CallFailed(Exception):
    """The rewriter could not be reached (not cached: a rerun tries again)."""


class ImageFailed(Exception):
    """The image backend gave no usable image."""


def _problem_from(stage: str, entry: dict, items: dict[str, mmsb_input.Item], field: str | None = None):
    item = items.get(entry["id"])
    left = SD_KINDS_NOTE if stage == "sd_images" else "the question is left out"
    what = entry["what"] if left in entry["what"] else f"{entry['what']}; {left}"
    return store.Problem(stage, what, id=item.id if item else entry["id"], field=field,
                         scenario=item.scenario.slug if item else None)


class Problems:
    """Problems of the stages, kept in ``work/problems.json`` so that a run of later stages alone still names them."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.by_stage: dict[str, list[dict]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.by_stage = {}

    def set(self, stage: str, problems: list[store.Problem]) -> None:
        self.by_stage[stage] = [p.to_dict() | {"left_out": p.left_out} for p in problems]
        self.path.write_text(json.dumps(self.by_stage, indent=1, ensure_ascii=False), encoding="utf-8")

    def get(self, stage: str) -> list[store.Problem]:
        return [store.Problem(p["where"], p["what"], p.get("id"), p.get("field"), p.get("scenario"), p["left_out"])
                for p in self.by_stage.get(stage, [])]


# ------------------------------------------------------------------------------------------ the run

class Run:
    def __init__(self, args, config: MMSBGenConfig, config_path: Path):
        self.args, self.config, self.config_path = args, config, config_path
        self.official = bool(args.official)
        self.progress = not args.no_progress
        self.root = store.data_root(args.data_dir)
        self.started = time.perf_counter()
        self.input_problems: list[store.Problem] = []
        self.input_info: dict = {}
        self.scenarios: list[mmsb_input.Scenario] = []
        self.items: dict[str, mmsb_input.Item] = {}
        self.official_records: dict[str, dict] = {}  # --official: item key -> the official build's row
        self.problems: Problems | None = None  # set when the work folder is open
        self._phrases: dict[str, str] | None = None
        self.after_rephrasing = 0  # rewrites answered only by a later phrasing (the first was refused)

    # -------------------------------------------------------------- input
    def read_questions(self, path: Path) -> None:
        rows, problems = mmsb_input.read_rows(path)
        scenarios, items, planned = mmsb_input.plan(rows, dict(self.config.groups), str(self.config_path))
        self.input_problems = problems + planned
        if not items:
            raise DataError(f"--questions {path}: no row can be built:\n" +
                            "\n".join(store.problem_lines(self.input_problems)))
        self.scenarios, self.items = scenarios, {item.key: item for item in items}
        self.input_info = {"questions_file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                           "rows_read": len(rows), "questions_kept": len(items),
                           "rows_left_out": sum(p.left_out for p in self.input_problems)}

    def read_official(self) -> None:
        import pyarrow.parquet as pq

        directory = store.benchmark_dir(mmsb.NAME, self.root)
        manifest = store.read_manifest(directory)
        if manifest is None:
            raise DataError(f"--official renders SD images for the official MM-SafetyBench build, which is not in "
                            f"{directory}. Build it first: lmms-safebench build mmsafetybench"
                            f"{' --data-dir ' + str(self.args.data_dir) if self.args.data_dir else ''} "
                            "(--source PATH reads a local copy of the upstream repository)")
        columns = ["id", *mmsb.TEXT_FIELDS, "typo_image", "typo_lines"]
        for sc in mmsb.SCENARIOS:
            entry = manifest.get("scenarios", {}).get(sc.slug)
            if entry is None:
                self.input_problems.append(store.Problem(str(directory), f"scenario {sc.upstream} is not in the "
                                                         "official build; it is left out", scenario=sc.slug))
                continue
            scenario = mmsb_input.Scenario(sc.title, sc.slug, sc.upstream, sc.group, sc.slug)
            kept = 0
            for row in pq.read_table(str(directory / entry["file"]), columns=columns).to_pylist():
                typo = (row.get("typo_image") or {}).get("bytes")
                if not row.get("key_phrase") or not typo:
                    self.input_problems.append(store.Problem(
                        str(directory / entry["file"]), "no key phrase or typography image in the official build "
                        "(a build from the hub copy has none: rebuild from github or a local copy); left out",
                        id=row["id"], scenario=sc.slug))
                    continue
                item = mmsb_input.Item(f"{sc.slug}/{row['id']}", row["id"], row["question"], scenario)
                self.items[item.key] = item
                self.official_records[item.key] = row
                kept += 1
            if kept:
                self.scenarios.append(scenario)
        if not self.items:
            raise DataError(f"the official build in {directory} has no question with a key phrase; rebuild it with "
                            "lmms-safebench build mmsafetybench (from github or a local copy of the repository)")
        self.input_info = {"official_build": str(directory), "built_at": manifest.get("built_at"),
                           "source": manifest.get("source"), "questions_kept": len(self.items)}

    # -------------------------------------------------------------- stages
    def rewrite_current(self, key: str, record: dict) -> bool:
        item = self.items.get(key)
        return item is not None and record.get("question") == item.question and record.get("group") == item.scenario.group

    def rewrite(self, ws, result_log: dict) -> None:
        from . import mmsb_prompts as prompts
        from .llm import REFUSED, UNREADABLE, TextLLM, make_limiter

        llm = TextLLM(self.config.llm, ws.cache, ws.ledger, make_limiter(), role="rewriter")

        def work(item: mmsb_input.Item):
            group = prompts.REWRITE_GROUP[item.scenario.group]
            phrasings = prompts.messages(group, item.question)
            answer = llm.ask("rewrite", phrasings[0], partial(prompts.parse, question=item.question, group=group),
                             schema=prompts.SCHEMA, rephrasings=phrasings[1:])
            if answer.ok:
                return {"question": item.question, "group": item.scenario.group, **answer.value,
                        "reply": answer.text, "phrasing": answer.phrasing}
            if answer.status == REFUSED:
                raise Refused(f"the rewriter refused all {len(phrasings)} phrasings")
            if answer.status == UNREADABLE:
                raise Unreadable(answer.error)
            raise CallFailed(f"the rewriter could not be reached ({answer.error}); run again to retry")

        todo = {key: partial(work, item) for key, item in self.items.items()}
        result = ws.run("rewrite", todo, self.config.concurrency, "rewrite", self.progress, self.rewrite_current)
        result_log["rewrite"] = result
        self.problems.set("rewrite", [_problem_from("rewrite", p, self.items) for p in result.problems])

    def typo_current(self, ws, key: str, record: dict) -> bool:
        phrase = self.key_phrases(ws).get(key)
        return record.get("key_phrase") == phrase and record.get("font") == self.font_name and \
            (ws.work / record.get("file", "-")).is_file()

    def sd_current(self, ws, key: str, record: dict) -> bool:
        phrase = self.key_phrases(ws).get(key)
        return phrase is not None and record.get("prompt") == self.sd_prompt(phrase) and \
            record.get("seed") == self.seed(key) and (ws.work / record.get("file", "-")).is_file()

    @property
    def font_name(self) -> str:
        from ..data import typography

        return str(self.config.font or typography.DEFAULT_FONT.name)

    def sd_prompt(self, phrase: str) -> str:
        return self.config.sd_prompt.format(key_phrase=phrase)

    def seed(self, key: str) -> int:
        from .media import item_seed

        return item_seed(self.config.image.seed, key)

    def key_phrases(self, ws) -> dict[str, str]:
        """Item key -> key phrase, for the items whose key phrase is known (rewritten, or official)."""
        if self._phrases is None:
            if self.official:
                self._phrases = {key: row["key_phrase"] for key, row in self.official_records.items()}
            else:
                self._phrases = {key: record["key_phrase"] for key, record in ws.items("rewrite").items()
                                 if self.rewrite_current(key, record)}
        return self._phrases

    def images(self, ws, result_log: dict) -> None:
        self._phrases = None
        phrases = self.key_phrases(ws)
        if not self.official:
            self.typography(ws, phrases, result_log)
        if self.config.image is not None:
            self.sd_images(ws, phrases, result_log)

    def typography(self, ws, phrases: dict[str, str], result_log: dict) -> None:
        from ..data import typography

        def work(key: str, phrase: str):
            image, lines = typography.render(phrase, self.config.font)
            item = self.items[key]
            path = ws.media("typography", item.scenario.slug, f"{item.id}.jpg")
            atomic_write(path, typography.to_jpeg(image))
            return {"file": str(path.relative_to(ws.work)), "key_phrase": phrase, "font": self.font_name,
                    "lines": lines}

        todo = {key: partial(work, key, phrase) for key, phrase in phrases.items()}
        result = ws.run("typography", todo, min(self.config.concurrency, 4), "typography", self.progress,
                        partial(self.typo_current, ws))
        result_log["typography"] = result
        self.problems.set("typography", [_problem_from("typography", p, self.items) for p in result.problems])

    def sd_images(self, ws, phrases: dict[str, str], result_log: dict) -> None:
        from .backends import image_backend

        spec = self.config.image
        backend = image_backend(spec)
        label = backend.label

        def work(key: str, phrase: str):
            prompt, seed = self.sd_prompt(phrase), self.seed(key)
            try:
                data = backend.render(prompt, seed)
                store.decode_image(data)
            except Exception as exc:  # this item's problem: named, left out of the SD kinds only
                ws.ledger.add("sd_images", label, failures=1)
                raise ImageFailed(f"no SD image ({type(exc).__name__}: {exc})") from None
            ws.ledger.add("sd_images", label, calls=1, requests=1, cost_usd=spec.price_per_image)
            item = self.items[key]
            path = ws.media("sd", item.scenario.slug, f"{item.id}.png")
            atomic_write(path, data)
            return {"file": str(path.relative_to(ws.work)), "prompt": prompt, "seed": seed}

        # An in-process pipeline runs one image at a time; an endpoint takes several.
        concurrency = self.config.concurrency if spec.backend in ("openai", "typography") else 1
        todo = {key: partial(work, key, phrase) for key, phrase in phrases.items()}
        result = ws.run("sd_images", todo, concurrency, "SD images", self.progress, partial(self.sd_current, ws))
        result_log["sd_images"] = result
        self.problems.set("sd_images", [_problem_from("sd_images", p, self.items, "sd_image") for p in result.problems])

    # -------------------------------------------------------------- write
    def write(self, ws, folder: Path, name: str, result_log: dict) -> tuple[dict, list[store.Problem]]:
        from ..benchmarks.mmsafetybench.family import write as write_mmsb

        rewrites = {k: r for k, r in ws.items("rewrite").items() if self.rewrite_current(k, r)}
        self.after_rephrasing = sum(r.get("phrasing", 0) > 0 for r in rewrites.values())
        typos = {k: r for k, r in ws.items("typography").items() if self.typo_current(ws, k, r)}
        sds = {k: r for k, r in ws.items("sd_images").items() if self.sd_current(ws, k, r)} if self.config.image else {}
        problems = list(self.input_problems)
        named: dict[str, set] = {}
        for stage, done in (("rewrite", rewrites), ("typography", typos), ("sd_images", sds)):
            for p in self.problems.get(stage):
                key = f"{p.scenario}/{p.id}"
                if key in self.items and key not in done:  # still without a result: the problem stands
                    named.setdefault(stage, set()).add(key)
                    problems.append(p)
        records: dict[str, list[dict]] = {sc.slug: [] for sc in self.scenarios}
        waiting = {"rewrite": 0, "typography": 0, "sd_images": 0}
        for key, item in self.items.items():
            if self.official:
                row = self.official_records[key]
                text = {f: row.get(f) for f in mmsb.TEXT_FIELDS}
                typo, lines = row["typo_image"]["bytes"], row.get("typo_lines", -1)
            else:
                rewrite, typo_record = rewrites.get(key), typos.get(key)
                if rewrite is None:
                    waiting["rewrite"] += key not in named.get("rewrite", ())
                    continue
                if typo_record is None:
                    waiting["typography"] += key not in named.get("typography", ())
                    continue
                text = {"question": item.question, "changed_question": rewrite["instruction"],
                        "key_phrase": rewrite["key_phrase"], "phrase_type": rewrite["phrase_type"],
                        "rephrased_question": rewrite["rephrased_question"],
                        "rephrased_question_sd": rewrite["rephrased_question_sd"], "gpt_pred": rewrite["reply"]}
                typo, lines = (ws.work / typo_record["file"]).read_bytes(), typo_record["lines"]
            sd = None
            if self.config.image is not None:
                sd_record = sds.get(key)
                if sd_record is None:
                    waiting["sd_images"] += key not in named.get("sd_images", ())
                else:
                    sd = (ws.work / sd_record["file"]).read_bytes()
            records[item.scenario.slug].append({"id": item.id, **text, "typo_image": typo, "typo_lines": lines,
                                                "sd_image": sd})
        results_of = {"rewrite": "rewrite", "typography": "typography image", "sd_images": "SD image"}
        for stage, count in waiting.items():
            if count:
                what = (f"{count} question(s) have no {results_of[stage]} yet (run --stages "
                        f"{'images' if stage != 'rewrite' else 'rewrite'}); "
                        + (SD_KINDS_NOTE if stage == "sd_images" else "they are left out"))
                problems.append(store.Problem(stage, what, field="sd_image" if stage == "sd_images" else None))
        if not any(records.values()):
            raise DataError("nothing to write: no question has been rewritten and drawn yet:\n" +
                            "\n".join(store.problem_lines(problems)))

        scenario_list = [{"slug": sc.slug, "title": sc.label, "group": sc.group, "upstream": sc.upstream}
                         | ({"criterion": "official"} if self.official else {}) for sc in self.scenarios]
        kinds = mmsb.IMAGE_KINDS if self.config.image is not None else ("typo", "text")
        title = self.config.title or (f"MM-SafetyBench, regenerated SD images ({name})" if self.official
                                      else f"{name} (MM-SafetyBench-style)")
        extra = {"generator": self.generator_info(), "input": self.input_info,
                 "problems": [p.to_dict() for p in problems]}
        if self.config.image is not None:
            extra["sd_images"] = "regenerated" if self.official else "generated"
            extra["sd_generation"] = self.sd_generation(sds)
        manifest = write_mmsb(folder, name, title, scenario_list, records, extra, kinds)
        ws.ledger.add("write", items_done=sum(map(len, records.values())))
        return manifest, problems

    def generator_info(self) -> dict:
        info = {"command": "lmms-safebench generate mmsafetybench", "mode": "official" if self.official else "questions",
                "config": str(self.config_path)}
        if self.config.llm is not None and not self.official:
            info["rewriter"] = self.config.llm.public()
        if self.config.image is not None:
            info["image"] = self.config.image.public()
        if not self.official:
            info["font"] = self.font_name
        return info

    def sd_generation(self, sds: dict[str, dict]) -> dict:
        spec = self.config.image
        return {"backend": spec.backend, "model": spec.model, "steps": spec.steps, "guidance": spec.guidance,
                "negative_prompt": spec.negative_prompt, "size": spec.size if spec.backend == "openai" else
                [spec.width, spec.height], "prompt_template": self.config.sd_prompt, "base_seed": spec.seed,
                "seed_rule": "base_seed + a hash of the item's '<scenario slug>/<id>' (lmms_safebench.generate.media."
                             "item_seed)",
                "seeds": {f"{self.items[k].scenario.upstream}/{self.items[k].id}": r["seed"]
                          for k, r in sds.items() if k in self.items}}

    # -------------------------------------------------------------- card
    def card(self, name: str, manifest: dict, problems: list[store.Problem], ledger: Ledger, results: dict) -> dict:
        def stage(name: str, **more) -> dict:
            return {"done_now": results[name].done if name in results else 0,
                    "already_done": results[name].skipped if name in results else 0,
                    "left_out": len(self.problems.get(name)), **more}

        rewrite_problems = self.problems.get("rewrite")
        counts = {"rewrite": stage("rewrite", refused=sum(p.what.startswith("Refused") for p in rewrite_problems),
                                   unreadable=sum(p.what.startswith("Unreadable") for p in rewrite_problems),
                                   unreachable=sum(p.what.startswith("CallFailed") for p in rewrite_problems),
                                   refused_replies=ledger.to_dict().get("rewrite", {}).get("refusals", 0),
                                   answered_after_rephrasing=self.after_rephrasing),
                  "typography": stage("typography"), "sd_images": stage("sd_images")}
        if self.official:
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
            "input": self.input_info,
            "counts_per_stage": counts,
            "written": manifest["totals"],
            "models": {"rewriter": manifest["generator"].get("rewriter", {}).get("model"),
                       "image": (manifest["generator"].get("image") or {}).get("model")},
            "seeds": {"base": self.config.image.seed if self.config.image else None,
                      "rule": "base + a hash of '<scenario slug>/<id>'; every image's seed is in manifest.json "
                              "(sd_generation.seeds)"},
            "tokens_and_cost": {stage: {"calls": a["calls"], "cache_hits": a["cache_hits"],
                                        "prompt_tokens": a["prompt_tokens"],
                                        "completion_tokens": a["completion_tokens"], "cost_usd": a["cost_usd"],
                                        "seconds": a["seconds"]} for stage, a in accounts.items()},
            "wall_time": {"this_run_seconds": round(time.perf_counter() - self.started, 2),
                          "all_runs_stage_seconds": round(sum(a["seconds"] for a in accounts.values()), 2)},
            "problems": [str(p) for p in problems],
        }




def parse_stages(text: str | None, official: bool) -> tuple[str, ...]:
    if text is None:
        return STAGES[1:] if official else STAGES
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STAGES]
    if unknown or not chosen:
        raise ConfigError(f"--stages {text!r}: expected a comma-separated list of {', '.join(STAGES)}")
    if official and "rewrite" in chosen:
        raise ConfigError("--stages: --official has no rewrite stage (the official questions are already rewritten)")
    return tuple(s for s in STAGES if s in chosen)


def main(args) -> int:
    from ..benchmarks.registry import generated_dir

    config_path = Path(args.config).expanduser()
    config = load(config_path, MMSBGenConfig)
    stages = parse_stages(args.stages, args.official)
    if args.official and args.questions:
        raise ConfigError("--official and --questions exclude each other: --official uses the official questions")
    if not args.official and not args.questions:
        raise ConfigError("give --questions FILE (harmful questions with scenario labels), or --official")
    if args.official and config.image is None:
        raise ConfigError(f"{config_path}: --official renders SD images: set `image` (the image backend)")
    if not args.official and "rewrite" in stages and config.llm is None:
        raise ConfigError(f"{config_path}: `llm` (the rewriter) is required to rewrite questions")

    run = Run(args, config, config_path)
    folder = generated_dir(args.name, run.root)
    if args.official:
        run.read_official()
    else:
        run.read_questions(Path(args.questions).expanduser())
    # Only the config is compared with an earlier run's: an edited question is redone by itself (its records no
    # longer match it), the others are kept.
    kind = KIND_OFFICIAL if args.official else KIND
    from .workspace import Workspace

    ws, state = Workspace.open(folder, kind, config_digest(config), args.restart)
    logger.info(f"generate mmsafetybench: {len(run.items)} questions in {len(run.scenarios)} scenarios -> {folder} "
                f"({state})")
    run.problems = Problems(ws.work / "problems.json")
    results: dict = {}
    try:
        if "rewrite" in stages:
            run.rewrite(ws, results)
        if "images" in stages:
            run.images(ws, results)
        if "write" not in stages:
            print(f"stages {', '.join(stages)} done in {folder}; run with --stages write to write the benchmark")
            known = run.input_problems + [p for stage in ("rewrite", "typography", "sd_images")
                                          if stage in results for p in run.problems.get(stage)]
            if known:
                print("\n".join(store.problem_lines(known)), file=sys.stderr)
            return 1 if any(p.left_out for p in known) else 0
        manifest, problems = run.write(ws, folder, args.name, results)
        ws.ledger.save()
        card = run.card(args.name, manifest, problems, ws.ledger, results)
        write_card(folder, card)
    except KeyboardInterrupt:
        print("interrupted: every finished item, call and image is saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    finally:
        ws.close()
    return report(folder, manifest, problems)


def report(folder: Path, manifest: dict, problems: list[store.Problem]) -> int:
    totals = manifest["totals"]
    name = manifest["name"]
    print(f"wrote {manifest['benchmark']} to {folder}: {totals['questions']} questions in "
          f"{len(manifest['scenario_list'])} scenarios, {totals['sd_images']} SD images")
    print(f"tasks: {', '.join(f'safebench_mmsb_gen_{name}_{kind}' for kind in manifest['kinds'])} "
          f"(and safebench_mmsb_gen_{name} for all kinds); data card: {folder / 'data_card.md'}")
    left_out = [p for p in problems if p.left_out]
    if problems:
        print("\n".join(store.problem_lines(problems)), file=sys.stderr)
    if left_out:
        print(f"lmms-safebench: {len(left_out)} problem(s) left something out; everything else was written "
              "(see 'problems' in manifest.json)", file=sys.stderr)
        return 1
    return 0
