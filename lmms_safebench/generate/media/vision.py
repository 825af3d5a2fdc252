"""Vision-language models in this process, for a generator's ``backend: transformers`` model asked about images.

Contract. :class:`VisionBackend` has the transport backends' interface (:mod:`lmms_safebench.llm.client`), ``complete(messages, schema=None,
schema_name="") -> Completion`` (one request; the JSON schema, if any, is asked for in the prompt only), and
takes OpenAI chat messages: string contents, or lists of ``{"type": "text", "text": ...}`` and
``{"type": "image_url", "image_url": {"url": ...}}`` parts, where the URL is a ``data:image/...;base64,...``
URL or a local file (``file://`` or a path; nothing is downloaded). :class:`~.llm.TextLLM` sends a call here
when its model is ``backend: transformers`` and the call's messages carry an image; text-only calls keep the
transport's causal-LM path (:mod:`lmms_safebench.llm.local`).

The model (a hub id or a local folder) is loaded with ``AutoProcessor`` and ``AutoModelForImageTextToText``,
once per (model, resolved device, dtype) per process (``device: auto`` is cuda when available, else cpu;
``dtype: auto`` the checkpoint's dtype on cuda, float32 on cpu, as for every in-process text model). A call
renders the processor's chat template (each image part becomes an image placeholder, the images are passed
in order), then generates: greedy when the spec's temperature is 0, else sampled at that temperature (the
setting the text path honours too). The completion ends at the first end-of-sequence token (counted);
prompt tokens include the image tokens. Calls run one at a time per model (no batching).

Errors: a model that cannot be loaded is a :class:`~lmms_safebench.llm.retry.PermanentError`, kept and raised
to every later call; an unreadable image is a PermanentError naming the message and part; running out of
device memory is a :class:`~lmms_safebench.llm.retry.TransientError` (retried by the caller).
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
from pathlib import Path

from loguru import logger
from PIL import Image

from ...llm.client import Completion
from ...llm.models import Shared, resolve_device
from ...llm.retry import PermanentError, TransientError


def _parts(content) -> list:
    return content if isinstance(content, list) else []


def carries_images(messages: list[dict]) -> bool:
    """Whether any message has an image part (``image_url`` or ``image``)."""
    return any(isinstance(part, dict) and part.get("type") in ("image_url", "image")
               for message in messages for part in _parts(message.get("content")))


def load_image(url: str, where: str):
    """A PIL image from a ``data:`` URL or a local file (PermanentError naming ``where`` otherwise)."""
    try:
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if ";base64" not in header:
                raise ValueError("only base64 data URLs are read")
            raw = base64.b64decode(payload, validate=True)
            image = Image.open(io.BytesIO(raw))
        elif url.startswith(("http://", "https://")):
            raise ValueError("an in-process model downloads nothing: send the image as a data: URL")
        else:
            image = Image.open(Path(url.removeprefix("file://")).expanduser())
        image.load()
    except (OSError, ValueError, binascii.Error) as exc:
        raise PermanentError(f"{where}: cannot read the image ({type(exc).__name__}: {exc})") from None
    return image.convert("RGB")


def to_processor_messages(messages: list[dict]) -> tuple[list[dict], list]:
    """OpenAI chat messages as a processor's chat template takes them (every content a list of parts, image
    parts as ``{"type": "image"}``), and the images in order."""
    out, images = [], []
    for m, message in enumerate(messages):
        content = message.get("content")
        if content is None or isinstance(content, str):
            parts = [{"type": "text", "text": content or ""}]
        elif isinstance(content, list):
            parts = []
            for p, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                where = f"message {m} ({message.get('role')}), part {p}"
                if kind == "text":
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
                elif kind == "image_url":
                    source = part.get("image_url")
                    url = source.get("url") if isinstance(source, dict) else source
                    if not isinstance(url, str):
                        raise PermanentError(f"{where}: an image_url part without a url")
                    images.append(load_image(url, where))
                    parts.append({"type": "image"})
                elif kind == "image" and part.get("image") is not None:
                    images.append(part["image"])
                    parts.append({"type": "image"})
                else:
                    raise PermanentError(f"{where}: a {kind!r} part cannot be given to a vision-language model "
                                         "(text and image_url parts only)")
        else:
            raise PermanentError(f"message {m}: content must be a string or a list of parts")
        out.append({"role": message.get("role", "user"), "content": parts})
    return out, images


class VisionModel:
    """One loaded vision-language model and the lock that makes its calls one at a time."""

    def __init__(self, model: str, device: str, dtype: str = "auto"):
        self.model_id, self.device, self.dtype = model, device, dtype
        self.lock = threading.Lock()
        self.loads = 0
        self.calls = 0
        self._model = self._processor = None
        self._eos: set[int] = set()
        self._pad_id: int | None = None
        self._error: PermanentError | None = None

    def _ensure_loaded(self) -> None:
        if self._error is not None:
            raise self._error
        if self._model is None:
            try:
                self._load()
            except Exception as exc:
                self._error = PermanentError(f"cannot load vision-language model {self.model_id!r} on {self.device}: "
                                             f"{type(exc).__name__}: {exc}")
                raise self._error from None

    def _load(self) -> None:
        import torch
        import transformers
        from packaging.version import Version
        from transformers import AutoModelForImageTextToText, AutoProcessor

        folder = Path(self.model_id).expanduser()
        if self.model_id.startswith(("/", ".", "~")) and not folder.is_dir():
            raise FileNotFoundError(f"no model folder at {folder}")
        if self.dtype == "auto":
            dtype = "auto" if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, self.dtype)
        # transformers 4.56 renamed from_pretrained's torch_dtype to dtype.
        dtype_arg = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
        logger.info(f"lmms-safebench: loading vision-language model {self.model_id} on {self.device}")
        processor = AutoProcessor.from_pretrained(self.model_id)
        model = AutoModelForImageTextToText.from_pretrained(self.model_id, **{dtype_arg: dtype})
        model = model.to(self.device).eval()
        tokenizer = getattr(processor, "tokenizer", processor)
        eos = model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if getattr(tokenizer, "eos_token_id", None) is not None:
            self._eos.add(tokenizer.eos_token_id)
        pad = getattr(tokenizer, "pad_token_id", None)
        self._pad_id = pad if pad is not None else min(self._eos, default=0)
        self._processor, self._model = processor, model
        self.loads += 1

    def _prompt(self, messages: list[dict]) -> str:
        processor = self._processor
        if getattr(processor, "chat_template", None) or getattr(getattr(processor, "tokenizer", None),
                                                                 "chat_template", None):
            return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # No template: role-labelled turns, with the processor's image placeholder where each image goes.
        image_token = getattr(processor, "image_token", None) or "<image>"
        turns = []
        for message in messages:
            body = "".join(image_token if part["type"] == "image" else part["text"] for part in message["content"])
            turns.append(f"{message['role'].upper()}:\n{body}")
        return "\n\n".join(turns) + "\n\nASSISTANT:\n"

    def complete(self, messages: list[dict], max_new_tokens: int, temperature: float = 0.0) -> Completion:
        import torch

        converted, images = to_processor_messages(messages)
        with self.lock:
            self._ensure_loaded()
            processor, model = self._processor, self._model
            try:
                prompt = self._prompt(converted)
                inputs = processor(text=[prompt], images=images or None, return_tensors="pt")
                inputs = inputs.to(self.device, dtype=model.dtype)
                kwargs = {"max_new_tokens": max_new_tokens, "pad_token_id": self._pad_id}
                if temperature > 0:
                    kwargs.update(do_sample=True, temperature=temperature)
                else:  # greedy, whatever sampling defaults the checkpoint's generation_config carries
                    kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                with torch.inference_mode():
                    output = model.generate(**inputs, **kwargs)
            except (PermanentError, TransientError):
                raise
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if "out of memory" in str(exc).lower():
                    raise TransientError(f"out of device memory in {self.model_id}: {text[:300]}") from None
                raise PermanentError(f"vision-language model {self.model_id!r} failed: {text[:500]}") from None
            self.calls += 1
        width = inputs["input_ids"].shape[1]
        new = output[0][width:].tolist()
        end = next((i + 1 for i, token in enumerate(new) if token in self._eos), len(new))
        new = new[:end]
        tokenizer = getattr(processor, "tokenizer", processor)
        return Completion(text=tokenizer.decode(new, skip_special_tokens=True),
                          prompt_tokens=int(inputs["attention_mask"][0].sum()), completion_tokens=len(new))


_models: Shared[VisionModel] = Shared(VisionModel)


def shared_vision_model(model: str, device: str = "auto", dtype: str = "auto") -> VisionModel:
    """The process's one :class:`VisionModel` for (model, resolved device, dtype), not yet loaded."""
    return _models.get(model, resolve_device(device), dtype)


def unload_all() -> None:
    """Forget every loaded vision-language model (tests, benchmarks)."""
    _models.clear()


class VisionBackend:
    """A generator's ``backend: transformers`` model (a :class:`~lmms_safebench.llm.spec.ModelSpec`) for calls
    with images (the transport backends' interface)."""

    def __init__(self, spec):
        self.spec = spec

    def complete(self, messages: list[dict], schema: dict | None = None, schema_name: str = "") -> Completion:
        model = shared_vision_model(self.spec.model, self.spec.device, self.spec.dtype)
        return model.complete(messages, self.spec.max_tokens, self.spec.temperature)
