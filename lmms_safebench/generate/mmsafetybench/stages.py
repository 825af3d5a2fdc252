"""The stages of ``lmms-safebench generate mmsafetybench``, each resumable item by item (:mod:`..core.workspace`; a
rerun does no finished item, call or image again). Items are the questions, keyed ``<scenario slug>/<id>``.

- ``rewrite``: one structured reply per question from the rewriter (:mod:`.prompts`): instruction, key phrase,
  phrase type, the question pointing at "the bottom of the image" and the one pointing at "the image". A reply
  that breaks the rules gets one repair request; a refusal is retried with the other phrasings. A question that is
  still refused, unreadable or unreachable fails with that code (:mod:`..core.problems`): named and left out,
  never padded.
- ``images``: the ``typography`` image of each key phrase (the official renderer) and, with an ``image`` backend,
  the SD image of ``sd_prompt`` (``sd_images``; seed per item, recorded). A failed SD image leaves its question out
  of the SD and SD_TYPO tasks only. SD_TYPO is composed when a task loads (as for the official build).

A finished item is kept only while it still fits today's input (the same question and group, key phrase, font,
prompt and seed): an edited question is done again by itself.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from ...data import store, typography
from ..core.llm import REFUSED, UNREADABLE
from ..core.output import atomic_write
from ..core.problems import MediaFailed, Problem, Refused, Unreachable, Unreadable
from ..core.run import Run
from ..media.base import item_seed
from . import prompts
from .questions import Item, Questions

SD_KINDS_NOTE = "left out of the SD and SD_TYPO tasks"
ITEM_STAGES = ("rewrite", "typography", "sd_images")  # the workspace stages of the rewrite and images stages


# ------------------------------------------------------------------------------------------ what fits today's input

def font_name(run: Run) -> str:
    return str(run.config.font or typography.DEFAULT_FONT.name)


def sd_prompt(run: Run, phrase: str) -> str:
    return run.config.sd_prompt.format(key_phrase=phrase)


def image_seed(run: Run, key: str) -> int:
    return item_seed(run.config.image.seed, key)


def rewrite_current(questions: Questions, key: str, record: dict) -> bool:
    item = questions.items.get(key)
    return item is not None and record.get("question") == item.question and \
        record.get("group") == item.scenario.group


def current_rewrites(run: Run, questions: Questions) -> dict[str, dict]:
    return {key: record for key, record in run.ws.items("rewrite").items()
            if rewrite_current(questions, key, record)}


def key_phrases(run: Run, questions: Questions) -> dict[str, str]:
    """Item key -> key phrase, for the items whose key phrase is known (rewritten, or official)."""
    if questions.official:
        return {key: row["key_phrase"] for key, row in questions.official.items()}
    return {key: record["key_phrase"] for key, record in current_rewrites(run, questions).items()}


def typo_current(run: Run, phrases: dict[str, str], key: str, record: dict) -> bool:
    return record.get("key_phrase") == phrases.get(key) and record.get("font") == font_name(run) and \
        (run.ws.work / record.get("file", "-")).is_file()


def sd_current(run: Run, phrases: dict[str, str], key: str, record: dict) -> bool:
    phrase = phrases.get(key)
    return phrase is not None and record.get("prompt") == sd_prompt(run, phrase) and \
        record.get("seed") == image_seed(run, key) and (run.ws.work / record.get("file", "-")).is_file()


def stage_problems(run: Run, questions: Questions, stage: str) -> list[Problem]:
    """The items that failed in the stage's latest run, as problems of the benchmark: named by question and
    scenario, saying what is left out."""
    sd = stage == "sd_images"
    out = []
    for key, failure in run.ws.failures(stage).items():
        item = questions.items.get(key)
        out.append(replace(failure, what=f"{failure.what}; {SD_KINDS_NOTE if sd else 'the question is left out'}",
                           id=item.id if item else key, field="sd_image" if sd else None,
                           scenario=item.scenario.slug if item else None))
    return out


# ------------------------------------------------------------------------------------------ rewrite

def rewrite(run: Run, questions: Questions) -> None:
    llm = run.llm("rewriter", run.config.llm)

    def work(item: Item):
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
        raise Unreachable(f"the rewriter could not be reached ({answer.error}); run again to retry", shown="CallFailed")

    todo = {key: partial(work, item) for key, item in questions.items.items()}
    run.stage("rewrite", todo, "rewrite", current=partial(rewrite_current, questions))


# ------------------------------------------------------------------------------------------ images

def images(run: Run, questions: Questions) -> None:
    phrases = key_phrases(run, questions)
    if not questions.official:
        _typography(run, questions, phrases)
    if run.config.image is not None:
        _sd_images(run, questions, phrases)


def _typography(run: Run, questions: Questions, phrases: dict[str, str]) -> None:
    def work(key: str, phrase: str):
        image, lines = typography.render(phrase, run.config.font)
        item = questions.items[key]
        path = run.ws.media("typography", item.scenario.slug, f"{item.id}.jpg")
        atomic_write(path, typography.to_jpeg(image))
        return {"file": str(path.relative_to(run.ws.work)), "key_phrase": phrase, "font": font_name(run),
                "lines": lines}

    todo = {key: partial(work, key, phrase) for key, phrase in phrases.items()}
    run.stage("typography", todo, "typography", min(run.config.concurrency, 4), partial(typo_current, run, phrases))


def _sd_images(run: Run, questions: Questions, phrases: dict[str, str]) -> None:
    spec = run.config.image
    backend = run.image_backend(spec)
    label = backend.label

    def work(key: str, phrase: str):
        prompt, seed = sd_prompt(run, phrase), image_seed(run, key)
        try:
            data = backend.render(prompt, seed)
            store.decode_image(data)
        except Exception as exc:  # this item's problem: named, left out of the SD kinds only
            run.ws.ledger.add("sd_images", label, failures=1)
            raise MediaFailed(f"no SD image ({type(exc).__name__}: {exc})", shown="ImageFailed") from None
        run.ws.ledger.add("sd_images", label, calls=1, requests=1, cost_usd=spec.price_per_image)
        item = questions.items[key]
        path = run.ws.media("sd", item.scenario.slug, f"{item.id}.png")
        atomic_write(path, data)
        return {"file": str(path.relative_to(run.ws.work)), "prompt": prompt, "seed": seed}

    # An in-process pipeline runs one image at a time; an endpoint takes several.
    concurrency = run.config.concurrency if spec.backend in ("openai", "typography") else 1
    todo = {key: partial(work, key, phrase) for key, phrase in phrases.items()}
    run.stage("sd_images", todo, "SD images", concurrency, partial(sd_current, run, phrases))
