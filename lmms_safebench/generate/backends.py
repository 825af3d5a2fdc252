"""The image or speech backend a generation YAML names (:mod:`.media` for the interfaces and the endpoint and
typography backends, :mod:`.diffusion` and :mod:`.speech` for the in-process ones, whose heavy imports wait until
a model is loaded)."""

from __future__ import annotations

from ..llm.limits import EndpointLimiter
from .config import ImageSpec, SpeechSpec
from .diffusion import DiffusersImages
from .media import ImageBackend, OpenAIImages, OpenAISpeech, SpeechBackend, TypographyImages
from .speech import ParlerSpeech, TransformersSpeech


def image_backend(spec: ImageSpec, limiter: EndpointLimiter | None = None) -> ImageBackend:
    if spec.backend == "typography":
        return TypographyImages(spec)
    if spec.backend == "openai":
        return OpenAIImages(spec, limiter)
    return DiffusersImages(spec)


def speech_backend(spec: SpeechSpec, limiter: EndpointLimiter | None = None) -> SpeechBackend:
    if spec.backend == "openai":
        return OpenAISpeech(spec, limiter)
    return ParlerSpeech(spec) if spec.backend == "parler" else TransformersSpeech(spec)
