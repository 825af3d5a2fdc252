"""Ways to get a completion from a juror model: any OpenAI-compatible endpoint, or transformers in-process.

A backend makes exactly one request per :meth:`complete` call and classifies failures as
:class:`~.retry.TransientError` (worth retrying) or :class:`~.retry.PermanentError`. Retrying,
caching and limits live in :mod:`.jurors`. API keys are read from the environment at request time
and scrubbed from every error message.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .config import JurorConfig
from .retry import PermanentError, TransientError, parse_retry_after
from .verdict import VERDICT_JSON_SCHEMA


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def scrub(message: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        message = message.replace(secret, "***")
    return message


class OpenAIBackend:
    """Chat completions through the ``openai`` SDK (OpenAI, Azure OpenAI v1, vLLM, SGLang, Ollama, ...)."""

    def __init__(self, juror: JurorConfig):
        self.juror = juror
        self._client = None
        self._lock = threading.Lock()
        self._structured = juror.structured_output

    def _api_key(self) -> str:
        env = self.juror.api_key_env
        if env:
            key = os.environ.get(env)
            if key:
                return key
            if self.juror.base_url is None:
                raise PermanentError(f"juror {self.juror.name!r}: environment variable {env} is not set")
        # Local servers (vLLM, SGLang, Ollama) usually accept any key.
        return "EMPTY"

    def client(self):
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(api_key=self._api_key(), base_url=self.juror.base_url,
                                             timeout=self.juror.timeout, max_retries=0)
            return self._client

    def complete(self, messages: list[dict]) -> Completion:
        import openai

        client = self.client()
        key = client.api_key
        # The request is plain JSON already, so it goes in `extra_body`: the SDK's recursive, type-driven
        # transformation of typed parameters costs ~1 ms of CPU per call (most of it on the JSON schema),
        # which caps a 2-core machine at a few hundred calls per second. The reply is read as JSON too,
        # skipping model construction. Errors are still the SDK's typed exceptions.
        body = {"messages": messages, "temperature": self.juror.temperature, "max_tokens": self.juror.max_tokens}
        if self._structured:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "safety_review", "schema": VERDICT_JSON_SCHEMA, "strict": True}}
        try:
            raw = client.chat.completions.with_raw_response.create(model=self.juror.model, messages=[],
                                                                   extra_body=body)
            response = raw.http_response.json()
        except openai.BadRequestError as exc:
            text = str(exc).lower()
            if self._structured and any(w in text for w in ("response_format", "json_schema", "structured")):
                self._structured = False  # the endpoint does not do structured output: use plain text
                return self.complete(messages)
            raise PermanentError(scrub(f"bad request (400): {exc}", key)) from None
        except openai.RateLimitError as exc:
            raise TransientError("rate limited (429)", parse_retry_after(exc.response.headers), status=429) from None
        except openai.APITimeoutError:
            raise TransientError(f"timed out after {self.juror.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise TransientError(scrub(f"connection failed: {exc}", key)) from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status >= 500 or status in (408, 409, 425):
                overloaded = "overload" in str(exc).lower()  # e.g. a 500/529 whose body says "overloaded"
                raise TransientError(f"server error ({status}{', overloaded' if overloaded else ''})",
                                     parse_retry_after(exc.response.headers), status=status,
                                     overloaded=overloaded) from None
            raise PermanentError(scrub(f"request refused ({status}): {exc}", key)) from None
        except Exception as exc:  # e.g. a 200 whose body is not a completion
            raise TransientError(scrub(f"malformed response: {type(exc).__name__}: {exc}", key)) from None
        try:
            text = response["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise TransientError("malformed response: no choices") from None
        usage = response.get("usage") or {}
        if not isinstance(usage, dict):
            usage = {}
        return Completion(text=str(text), prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0))


class TransformersBackend:
    """A local causal LM run in this process (a path or hub id in ``model``). One generation at a time."""

    def __init__(self, juror: JurorConfig):
        self.juror = juror
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.juror.model)
                self._model = AutoModelForCausalLM.from_pretrained(self.juror.model).to(self.juror.device)
            except Exception as exc:
                raise PermanentError(f"cannot load transformers juror model {self.juror.model!r}: {exc}") from None
            self._model.eval()

    def _prompt(self, messages: list[dict]) -> str:
        if getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(f"{m['role'].upper()}:\n{m['content']}" for m in messages) + "\n\nASSISTANT:\n"

    def complete(self, messages: list[dict]) -> Completion:
        import torch

        with self._lock:
            self._load()
            inputs = self._tokenizer(self._prompt(messages), return_tensors="pt").to(self.juror.device)
            sampling = self.juror.temperature > 0
            generate_kwargs = {"max_new_tokens": self.juror.max_tokens, "do_sample": sampling}
            if sampling:
                generate_kwargs["temperature"] = self.juror.temperature
            pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else \
                self._tokenizer.eos_token_id
            with torch.no_grad():
                output = self._model.generate(**inputs, pad_token_id=pad, **generate_kwargs)
            prompt_len = inputs["input_ids"].shape[1]
            new_tokens = output[0][prompt_len:]
            text = self._tokenizer.decode(new_tokens, skip_special_tokens=True)
            return Completion(text=text, prompt_tokens=int(prompt_len), completion_tokens=int(len(new_tokens)))
