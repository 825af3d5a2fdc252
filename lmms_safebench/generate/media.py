"""Image and speech backends for the generators: one interface per modality, chosen by the generation YAML.

- :class:`ImageBackend`: ``render(prompt, seed) -> PNG bytes``. ``typography`` (offline: the prompt drawn black
  on white), ``openai`` (an OpenAI-compatible images endpoint), ``diffusers`` (Stable Diffusion in-process;
  the optional ``generate`` extra, :mod:`.diffusion`). :mod:`.backends` makes the one a YAML names.
- :class:`SpeechBackend`: ``speak(text, voice) -> WAV bytes``. ``openai`` (an OpenAI-compatible speech
  endpoint, a voice name per output), ``transformers`` (a ``text-to-audio`` pipeline in-process) and
  ``parler`` (Parler-TTS, a description per voice; :mod:`.speech`).

Calls are retried like every model call (:mod:`lmms_safebench.llm.retry`: 429, 5xx, timeouts, dropped
connections; ``Retry-After`` honoured) and limited per endpoint. Results are not cached here: a stage writes each
file before recording its item, so a rerun skips what exists.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading

from ..llm.client import api_key, openai_error
from ..llm.limits import EndpointLimiter
from ..llm.retry import call_with_retries
from .config import ImageSpec, SpeechSpec


def item_seed(base: int, item: str) -> int:
    """A stable per-item seed: the configured base plus a hash of the item's id (recorded with each image)."""
    return (base + int(hashlib.sha256(item.encode()).hexdigest()[:8], 16)) % (2 ** 31)


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class MediaBackend:
    spec: ImageSpec | SpeechSpec

    @property
    def label(self) -> str:
        return f"{self.spec.backend}:{self.spec.model}"

    def settings(self) -> dict:
        """What decides the outputs (recorded in the data card; never a key or URL credentials)."""
        return self.spec.public()


class ImageBackend(MediaBackend):
    spec: ImageSpec

    def render(self, prompt: str, seed: int) -> bytes:
        raise NotImplementedError


class TypographyImages(ImageBackend):
    """The prompt drawn black on white with MM-SafetyBench's typography renderer (offline, deterministic)."""

    def __init__(self, spec: ImageSpec):
        self.spec = spec

    @property
    def label(self) -> str:
        return "typography"

    def render(self, prompt: str, seed: int) -> bytes:
        from ..data.typography import render

        image, _ = render(prompt)
        return png_bytes(image)


class _Endpoint:
    """An OpenAI-compatible endpoint of a media backend: a client made once, calls retried and limited."""

    def __init__(self, spec, limiter: EndpointLimiter | None, who: str):
        self.spec, self.who = spec, who
        self.limiter = limiter or EndpointLimiter()
        self._client = None
        self._lock = threading.Lock()

    def client(self):
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(api_key=api_key(self.spec.api_key_env, self.spec.base_url, self.who),
                                             base_url=self.spec.base_url, timeout=self.spec.timeout, max_retries=0)
            return self._client

    def call(self, request):
        slot = self.limiter.slot(self.spec.endpoint)

        def once():
            client = self.client()
            with slot:
                try:
                    return request(client)
                except Exception as exc:
                    raise openai_error(exc, client.api_key, self.spec.timeout, self.spec.base_url) from None

        return call_with_retries(once, max_attempts=self.spec.max_attempts, base_delay=self.spec.retry_base_delay)


class OpenAIImages(ImageBackend):
    """``images.generate`` on an OpenAI-compatible endpoint (base64 PNG replies). The seed is sent as an extra
    field for servers that take one; hosted APIs ignore it (recorded all the same)."""

    def __init__(self, spec: ImageSpec, limiter: EndpointLimiter | None = None):
        self.spec = spec
        self.endpoint = _Endpoint(spec, limiter, f"image backend {spec.model!r}")

    def render(self, prompt: str, seed: int) -> bytes:
        def request(client):
            reply = client.images.generate(model=self.spec.model, prompt=prompt, n=1, size=self.spec.size,
                                           response_format="b64_json", extra_body={"seed": seed})
            return base64.b64decode(reply.data[0].b64_json)

        return self.endpoint.call(request)


class SpeechBackend(MediaBackend):
    spec: SpeechSpec

    def speak(self, text: str, voice: str) -> bytes:
        """WAV bytes of ``text`` read in ``voice`` (a key of ``spec.voices``)."""
        raise NotImplementedError


class OpenAISpeech(SpeechBackend):
    """``audio.speech.create`` on an OpenAI-compatible endpoint, one configured voice name per output voice."""

    def __init__(self, spec: SpeechSpec, limiter: EndpointLimiter | None = None):
        self.spec = spec
        self.endpoint = _Endpoint(spec, limiter, f"speech backend {spec.model!r}")

    def speak(self, text: str, voice: str) -> bytes:
        name = self.spec.voices.get(voice) or voice

        def request(client):
            return client.audio.speech.create(model=self.spec.model, voice=name, input=text,
                                              response_format="wav").read()

        return self.endpoint.call(request)
