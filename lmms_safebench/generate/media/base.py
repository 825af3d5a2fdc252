"""What every media backend is: the two interfaces, a per-item seed, PNG bytes, and the client of an
OpenAI-compatible media endpoint (retried and limited like every model call). The backends themselves are in
:mod:`.image` and :mod:`.speech`.
"""

from __future__ import annotations

import hashlib
import io

from ...llm.client import LazyOpenAI, openai_error
from ...llm.limits import EndpointLimiter
from ...llm.retry import call_with_retries
from ..core.config import ImageSpec, SpeechSpec


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


class EndpointClient(LazyOpenAI):
    """An OpenAI-compatible endpoint of a media backend: a client made once, calls retried and limited."""

    def __init__(self, spec, limiter: EndpointLimiter | None, who: str):
        super().__init__(spec, who)
        self.limiter = limiter or EndpointLimiter()

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


class SpeechBackend(MediaBackend):
    spec: SpeechSpec

    def speak(self, text: str, voice: str) -> bytes:
        """WAV bytes of ``text`` read in ``voice`` (a key of ``spec.voices``)."""
        raise NotImplementedError
