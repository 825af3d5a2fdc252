"""Jurors: turn a case (and, when deliberating, the panel's reviews) into one review.

An LLM juror builds its prompt from the case's rubric (:mod:`.rubric`), looks the call up in the cache,
otherwise sends it through the transport (:mod:`lmms_safebench.llm`: holding a slot of its endpoint's in-flight
limit only while the request is on the wire, retrying transient failures with backoff), asks again when the
reply holds no readable verdict, and caches the outcome. A juror that still has no verdict abstains; it never
guesses. A juror that reads no prose (the heuristic, a guard) and has no rule for the criterion's kind under its
rubric abstains at once, as ``unsupported``.

A juror whose model takes images (``vision: true``) is sent a case's images with its prompt, every round
(:func:`.prompts.with_images`); its cache key holds their sha256 digests in place of the pictures. Any other juror
is sent text only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from loguru import logger

from ..llm.limits import EndpointLimiter
from ..llm.local import make_backend
from ..llm.retry import PermanentError, TransientError, call_with_retries
from . import prompts
from .cache import JudgeCache, call_key
from .case import Case
from .config import JurorConfig
from .guard import guard_messages, parse_guard_verdict
from .heuristic import heuristic_verdict
from .verdict import NoMapping, Verdict, VerdictConflictError, VerdictParseError

# Why a juror has no verdict (Review.failure). Only UNREADABLE comes from something the juror said.
TRANSPORT = "transport"  # the endpoint could not be reached or kept failing (connection, timeout, 5xx, 429)
REFUSED = "request_refused"  # the request was refused (400/401/403/404, a missing key, a model that will not load)
UNREADABLE = "unreadable"  # the juror replied, but with no readable verdict, or with conflicting ones
INTERNAL = "internal"  # a bug: an exception nobody expected
UNSUPPORTED = "unsupported"  # the juror has no rule for the criterion's kind under its rubric (heuristic, guard)


@dataclass
class Usage:
    """What one juror spent: calls sent, HTTP requests (with retries), cache hits, tokens."""

    calls: int = 0
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    abstentions: int = 0

    def add(self, other: "Usage") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

@dataclass
class Review:
    """A juror's review in one round (round 0 = independent assessment)."""

    juror: str
    round: int
    verdict: Verdict | None
    error: str | None = None
    cached: bool = False
    carried_forward: bool = False  # deliberation failed; the previous round's verdict stands
    usage: Usage = field(default_factory=Usage)
    failure: str | None = None  # why there is no verdict: TRANSPORT, REFUSED, UNREADABLE or INTERNAL

    @property
    def valid(self) -> bool:
        return self.verdict is not None

    def to_dict(self) -> dict:
        out = {"juror": self.juror, "round": self.round, "status": "ok" if self.valid else "abstained"}
        if self.verdict is not None:
            out.update(self.verdict.to_dict())
        if self.error:
            out["error"] = self.error
        if self.failure:
            out["failure"] = self.failure
        if self.cached:
            out["cached"] = True
        if self.carried_forward:
            out["carried_forward"] = True
        return out

class Juror:
    def __init__(self, config: JurorConfig):
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    def assess(self, case: Case, show_question: bool) -> Review:
        raise NotImplementedError

    def deliberate(self, case: Case, show_question: bool, own: Review, others: list[Review], round_no: int) -> Review:
        raise NotImplementedError

class HeuristicJuror(Juror):
    """Refusal patterns, no model. Deliberation cannot change its mind: it repeats its review."""

    def assess(self, case: Case, show_question: bool) -> Review:
        try:
            return Review(self.name, 0, heuristic_verdict(case.answer, case.criterion))
        except NoMapping as exc:
            return unsupported(self.name, 0, exc)

    def deliberate(self, case, show_question, own, others, round_no):
        return Review(self.name, round_no, own.verdict, error=own.error, failure=own.failure)


_reported: set[str] = set()


def unsupported(juror: str, round_no: int, exc: NoMapping) -> Review:
    """The review of a juror that has no rule for the case (logged once per juror and reason; counted)."""
    message = f"juror {juror} cannot judge these cases: {exc}; they stay unjudged (cause 'unsupported')"
    if message not in _reported:
        _reported.add(message)
        logger.error(message)
    return Review(juror, round_no, None, error=str(exc), failure=UNSUPPORTED, usage=Usage(abstentions=1))

