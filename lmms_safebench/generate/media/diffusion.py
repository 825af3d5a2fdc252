"""Text-to-image with a diffusers pipeline in this process (``image: {backend: diffusers}``; the ``generate`` extra).

Contract. :class:`DiffusersImages` renders ``render(prompt, seed) -> PNG bytes`` with the pipeline in
``spec.model``: a hub id (downloaded by ``from_pretrained`` on first use; SD3 medium is licence-gated, so
accept its licence and log in first) or a local folder saved with ``save_pretrained``. The pipeline class is
the one named in the checkpoint's ``model_index.json``, found through ``AutoPipelineForText2Image`` (Stable
Diffusion 1/2/XL/3, Flux, ...) or, for a class AutoPipeline does not map, ``DiffusionPipeline``.

- One pipeline per (model, resolved device, dtype) per process, loaded on the first render and shared by
  every backend naming it. ``device: auto`` is cuda when available, else cpu; ``dtype: auto`` is float16 on
  cuda (as SafeBench ran SD3) and float32 on cpu (half precision is slow or unsupported there).
- Each call passes ``prompt``, ``negative_prompt``, ``num_inference_steps`` (``steps``), ``guidance_scale``
  (``guidance``), ``width``/``height`` when set (else the checkpoint's default size) and a
  ``torch.Generator`` on the pipeline's device seeded with ``seed``: the same prompt, seed and settings give the
  same PNG bytes on the same device and library versions.
- Thread-safe: one call at a time per pipeline (a diffusers pipeline keeps scheduler state per call).
- A missing diffusers is a :class:`~lmms_safebench.errors.ConfigError` at construction naming the extra, and
  so is a hub id that is not in the Hugging Face cache while the hub is offline (``HF_HUB_OFFLINE``): the
  stages build their backend before their first item, so the run stops once, naming the model and what to
  set, instead of failing every picture. A checkpoint that cannot be loaded otherwise is a
  :class:`~lmms_safebench.llm.retry.PermanentError` kept and raised again to every later caller (not
  retried once per image).
"""

from __future__ import annotations

import threading
from pathlib import Path

from loguru import logger

from ...errors import ConfigError
from ...llm.models import Shared, resolve_device
from ...llm.retry import PermanentError
from ..core.config import ImageSpec
from .base import ImageBackend, png_bytes

INSTALL = 'pip install "lmms-safebench[generate]"'
def torch_dtype_name(dtype: str, device: str) -> str:
    """The torch dtype for a spec's ``dtype`` (checked when the config is read) on a resolved device (``auto``:
    float16 on cuda, else float32)."""
    if dtype == "auto":
        return "float16" if device.startswith("cuda") else "float32"
    return dtype


class _Pipeline:
    """One loaded pipeline and the lock that makes its calls one at a time."""

    def __init__(self, model: str, device: str, dtype: str):
        self.model, self.device, self.dtype = model, device, dtype
        self.lock = threading.Lock()
        self.loads = 0
        self._pipe = None
        self._error: PermanentError | None = None

    def get(self):
        """The pipeline, loaded on first use (call with :attr:`lock` held)."""
        if self._error is not None:
            raise self._error
        if self._pipe is None:
            try:
                self._pipe = self._load()
            except Exception as exc:
                self._error = PermanentError(f"cannot load diffusers pipeline {self.model!r} on {self.device} "
                                             f"({self.dtype}): {type(exc).__name__}: {exc}")
                raise self._error from None
            self.loads += 1
        return self._pipe

    def _load(self):
        import torch
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline

        # diffusers renamed from_pretrained's torch_dtype to dtype (the old name warns); use what this release takes.
        from_pretrained_dtype = "dtype" if _takes_dtype() else "torch_dtype"
        kwargs = {from_pretrained_dtype: getattr(torch, self.dtype)}
        logger.info(f"lmms-safebench: loading diffusers pipeline {self.model} on {self.device} ({self.dtype})")
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(self.model, **kwargs)
        except ValueError as exc:
            if "AutoPipeline can't find" not in str(exc):
                raise
            pipe = DiffusionPipeline.from_pretrained(self.model, **kwargs)  # a class AutoPipeline does not map
        pipe = pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)  # many threads render at once; their bars would interleave
        return pipe


