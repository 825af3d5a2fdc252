"""Jurors: turn a case (and, when deliberating, the panel's reviews) into one review.

An LLM juror builds its prompt, looks the call up in the cache, otherwise sends it (holding a slot of
its endpoint's in-flight limit only while the request is on the wire), retries transient failures
with backoff, asks again when the reply holds no readable verdict, and caches the outcome. A juror
that still has no verdict abstains; it never guesses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loguru import logger

from . import prompts
from .backends import OpenAIBackend, TransformersBackend
from .cache import JudgeCache, call_key
from .case import Case
from .config import JurorConfig
from .heuristic import heuristic_verdict
from .limits import EndpointLimiter
from .retry import PermanentError, TransientError, call_with_retries
from .verdict import Verdict, VerdictParseError, parse_verdict


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

    @property
    def valid(self) -> bool:
        return self.verdict is not None

    def to_dict(self) -> dict:
        out = {"juror": self.juror, "round": self.round, "status": "ok" if self.valid else "abstained"}
        if self.verdict is not None:
            out.update(self.verdict.to_dict())
        if self.error:
            out["error"] = self.error
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
        return Review(self.name, 0, heuristic_verdict(case.answer, case.criterion))

    def deliberate(self, case, show_question, own, others, round_no):
        return Review(self.name, round_no, own.verdict or heuristic_verdict(case.answer, case.criterion))

class LLMJuror(Juror):
    def __init__(self, config: JurorConfig, cache: JudgeCache | None, limiter: EndpointLimiter):
        super().__init__(config)
        self.cache = cache
        self.limiter = limiter
        self.backend = TransformersBackend(config) if config.backend == "transformers" else OpenAIBackend(config)
        self._fingerprint = config.fingerprint()

    def assess(self, case: Case, show_question: bool) -> Review:
        messages = prompts.assessment_messages(case, self.config.persona, show_question)
        return self._review(messages, prompts.echoed_texts(case), round_no=0)

    def deliberate(self, case, show_question, own, others, round_no):
        own_dict = own.verdict.to_dict() if own.valid else None
        others_list = [(o.juror, o.verdict.to_dict() if o.valid else None) for o in others]
        messages = prompts.deliberation_messages(case, self.config.persona, show_question, own_dict, others_list)
        # Fenced copies of the other reviews are dropped before parsing; bare review text is not, since a
        # juror that agrees may well write the very same JSON as its own verdict.
        quoted = prompts.echoed_texts(case) + [prompts.fence(prompts.review_text(r), "REVIEW") for _, r in others_list]
        review = self._review(messages, quoted, round_no)
        if not review.valid and own.valid:
            review.verdict, review.carried_forward = own.verdict, True
        return review

    def _send(self, messages: list[dict], usage: Usage):
        def one_request():
            usage.requests += 1
            # A fresh slot per request: how each one ends (success, 429, overload) steers the endpoint's limit.
            with self.limiter.slot(self.config.endpoint, self.config.max_in_flight):
                return self.backend.complete(messages)

        def on_retry(attempt, error, delay):
            logger.debug(f"juror {self.name}: attempt {attempt + 1} failed ({error}); retrying in {delay:.2f}s")

        return call_with_retries(one_request, max_attempts=self.config.max_attempts,
                                 base_delay=self.config.retry_base_delay, on_retry=on_retry)

    def _review(self, messages: list[dict], quoted: list[str], round_no: int) -> Review:
        usage = Usage()
        key = call_key(self._fingerprint, messages)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                usage.cache_hits += 1
                verdict = Verdict.from_dict(hit["verdict"]) if hit["status"] == "ok" else None
                if verdict is None:
                    usage.abstentions += 1
                return Review(self.name, round_no, verdict, error=hit.get("error"), cached=True, usage=usage)

        verdict, error, reply = None, None, None
        conversation = list(messages)
        usage.calls += 1
        for _ in range(1 + self.config.parse_retries):
            try:
                completion = self._send(conversation, usage)
            except (TransientError, PermanentError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                break
            usage.prompt_tokens += completion.prompt_tokens
            usage.completion_tokens += completion.completion_tokens
            reply = completion.text
            try:
                verdict = parse_verdict(reply, quoted)
                error = None
                break
            except VerdictParseError as exc:
                error = f"unreadable reply: {exc}"
                conversation = [*messages, {"role": "assistant", "content": reply},
                                {"role": "user", "content": prompts.REPAIR_MESSAGE}]
        if verdict is None:
            usage.abstentions += 1
            logger.warning(f"juror {self.name} abstains: {error}")
        if self.cache is not None:
            self.cache.put(key, self.name, self.config.model, {
                "status": "ok" if verdict else "abstained",
                "verdict": verdict.to_dict() if verdict else None, "reply": reply, "error": error,
                "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens})
        return Review(self.name, round_no, verdict, error=error, usage=usage)

def make_juror(config: JurorConfig, cache: JudgeCache | None, limiter: EndpointLimiter) -> Juror:
    if config.backend == "heuristic":
        return HeuristicJuror(config)
    return LLMJuror(config, cache, limiter)
