"""Text-to-image backends (``image:`` in a generation YAML): ``typography``, ``openai`` and ``diffusers``.

``render(prompt, seed) -> PNG bytes`` (:class:`~.base.ImageBackend`). Results are not cached here: a stage writes
each file before recording its item, so a rerun skips what exists.
"""

from __future__ import annotations

import base64

from ...data.typography import render as render_typography
from ...llm.limits import EndpointLimiter
from ..core.config import ImageSpec
from .base import EndpointClient, ImageBackend, png_bytes
from .diffusion import DiffusersImages


class TypographyImages(ImageBackend):
    """The prompt drawn black on white with MM-SafetyBench's typography renderer (offline, deterministic)."""

    def __init__(self, spec: ImageSpec):
        self.spec = spec

    @property
    def label(self) -> str:
        return "typography"

    def render(self, prompt: str, seed: int) -> bytes:
        image, _ = render_typography(prompt)
        return png_bytes(image)


class OpenAIImages(ImageBackend):
    """``images.generate`` on an OpenAI-compatible endpoint (base64 PNG replies). The seed is sent as an extra
    field for servers that take one; hosted APIs ignore it (recorded all the same)."""

    def __init__(self, spec: ImageSpec, limiter: EndpointLimiter | None = None):
        self.spec = spec
        self.endpoint = EndpointClient(spec, limiter, f"image backend {spec.model!r}")

    def render(self, prompt: str, seed: int) -> bytes:
        def request(client):
            reply = client.images.generate(model=self.spec.model, prompt=prompt, n=1, size=self.spec.size,
                                           response_format="b64_json", extra_body={"seed": seed})
            return base64.b64decode(reply.data[0].b64_json)

        return self.endpoint.call(request)


def image_backend(spec: ImageSpec, limiter: EndpointLimiter | None = None) -> ImageBackend:
    if spec.backend == "typography":
        return TypographyImages(spec)
    if spec.backend == "openai":
        return OpenAIImages(spec, limiter)
    return DiffusersImages(spec)  # a ConfigError naming the extra when diffusers is not installed