def check_obtainable(model: str) -> None:
    """ConfigError when ``model`` is a hub id that loading would have to download while the hub is offline."""
    from huggingface_hub import is_offline_mode, try_to_load_from_cache

    if Path(model).expanduser().is_dir() or not is_offline_mode():
        return  # a local folder, or a hub that can be asked: loading says what is wrong, if anything
    try:
        if isinstance(try_to_load_from_cache(model, "model_index.json"), str):
            return  # cached
    except ValueError:  # not a hub id (a folder path that does not exist): loading names it
        return
    raise ConfigError(
        f"image model {model!r} is not in the Hugging Face cache and the hub is offline (HF_HUB_OFFLINE), so no "
        f"picture can be made. Set the generation YAML's image model (image: {{model: ...}}) to a local folder "
        f"saved with save_pretrained or to a cached hub id; or download this one where the hub can be reached "
        f"(huggingface-cli download {model}; a gated model such as SD3 needs its licence accepted and a login "
        f"first); or unset HF_HUB_OFFLINE. Image backends 'openai' and 'typography' need no local model.")


def _takes_dtype() -> bool:
    try:  # the helper that maps the old name onto the new one came with the rename
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return False
    return True


_pipelines: Shared[_Pipeline] = Shared(_Pipeline)


def shared_pipeline(model: str, device: str, dtype: str) -> _Pipeline:
    """The process's one :class:`_Pipeline` for (model, resolved device, torch dtype name), not yet loaded."""
    return _pipelines.get(model, device, dtype)


def unload_all() -> None:
    """Forget every loaded pipeline (tests, benchmarks)."""
    _pipelines.clear()


class DiffusersImages(ImageBackend):
    """``render(prompt, seed)`` with a diffusers text-to-image pipeline in this process."""

    def __init__(self, spec: ImageSpec):
        try:
            import diffusers  # noqa: F401
            import torch  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"image backend 'diffusers' needs diffusers and torch ({exc}); install them with "
                              f"{INSTALL}, or choose image backend 'openai' or 'typography'") from None
        check_obtainable(spec.model)
        self.spec = spec
        self.device = resolve_device(spec.device)
        self.dtype = torch_dtype_name(spec.dtype, self.device)
        self.pipeline = shared_pipeline(spec.model, self.device, self.dtype)

    def settings(self) -> dict:
        """The spec with the device and dtype actually used (they decide the images too)."""
        return super().settings() | {"device": self.device, "dtype": self.dtype}

    def call_arguments(self, prompt: str) -> dict:
        """What every call passes besides the generator (recorded settings decide the image)."""
        arguments = {"prompt": prompt, "negative_prompt": self.spec.negative_prompt,
                     "num_inference_steps": self.spec.steps, "guidance_scale": self.spec.guidance}
        if self.spec.width is not None:
            arguments["width"] = self.spec.width
        if self.spec.height is not None:
            arguments["height"] = self.spec.height
        return arguments

    def render(self, prompt: str, seed: int) -> bytes:
        import torch

        with self.pipeline.lock:
            pipe = self.pipeline.get()
            generator = torch.Generator(self.device).manual_seed(int(seed))
            try:
                with torch.inference_mode():
                    output = pipe(**self.call_arguments(prompt), generator=generator)
            except Exception as exc:  # e.g. a width the model cannot take: name the model and the settings
                size = f"{self.spec.width or 'default'}x{self.spec.height or 'default'}"
                raise PermanentError(f"diffusers pipeline {self.spec.model!r} failed (steps {self.spec.steps}, "
                                     f"size {size}): {type(exc).__name__}: {exc}") from exc
        return png_bytes(output.images[0])
