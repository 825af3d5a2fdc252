"""An OpenAI-compatible endpoint (OpenAI, Azure OpenAI v1, vLLM, SGLang, Ollama, ...) for jurors and generator
models alike.

A backend makes exactly one request per :meth:`complete` call and classifies failures as
:class:`~.retry.TransientError` (worth retrying) or :class:`~.retry.PermanentError`. Retrying, caching and
limits are the caller's (:mod:`.retry`, :mod:`.cache`, :mod:`.limits`). API keys are read from the environment
at request time, by the variable's name in the spec, and scrubbed from every error message. The in-process
backend with the same interface is :mod:`.local`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from ..redact import url_secrets
from .retry import PermanentError, TransientError, parse_retry_after


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def scrub(message: str, secret: str | None, url: str | None = None) -> str:
    """``message`` without the key, nor the credentials and key-like query values of ``url`` (a server may echo
    the request)."""
    for part in [secret or "", *url_secrets(url)]:
        if len(part) >= 4:
            message = message.replace(part, "***")
    return message


def key_is_set(spec) -> bool:
    """Whether the variable a spec (an :class:`~.spec.Endpoint`) names for its key holds one (the key itself is
    never returned)."""
    return bool(spec.api_key_env and os.environ.get(spec.api_key_env))


def openai_error(exc: Exception, key: str | None, timeout: float, url: str | None = None) -> Exception:
    """What an ``openai`` SDK exception means here: :class:`TransientError` (429, 5xx, timeouts, dropped
    connections, a malformed body: worth retrying) or :class:`PermanentError` (anything else the server
    refused). The key and the secrets of the endpoint's ``url`` are scrubbed from the message. Shared by the
    text backend here and the generators' media backends."""
    import openai  # ~0.5 s to import: only when a request is made (task modules import this package at start-up)

    if isinstance(exc, openai.BadRequestError):
        return PermanentError(scrub(f"bad request (400): {exc}", key, url))
    if isinstance(exc, openai.RateLimitError):
        return TransientError("rate limited (429)", parse_retry_after(exc.response.headers), status=429)
    if isinstance(exc, openai.APITimeoutError):
        return TransientError(f"timed out after {timeout:g} s")
    if isinstance(exc, openai.APIConnectionError):
        return TransientError(scrub(f"connection failed: {exc}", key, url))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status >= 500 or status in (408, 409, 425):
            overloaded = "overload" in str(exc).lower()  # e.g. a 500/529 whose body says "overloaded"
            return TransientError(f"server error ({status}{', overloaded' if overloaded else ''})",
                                  parse_retry_after(exc.response.headers), status=status, overloaded=overloaded)
        return PermanentError(scrub(f"request refused ({status}): {exc}", key, url))
    return TransientError(scrub(f"malformed response: {type(exc).__name__}: {exc}", key, url))  # e.g. a 200 that is no reply


def api_key(env: str | None, base_url: str | None, who: str) -> str:
    """The key in the variable named ``env`` (read now, never stored elsewhere). A missing key is an error for
    a hosted endpoint; local servers (vLLM, SGLang, Ollama) usually accept any key."""
    if env:
        key = os.environ.get(env)
        if key:
            return key
        if base_url is None:
            raise PermanentError(f"{who}: environment variable {env} is not set")
    return "EMPTY"


class LazyOpenAI:
    """An OpenAI-compatible endpoint's ``openai`` client, made once on first use (importing the SDK costs start-up
    time) and shared by the threads that call it; the SDK's own retries are off (:mod:`.retry` decides). ``who``
    names the endpoint in errors (a missing key)."""

    def __init__(self, spec, who: str):
        self.spec, self.who = spec, who
        self._client = None
        self._lock = threading.Lock()

    def client(self):
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(api_key=api_key(self.spec.api_key_env, self.spec.base_url, self.who),
                                             base_url=self.spec.base_url, timeout=self.spec.timeout, max_retries=0)
            return self._client


class OpenAIBackend(LazyOpenAI):
    """Chat completions through the ``openai`` SDK for a :class:`~.spec.ModelSpec`. ``who`` names the model in
    errors (e.g. ``juror 'elder'``; default: its model)."""

    def __init__(self, spec, who: str | None = None):
        super().__init__(spec, who or f"model {spec.model!r}")
        self._structured = spec.structured_output

    def complete(self, messages: list[dict], schema: dict | None = None, schema_name: str = "answer") -> Completion:
        """One request. ``schema``: the JSON schema asked for when structured output is on (None: free text),
        under ``schema_name``."""
        import openai

        spec = self.spec
        client = self.client()
        key = client.api_key
        # The request is plain JSON already, so it goes in `extra_body`: the SDK's recursive, type-driven
        # transformation of typed parameters costs ~1 ms of CPU per call (most of it on the JSON schema),
        # which caps a 2-core machine at a few hundred calls per second. The reply is read as JSON too,
        # skipping model construction. Errors are still the SDK's typed exceptions.
        body = {"messages": messages, "temperature": spec.temperature, "max_tokens": spec.max_tokens}
        if self._structured and schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema_name, "schema": schema, "strict": True}}
        try:
            raw = client.chat.completions.with_raw_response.create(model=spec.model, messages=[], extra_body=body)
            response = raw.http_response.json()
        except openai.BadRequestError as exc:
            text = str(exc).lower()
            if self._structured and any(w in text for w in ("response_format", "json_schema", "structured")):
                self._structured = False  # the endpoint does not do structured output: use plain text
                return self.complete(messages, schema, schema_name)
            raise openai_error(exc, key, spec.timeout, spec.base_url) from None
        except Exception as exc:
            raise openai_error(exc, key, spec.timeout, spec.base_url) from None
        try:
            text = response["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise TransientError("malformed response: no choices") from None
        usage = response.get("usage") or {}
        if not isinstance(usage, dict):
            usage = {}
        return Completion(text=str(text), prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0))
