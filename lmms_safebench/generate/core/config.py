"""Generation YAML files: typed with pydantic, validated once when loaded, errors naming the file and field.

Shared pieces (which model writes, critiques, draws and speaks) live here; each generator adds its own
stage settings in its module. Every model spec can price its calls, so each stage's cost is recorded.

Types are strict (:class:`Strict`): ``concurrency: yes`` is an error, not 1, and ``"0.5"`` is not a number.
Files are read by :func:`lmms_safebench.yamlio.load` (an alias bomb is refused), and an error quotes at most a
few hundred characters of the value at fault, never one that looks like a key (:func:`lmms_safebench.redact.shown`).
Titles and descriptions lose control and bidirectional-override characters (:data:`Title`, :data:`Text`) before
anything is written from them.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator

from ... import yamlio
from ...errors import ConfigError
from ...llm.spec import Device, DType, Endpoint, ModelSpec, Strict
from ...redact import clip, shown

# Device, DType, Strict and Endpoint are the transport's (lmms_safebench.llm.spec), so the generators' models and
# the jury's take the same values.

# C0 and C1 controls but tab and line breaks, and the bidirectional marks, embeddings, overrides and isolates that
# reorder how text is shown (a title with U+202E reads backwards in a data card).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain_title(value):
    """A one-line title as files may hold it: control and bidi characters out, white space collapsed."""
    return " ".join(_CONTROLS.sub("", value).split()) if isinstance(value, str) else value


def plain_text(value):
    """Free text (a definition, a description): control and bidi characters out, line breaks kept."""
    if not isinstance(value, str):
        return value
    return _CONTROLS.sub("", value).replace("\r\n", "\n").replace("\r", "\n").strip()


def latin(title: str) -> str:
    """``title`` in ASCII, for slugs: accents dropped (``Économie`` -> ``Economie``); other scripts vanish."""
    return unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()


Title = Annotated[str, BeforeValidator(plain_title)]
Text = Annotated[str, BeforeValidator(plain_text)]


class Price(Strict):
    """US dollars per million tokens (text models), for the cost record."""

    prompt: float = Field(0.0, ge=0)
    completion: float = Field(0.0, ge=0)


class MediaEndpoint(Endpoint):
    """An image or speech endpoint's request settings (retries as the jury's: 429, 5xx, timeouts)."""

    timeout: float = Field(300.0, gt=0)
    max_attempts: int = Field(4, ge=1)
    retry_base_delay: float = Field(1.0, ge=0)


class LLMSpec(ModelSpec):
    """A generator's text (or vision-language) model: the transport's spec with a writer's defaults and a price."""

    # A redefined field keeps none of ModelSpec's metadata: the descriptions are carried over by name.
    temperature: float = Field(0.7, ge=0, le=2, description=ModelSpec.model_fields["temperature"].description)
    max_tokens: int = Field(1024, ge=16, description=ModelSpec.model_fields["max_tokens"].description)
    timeout: float = Field(120.0, gt=0, description=ModelSpec.model_fields["timeout"].description)
    price: Price = Field(Price(), description="US dollars per million prompt and completion tokens, for the cost "
                                              "record.")


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
    return clip(".".join(str(part) for part in error["loc"])) or "(top level)"  # keys of a mapping are input too


def read_yaml(path: str | Path, what: str = "generation config"):
    """The YAML in ``path``; ConfigError naming the file when it cannot be read, is not UTF-8 or not YAML, or
    expands past the alias budget (:mod:`lmms_safebench.yamlio`)."""
    path = Path(path).expanduser()
    try:
        return yamlio.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {clip(str(exc), 600)}") from None


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
        errors = exc.errors()
        lines = [f"  {_where(e)}: {clip(e['msg'], 300)}" + _got(e) for e in errors[:_MAX_ERRORS]]
        if len(errors) > _MAX_ERRORS:
            lines.append(f"  ... and {len(errors) - _MAX_ERRORS} more")
        raise ConfigError(f"{source}: invalid generation config:\n" + "\n".join(lines)) from None


_MAX_ERRORS = 20  # fields listed in one message (a list of a thousand bad entries is not a thousand lines)


def _got(error: dict) -> str:
    """What was given, as far as it may be shown: never a mapping (the fields below it are named instead),
    never a key (:func:`lmms_safebench.redact.shown`), at most a few hundred characters."""
    if error.get("type") == "missing" or isinstance(error.get("input"), dict):
        return ""
    return f" (got {shown(error.get('input'), *map(str, error['loc']))})"
