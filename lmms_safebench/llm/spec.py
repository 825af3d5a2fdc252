"""What a model is and where it is served: the specs that jurors and generator models share.

Typed with pydantic and validated once, when a file is read: a jury file (:mod:`lmms_safebench.jury.config`,
whose ``JurorConfig`` is a :class:`ModelSpec`) or a generation config (:mod:`lmms_safebench.generate.core.config`,
whose ``LLMSpec`` is one too). Types are strict (:class:`Strict`): YAML's ``yes`` is not 1 and ``"0.5"`` is not a
number; an integer is accepted where a number is asked for and stored as a float.

- :class:`Endpoint`: where an OpenAI-compatible model is served (``base_url``) and the NAME of the environment
  variable holding its key (``api_key_env``; never the key: a value that looks like a key is refused).
- :class:`ModelSpec`: a text model: ``backend`` (``openai``: any OpenAI-compatible endpoint; ``transformers``:
  in-process), decoding (``temperature``, ``max_tokens``, ``structured_output``), requests (``timeout``,
  ``max_attempts``, ``retry_base_delay``, ``max_in_flight``) and, in-process, ``device`` and ``dtype``.
  :attr:`ModelSpec.endpoint` names the endpoint whose adaptive limit its calls share (:mod:`.limits`).
- :data:`Device` and :data:`DType`: where and how an in-process model runs (defined here once).

Every field carries a ``description``: with its constraints, it is the documentation of a jury file's juror fields
(``python utils/jury_reference.py`` writes docs/jury.md's reference from them).

A URL is recorded or logged only through :func:`lmms_safebench.redact.redact_url`, the one redaction function.
The defaults are the jury's; a generator's spec sets its own (a writer samples at 0.7, a juror is greedy).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..redact import key_env_problem, redact_url
from .models import resolve_device
from .retry import MAX_BACKOFF, MAX_RETRY_AFTER

DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"
DEVICE_CHOICES = ("auto", "cpu", "mps", "cuda", "cuda:N")  # DEVICE_PATTERN in words, for messages and the docs
Device = Annotated[str, Field(pattern=rf"^({DEVICE_PATTERN})$", json_schema_extra={"allowed": list(DEVICE_CHOICES)})]
DType = Literal["auto", "float32", "float16", "bfloat16"]  # auto = the checkpoint's on a GPU, float32 on cpu
DTYPES = get_args(DType)
DEFAULT_BASE_URL = "https://api.openai.com/v1"  # where the openai SDK sends a request without a base_url


class Strict(BaseModel):
    # strict: YAML's `yes` is not 1 and "0.5" is not a number; a field says what type it takes.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Endpoint(Strict):
    """Where a model is served when it is behind an OpenAI-compatible endpoint."""

    base_url: str | None = Field(None, description=(
        "The OpenAI-compatible endpoint's URL (e.g. `http://localhost:8000/v1` for `vllm serve`); unset: the openai "
        "client's default (`OPENAI_BASE_URL`, else OpenAI's). Recorded and logged without credentials."))
    api_key_env: str | None = Field(None, description=(
        "The NAME of the environment variable holding the key, never the key itself: a value that looks like a "
        "key is refused, and so is an `api_key` field. Unset: a placeholder key, which local servers (vLLM, SGLang, Ollama) accept."))

    def public(self) -> dict:
        """Every setting, as recorded in manifests and data cards: no key variable, no URL credentials or keys."""
        return self.model_dump(exclude={"api_key_env"}) | {"base_url": redact_url(self.base_url)}

    @property
    def endpoint(self) -> str:
        """The key of this endpoint's in-flight limit: its URL without credentials."""
        return redact_url(self.base_url) or DEFAULT_BASE_URL

    @field_validator("api_key_env")
    @classmethod
    def _not_a_key(cls, value):
        problem = key_env_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value


class ModelSpec(Endpoint):
    """A text (or vision-language) model: an OpenAI-compatible endpoint, or transformers in-process."""

    backend: Literal["openai", "transformers"] = Field("openai", description=(
        "`openai`: any OpenAI-compatible endpoint (OpenAI, Azure OpenAI v1, vLLM, SGLang, Ollama, ...); "
        "`transformers`: `model` runs in this process."))
    model: str = Field(min_length=1, description=(
        "The model's name at the endpoint, or for `transformers` a hub id (downloaded on first use) or a local "
        "folder."))
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 decodes greedily.")
    max_tokens: int = Field(512, ge=16, description="Most tokens in one reply.")
    timeout: float = Field(60.0, gt=0, description="Seconds one request may take.")
    max_attempts: int = Field(6, ge=1, description=(
        "Requests per call, the first included: a 429, a 5xx, a timeout or a dropped connection is retried."))
    retry_base_delay: float = Field(1.0, ge=0, description=(
        f"Seconds of the first backoff, doubling per attempt up to {MAX_BACKOFF:g} s (each wait jittered down to "
        f"half); a server's `Retry-After` (up to {MAX_RETRY_AFTER:g} s) is honoured instead."))
    max_in_flight: int | None = Field(None, ge=1, description=(
        "A ceiling on calls in flight to this model's endpoint, whose limit every model on it shares (the lowest "
        "ceiling wins); under it the limit adapts to what the endpoint takes (`lmms_safebench/llm/limits.py`). "
        "Unset: the run's concurrency."))
    structured_output: bool = Field(True, description=(
        "Ask for a JSON schema (`response_format`); falls back to plain text if the endpoint refuses."))
    device: Device = Field("auto", description=(
        "`transformers` only: where the model runs; `auto` is `cuda` when available, else `cpu`."))
    dtype: DType = Field("auto", description=(
        "`transformers` only: the numbers the model computes with; `auto` is the checkpoint's dtype on a GPU, "
        "`float32` on the CPU."))

    @property
    def endpoint(self) -> str:
        """The key of the in-flight limit: the endpoint's URL, or for an in-process model its model and device."""
        if self.backend == "transformers":
            return f"transformers:{self.model}@{resolve_device(self.device)}"
        return super().endpoint
