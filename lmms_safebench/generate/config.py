"""Generation YAML files: typed with pydantic, validated once when loaded, errors naming the file and field.

Shared pieces (which model writes, critiques, draws and speaks) live here; each generator adds its own
stage settings in its module. Every model spec can price its calls, so each stage's cost is recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError

# Where an in-process model runs, checked when the config is read (not when the model loads): the same values
# the jury's in-process jurors take.
Device = Annotated[str, Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")]
DType = Literal["auto", "float32", "float16", "bfloat16"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(Strict):
    """US dollars per million tokens (text models), for the cost record."""

    prompt: float = Field(0.0, ge=0)
    completion: float = Field(0.0, ge=0)


class Endpoint(Strict):
    """Where a model is served when it is behind an OpenAI-compatible endpoint."""

    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the variable holding the key, never the key

    def public(self) -> dict:
        """Every setting, as recorded in manifests and data cards: no key variable, no URL credentials."""
        from ..jury.config import redact_url

        return self.model_dump(exclude={"api_key_env"}) | {"base_url": redact_url(self.base_url)}

    @field_validator("api_key_env")
    @classmethod
    def _not_a_key(cls, value):
        if value and (value.startswith("sk-") or len(value) > 64):
            raise ValueError("put the key in an environment variable and give the variable's NAME here")
        return value


class MediaEndpoint(Endpoint):
    """An image or speech endpoint's request settings (retries as the jury's: 429, 5xx, timeouts)."""

    timeout: float = Field(300.0, gt=0)
    max_attempts: int = Field(4, ge=1)
    retry_base_delay: float = Field(1.0, ge=0)


class LLMSpec(Endpoint):
    """A text (or vision-language) model: any OpenAI-compatible endpoint, or transformers in-process."""

    backend: Literal["openai", "transformers"] = "openai"
    model: str = Field(min_length=1)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(1024, ge=16)
    timeout: float = Field(120.0, gt=0)
    max_attempts: int = Field(6, ge=1)  # requests per call on 429/5xx/timeouts/dropped connections
    retry_base_delay: float = Field(1.0, ge=0)
    max_in_flight: int | None = Field(None, ge=1)  # a ceiling for this endpoint (default: adaptive)
    structured_output: bool = True  # ask for a JSON schema; falls back to plain text if the endpoint refuses
    device: Device = "auto"  # transformers only
    dtype: DType = "auto"  # transformers only
    price: Price = Price()


class ImageSpec(MediaEndpoint):
    """A text-to-image backend. ``diffusers``: a Stable Diffusion pipeline in-process (the optional
    ``generate`` extra); ``openai``: an OpenAI-compatible images endpoint; ``typography``: the text drawn
    black on white (offline, no model: for dry runs and typography-only benchmarks)."""

    backend: Literal["diffusers", "openai", "typography"] = "diffusers"
    model: str = "stabilityai/stable-diffusion-3-medium-diffusers"
    steps: int = Field(28, ge=1)
    guidance: float = Field(7.0, ge=0)
    negative_prompt: str = ""
    seed: int = 0  # item i gets seed + a stable hash of its id, recorded per image
    width: int | None = Field(None, ge=16)
    height: int | None = Field(None, ge=16)
    size: str = "1024x1024"  # openai backend
    device: Device = "auto"
    dtype: DType = "auto"
    price_per_image: float = Field(0.0, ge=0)


class SpeechSpec(MediaEndpoint):
    """A text-to-speech backend. ``transformers``: a ``text-to-audio`` pipeline in-process (VITS/MMS, Bark
    with voice presets, ...); ``openai``: an OpenAI-compatible speech endpoint; ``parler``: Parler-TTS (its
    own install; a voice is a text description). ``voices`` maps each output voice (``female``, ``male``)
    to what the backend takes: a voice name (openai), a preset or speaker id (transformers), a description
    (parler)."""

    backend: Literal["transformers", "openai", "parler"] = "transformers"
    model: str = "facebook/mms-tts-eng"
    voices: dict[str, str] = Field(default_factory=lambda: {"female": "", "male": ""})
    device: Device = "auto"
    seed: int = 0
    price_per_million_chars: float = Field(0.0, ge=0)

    @field_validator("voices")
    @classmethod
    def _two_voices(cls, value):
        if not value:
            raise ValueError("name at least one voice, e.g. {female: ..., male: ...}")
        return value


def _where(error: dict) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def read_yaml(path: str | Path, what: str = "generation config"):
    """The YAML in ``path``; ConfigError naming the file when it cannot be read, is not UTF-8 or not YAML."""
    path = Path(path).expanduser()
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load(path: str | Path, model: type[BaseModel]):
    """Read ``path`` (YAML) into ``model``; ConfigError naming the file and every field at fault."""
    return parse(read_yaml(path), model, str(Path(path).expanduser()))


def parse(raw, model: type[BaseModel], source: str = "<config>"):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a generation config must be a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {_where(e)}: {e['msg']}" + (f" (got {e['input']!r})" if e.get("type") != "missing" and
                                                 not isinstance(e.get("input"), dict) else "")
                 for e in exc.errors()]
        raise ConfigError(f"{source}: invalid generation config:\n" + "\n".join(lines)) from None
