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

A URL is recorded or logged only through :func:`lmms_safebench.redact.redact_url`, the one redaction function.
The defaults are the jury's; a generator's spec sets its own (a writer samples at 0.7, a juror is greedy).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..redact import key_env_problem, redact_url
from .models import resolve_device

DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"
Device = Annotated[str, Field(pattern=rf"^({DEVICE_PATTERN})$")]  # auto = cuda when available, else cpu
DType = Literal["auto", "float32", "float16", "bfloat16"]  # auto = the checkpoint's on a GPU, float32 on cpu
DTYPES = get_args(DType)
DEFAULT_BASE_URL = "https://api.openai.com/v1"  # where the openai SDK sends a request without a base_url


class Strict(BaseModel):
    # strict: YAML's `yes` is not 1 and "0.5" is not a number; a field says what type it takes.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Endpoint(Strict):
    """Where a model is served when it is behind an OpenAI-compatible endpoint."""

    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the variable holding the key, never the key

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

    backend: Literal["openai", "transformers"] = "openai"
    model: str = Field(min_length=1)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)
    timeout: float = Field(60.0, gt=0)  # seconds per request
    max_attempts: int = Field(6, ge=1)  # requests per call on 429/5xx/timeouts/dropped connections
    retry_base_delay: float = Field(1.0, ge=0)  # first backoff in seconds; doubles per attempt (capped at 60 s)
    max_in_flight: int | None = Field(None, ge=1)  # a ceiling for this endpoint (unset: adaptive, see limits.py)
    structured_output: bool = True  # ask for a JSON schema; falls back to plain text if the endpoint refuses
    device: Device = "auto"  # transformers only
    dtype: DType = "auto"  # transformers only

    @property
    def endpoint(self) -> str:
        """The key of the in-flight limit: the endpoint's URL, or for an in-process model its model and device."""
        if self.backend == "transformers":
            return f"transformers:{self.model}@{resolve_device(self.device)}"
        return super().endpoint