class LLMJuror(Juror):
    def __init__(self, config: JurorConfig, cache: JudgeCache | None, limiter: EndpointLimiter):
        super().__init__(config)
        self.cache = cache
        self.limiter = limiter
        # Guard models' templates open the reply themselves (no generation prompt).
        self.backend = make_backend(config, f"juror {config.name!r}", generation_prompt=not config.is_guard,
                                    batch_size=config.batch_size, batch_wait=config.batch_wait)
        self._fingerprint = config.fingerprint()

    def _images(self, case: Case) -> tuple[bytes, ...]:
        """The images this juror is sent: the case's when its model takes images, else none."""
        return case.images if self.config.vision else ()

    def assess(self, case: Case, show_question: bool) -> Review:
        messages = prompts.assessment_messages(case, self.config.persona, show_question, self.config.vision)
        echoed = prompts.echoed_texts(case)
        return self._review(messages, echoed, echoed, 0, case.criterion.rubric, images=self._images(case))

    def deliberate(self, case, show_question, own, others, round_no):
        rubric = case.criterion.rubric
        others_list = [(o.juror, o.verdict) for o in others]
        messages = prompts.deliberation_messages(case, self.config.persona, show_question, own.verdict, others_list,
                                                 self.config.vision)
        # Fenced copies of the other reviews are dropped before parsing; their bare verdicts are not ignored
        # (only the answer's are), since a juror that agrees may well write the very same JSON as its own.
        echoed = prompts.echoed_texts(case)
        quoted = echoed + [prompts.fence(prompts.review_text(r, rubric), "REVIEW") for _, r in others_list]
        review = self._review(messages, quoted, echoed, round_no, rubric, images=self._images(case))
        if not review.valid and own.valid:
            review.verdict, review.carried_forward = own.verdict, True
        return review

    def _send(self, messages: list[dict], usage: Usage, rubric):
        def one_request():
            usage.requests += 1
            # A fresh slot per request: how each one ends (success, 429, overload) steers the endpoint's limit.
            with self.limiter.slot(self.config.endpoint, self.config.max_in_flight):
                return self.backend.complete(messages, rubric.schema, rubric.schema_name)

        def on_retry(attempt, error, delay):
            logger.debug(f"juror {self.name}: attempt {attempt + 1} failed ({error}); retrying in {delay:.2f}s")

        return call_with_retries(one_request, max_attempts=self.config.max_attempts,
                                 base_delay=self.config.retry_base_delay, on_retry=on_retry)

    def _review(self, messages: list[dict], quoted: list[str], sources: list[str], round_no: int, rubric,
                parse=None, key_extra: dict | None = None, images: tuple[bytes, ...] = ()) -> Review:
        """``parse(reply, quoted, sources)`` reads the verdict (default: the rubric's reading); ``key_extra`` is
        what else it depends on (the cache key; a rubric other than harm adds its fingerprint). ``images`` go
        with the first user turn; the key holds their digests (hashing the pictures once, not their base64)."""
        usage = Usage()
        parse = parse or rubric.parse
        key_extra = {**(key_extra or {}), **rubric.key_extra()}
        if images:
            key_extra["images"] = [hashlib.sha256(data).hexdigest() for data in images]
        key = call_key({**self._fingerprint, **key_extra} if key_extra else self._fingerprint, messages)
        messages = prompts.with_images(messages, images)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                usage.cache_hits += 1
                verdict = Verdict.from_dict(hit["verdict"]) if hit["status"] == "ok" else None
                if verdict is None:
                    usage.abstentions += 1
                return Review(self.name, round_no, verdict, error=hit.get("error"), cached=True, usage=usage,
                              failure=None if verdict else UNREADABLE)

        verdict, error, failure, reply = None, None, None, None
        conversation = list(messages)
        usage.calls += 1
        for _ in range(1 + self.config.parse_retries):
            try:
                completion = self._send(conversation, usage, rubric)
            except TransientError as exc:
                error, failure = f"TransientError: {exc}", TRANSPORT
                break
            except PermanentError as exc:
                error, failure = f"PermanentError: {exc}", REFUSED
                break
            except Exception as exc:  # a bug in a backend: this juror abstains, the others go on
                logger.exception(f"juror {self.name}: internal error")
                error, failure = f"internal error: {type(exc).__name__}: {exc}", INTERNAL
                break
            usage.prompt_tokens += completion.prompt_tokens
            usage.completion_tokens += completion.completion_tokens
            reply = completion.text
            try:
                verdict = parse(reply, quoted, sources)
                error = failure = None
                break
            except VerdictConflictError as exc:
                error, failure = f"unreadable reply: {exc}", UNREADABLE
                repair = rubric.conflict_repair
            except VerdictParseError as exc:
                error, failure = f"unreadable reply: {exc}", UNREADABLE
                repair = rubric.repair
            conversation = [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": repair}]
        if verdict is None:
            usage.abstentions += 1
            logger.warning(f"juror {self.name} abstains: {error}")
        # Only what a juror actually said is cached. An outage (refused connection, timeout, 5xx or 429 after
        # the retries), a refused request or a crash is not a verdict: a rerun must ask again.
        if self.cache is not None and failure in (None, UNREADABLE):
            self.cache.put(key, self.name, self.config.model, {
                "status": "ok" if verdict else "abstained",
                "verdict": verdict.to_dict() if verdict else None, "reply": reply, "error": error,
                "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens})
        return Review(self.name, round_no, verdict, error=error, usage=usage, failure=failure)

class GuardJuror(LLMJuror):
    """A guard model (``reply_format: guard``, :mod:`.guard`): it is sent the request and the answer as
    two chat turns and its Safety/Refusal lines become the verdict by the rubric's guard rule for the
    criterion's kind (none: the juror abstains as ``unsupported``, without a call). It follows no
    deliberation prompt, so its assessment stands in every deliberation round (``carried_forward``)."""

    def assess(self, case: Case, show_question: bool) -> Review:
        kind, rubric = case.criterion.kind, case.criterion.rubric
        controversial = self.config.controversial
        if kind not in rubric.guard:
            return unsupported(self.name, 0, NoMapping(f"a guard model has no rule for criterion kind {kind!r} "
                                                       f"of the {rubric.name!r} rubric"))

        def parse(reply, quoted, sources):
            return parse_guard_verdict(reply, quoted, rubric=rubric, kind=kind, controversial=controversial)

        # The messages carry no criterion, so the cache key gets its kind: the verdict depends on it.
        return self._review(guard_messages(case), [], [], 0, rubric, parse=parse, key_extra={"criterion_kind": kind})

    def deliberate(self, case, show_question, own, others, round_no):
        return Review(self.name, round_no, own.verdict, error=own.error, carried_forward=own.valid,
                      failure=own.failure)


def make_juror(config: JurorConfig, cache: JudgeCache | None, limiter: EndpointLimiter) -> Juror:
    if config.backend == "heuristic":
        return HeuristicJuror(config)
    if config.is_guard:
        return GuardJuror(config, cache, limiter)
    return LLMJuror(config, cache, limiter)
