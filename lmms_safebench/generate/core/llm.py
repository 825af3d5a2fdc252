"""Text (and vision-language) models for the generators: cached, retried, rate-limited and accounted.

A generator asks :meth:`TextLLM.ask` for something it can parse (a JSON object or list, usually with a
JSON schema offered as structured output). The reply goes through the transport the jury's jurors use too
(:mod:`lmms_safebench.llm`: any OpenAI-compatible endpoint, or transformers in-process, batched), with its
retries and per-endpoint limits. Then:

- a reply that parses is the answer;
- a reply that does not parse gets one repair request; if the repaired reply does not parse either, the
  answer is unreadable (two calls in all: the other phrasings are for refusals, not for format);
- a refusal (refusal patterns, and nothing parseable) is retried with the caller's other phrasings, and
  counted; when every phrasing is refused the answer says so, and the caller reports it (never pads);
- a call that fails for transport reasons after its retries is counted as a failure and not cached.

Every finished call is cached (:class:`~lmms_safebench.llm.cache.CallCache`, default table), keyed by the model's
settings, the messages, the schema and an optional salt (to ask the same question several times on purpose), so a
rerun makes no finished call again.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from ...jury.heuristic import is_refusal
from ...llm.cache import CallCache, call_key
from ...llm.limits import EndpointLimiter
from ...llm.local import make_backend
from ...llm.retry import PermanentError, TransientError, call_with_retries
from ...redact import redact_url
from ..media.vision import VisionBackend, carries_images
from .config import LLMSpec
from .ledger import Ledger
from .problems import REFUSED, UNREADABLE

T = TypeVar("T")

# What :meth:`TextLLM.ask` came back with. REFUSED and UNREADABLE are also the failure codes of the same name
# (:mod:`.problems`): a stage that cannot go on without the answer raises them as such.
OK, FAILED = "ok", "failed"

REPAIR = ("Your reply could not be read. Reply again with only the JSON requested, no other text.")


class ParseError(ValueError):
    """A reply does not hold what was asked for."""


@dataclass(frozen=True)
class Answer(Generic[T]):
    status: str  # OK, REFUSED, UNREADABLE or FAILED
    value: T | None = None
    text: str = ""  # the last reply
    error: str | None = None
    phrasing: int = 0  # which phrasing was answered (0: the first)

    @property
    def ok(self) -> bool:
        return self.status == OK


def json_in(text: str, kind: type = dict):
    """The JSON object (``kind=dict``) or array (``list``) in a reply: the whole reply, a fenced block, or the
    first embedded one that parses. ParseError when there is none."""
    if not isinstance(text, str):
        raise ParseError("no text")
    body = re.sub(r"<think>.*?</think>", " ", text, flags=re.S | re.I).strip()
    fenced = re.search(r"```(?:json)?\s*\n?(.*?)```", body, re.S | re.I)
    candidates = [body] + ([fenced.group(1).strip()] if fenced else [])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
            if isinstance(value, kind):
                return value
        except json.JSONDecodeError:
            pass
    opener = "{" if kind is dict else "["
    decoder = json.JSONDecoder()
    index = body.find(opener)
    while index >= 0:
        try:
            value, _ = decoder.raw_decode(body, index)
            if isinstance(value, kind):
                return value
        except json.JSONDecodeError:
            pass
        index = body.find(opener, index + 1)
    raise ParseError(f"no JSON {'object' if kind is dict else 'array'} in reply: {' '.join(body.split())[:120]!r}")


class TextLLM:
    """One model of a generation run. Thread-safe: stages call it from many threads at once."""

    def __init__(self, spec: LLMSpec, cache: CallCache, ledger: Ledger, limiter: EndpointLimiter, role: str = "llm"):
        self.spec, self.cache, self.ledger, self.limiter, self.role = spec, cache, ledger, limiter, role
        self.backend = make_backend(spec, f"model {role!r}")
        self._vision = None  # transformers only: the in-process vision-language model, for calls with images
        self._fingerprint = {"backend": spec.backend, "model": spec.model, "base_url": redact_url(spec.base_url),
                             "temperature": spec.temperature, "max_tokens": spec.max_tokens,
                             "structured_output": spec.structured_output}
        if spec.backend == "transformers":  # an in-process model's numbers depend on where and how it runs
            self._fingerprint |= {"device": spec.device, "dtype": spec.dtype}
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        where = redact_url(self.spec.base_url) or self.spec.backend
        return f"{self.spec.model} ({where})"

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.spec.price
        return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000

    def _backend_for(self, messages: list[dict]):
        """An OpenAI-compatible endpoint takes images itself; in-process, a call with images goes to a
        vision-language model (:mod:`..media.vision`) and a text-only call to the transport's causal-LM path."""
        if self.spec.backend != "transformers":
            return self.backend
        if not carries_images(messages):
            return self.backend
        with self._lock:
            if self._vision is None:
                self._vision = VisionBackend(self.spec)
            return self._vision

    def call(self, stage: str, messages: list[dict], schema: dict | None = None, salt: str = "") -> dict:
        """One finished call: ``{"status": "ok", "text", "prompt_tokens", "completion_tokens"}`` (cached; a cache
        hit also says ``"cached": True``), or ``{"status": "failed", "error"}`` (not cached)."""
        key = call_key([self._fingerprint, messages, schema, salt])  # the payload generators have always hashed
        hit = self.cache.get(key)
        if hit is not None:
            self.ledger.add(stage, self.label, cache_hits=1)
            return {**hit["result"], "cached": True}
        requests = 0
        slot = self.limiter.slot(self.spec.endpoint, self.spec.max_in_flight)
        backend = self._backend_for(messages)

        def one_request():
            nonlocal requests
            requests += 1
            with slot:
                return backend.complete(messages, schema=schema, schema_name="answer")

        try:
            completion = call_with_retries(one_request, max_attempts=self.spec.max_attempts,
                                           base_delay=self.spec.retry_base_delay)
        except (TransientError, PermanentError) as exc:
            self.ledger.add(stage, self.label, requests=requests, failures=1)
            return {"status": FAILED, "error": f"{type(exc).__name__}: {exc}"}
        result = {"status": OK, "text": completion.text, "prompt_tokens": completion.prompt_tokens,
                  "completion_tokens": completion.completion_tokens}
        self.cache.put(key, stage, self.spec.model, {"result": result})
        self.ledger.add(stage, self.label, calls=1, requests=requests, prompt_tokens=completion.prompt_tokens,
                        completion_tokens=completion.completion_tokens,
                        cost_usd=self._cost(completion.prompt_tokens, completion.completion_tokens))
        return result

    def ask(self, stage: str, messages: list[dict], parse: Callable[[str], T], schema: dict | None = None,
            rephrasings: list[list[dict]] = (), salt: str = "") -> Answer[T]:
        """Ask until a reply parses: the messages and, for a reply that does not parse, one repair request.
        A refusal moves on to the next phrasing; an unreadable repaired reply ends the question."""
        last = Answer(FAILED, error="not asked")
        for number, phrasing in enumerate([messages, *rephrasings]):
            conversation = list(phrasing)
            for repair in (False, True):
                result = self.call(stage, conversation, schema, salt)
                if result["status"] != OK:
                    return Answer(FAILED, error=result.get("error"), phrasing=number)
                text = result["text"]
                try:
                    return Answer(OK, parse(text), text, phrasing=number)
                except (ParseError, ValueError, KeyError, TypeError) as exc:
                    fresh = not result.get("cached")  # a cached reply was counted when it came
                    if is_refusal(text):
                        self.ledger.add(stage, refusals=int(fresh))
                        last = Answer(REFUSED, None, text, "the model refused", number)
                        break  # another phrasing, not a repair
                    if repair:
                        self.ledger.add(stage, unreadable=int(fresh))
                        return Answer(UNREADABLE, None, text, f"unreadable after a repair request: {exc}", number)
                    # Saying what was wrong lets the model fix a reply that parses but breaks the caller's rules.
                    conversation = [*phrasing, {"role": "assistant", "content": text},
                                    {"role": "user", "content": f"{REPAIR} What was wrong: {exc}"}]
        return last


def make_limiter() -> EndpointLimiter:
    """One limiter for a generation run: calls in flight per endpoint, shared by every model on it."""
    return EndpointLimiter()


def chat(system: str | None, user: str | list) -> list[dict]:
    """Messages for one question (``user`` may be a list of content parts, e.g. text and an image)."""
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user}]


def schema_hint(schema: dict) -> str:
    """The schema in words, for prompts (structured output is not available everywhere)."""
    return "Reply with JSON only, matching this JSON schema: " + json.dumps(schema, separators=(",", ":"))
