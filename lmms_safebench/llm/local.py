"""In-process models for ``backend: transformers`` specs (jurors, generator text models): one loaded model per
(model, device, dtype) in the process, shared by every caller that names it, and one batcher thread that feeds it.

Contract. :func:`shared_model` returns the process's :class:`LocalModel` for a model (a hub id, downloaded
by ``from_pretrained`` on first use, or a local folder), a device (``auto`` = cuda when available, else
cpu) and a dtype; five persona jurors on one model hold one copy of it. :meth:`LocalModel.complete`
renders the chat template, queues the request and blocks until its batch has run, then returns its own
:class:`~.client.Completion` (text, prompt tokens, completion tokens) or raises
:class:`~.retry.PermanentError` (the model cannot be loaded; generation failed) or
:class:`~.retry.TransientError` (out of device memory: the batch is split in halves until it fits; a single request that does not fit is
retried later with backoff). Thread-safe.

Batching. The batcher takes the oldest pending request, waits up to that request's ``batch_wait``
seconds for more requests with the same decoding settings (up to its ``batch_size``), left-pads the
prompts (``padding_side = "left"``), runs one ``generate`` and hands each caller its slice. Decoding
is greedy unless the spec's temperature is above 0; a completion ends at the first end-of-sequence
token, which is counted, as in an unbatched call. A failure fails every caller of that batch.
Models stay loaded for the life of the process (:func:`unload_all` frees them).

:class:`TransformersBackend` is the one-request interface of :mod:`.client` over a shared model, and
:func:`make_backend` picks it or the endpoint client for a spec.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from .client import Completion, OpenAIBackend
from .models import Shared, resolve_device
from .retry import PermanentError, TransientError


@dataclass(frozen=True)
class Decoding:
    """Settings that must be equal for requests to share one ``generate`` call."""

    max_new_tokens: int
    temperature: float = 0.0  # 0 = greedy


@dataclass
class _Request:
    prompt: str
    decoding: Decoding
    batch_size: int
    batch_wait: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Completion | None = None
    error: Exception | None = None


@dataclass
class Stats:
    """What a model did: loads, requests served, ``generate`` calls and the size of each batch."""

    loads: int = 0
    requests: int = 0
    generate_calls: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class LocalModel:
    def __init__(self, model: str, device: str, dtype: str = "auto"):
        self.model_id, self.device, self.dtype = model, device, dtype
        self.stats = Stats()
        self._model = None
        self._tokenizer = None
        self._eos: set[int] = set()
        self._pad_id: int | None = None
        self._load_error: PermanentError | None = None
        self._load_lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ loading
    def ensure_loaded(self) -> None:
        """Load the tokenizer and the model once; a failure is kept and raised to every later caller
        (a missing model is not retried once per sample)."""
        with self._load_lock:
            if self._load_error is not None:
                raise self._load_error
            if self._model is None:
                try:
                    self._load()
                except Exception as exc:
                    self._load_error = PermanentError(
                        f"cannot load transformers juror model {self.model_id!r} on {self.device}: "
                        f"{type(exc).__name__}: {exc}")
                    raise self._load_error from None

    def _load(self) -> None:
        import torch  # heavy optional dependencies: only when a model is loaded
        import transformers
        from packaging.version import Version
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(self.model_id).expanduser()
        if self.model_id.startswith(("/", ".", "~")) and not folder.is_dir():
            raise FileNotFoundError(f"no model folder at {folder} (a hub id looks like 'Qwen/Qwen3Guard-Gen-4B')")
        tokenizer = AutoTokenizer.from_pretrained(self.model_id)
        tokenizer.padding_side = "left"  # generation continues at the right end of every row
        if self.dtype == "auto":
            dtype = "auto" if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, self.dtype)
        # transformers 4.56 renamed from_pretrained's torch_dtype to dtype.
        dtype_arg = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
        logger.info(f"lmms-safebench: loading juror model {self.model_id} on {self.device} (dtype {self.dtype})")
        model = AutoModelForCausalLM.from_pretrained(self.model_id, **{dtype_arg: dtype}).to(self.device).eval()
        eos = model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self._eos.add(tokenizer.eos_token_id)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self._eos, default=0)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token_id = self._pad_id
        self._tokenizer, self._model = tokenizer, model
        self.stats.loads += 1

    # ------------------------------------------------------------------ requests
    def render(self, messages: list[dict], generation_prompt: bool = True) -> str:
        """The prompt text: the tokenizer's chat template, or plain role-labelled turns when it has none.
        ``generation_prompt=False`` for templates that open the reply themselves (guard models)."""
        self.ensure_loaded()
        if getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template(messages, tokenize=False,
                                                       add_generation_prompt=generation_prompt)
        if not generation_prompt:
            raise PermanentError(f"juror model {self.model_id!r} has no chat template; a guard model moderates "
                                 "through its own template")
        return "\n\n".join(f"{m['role'].upper()}:\n{m['content']}" for m in messages) + "\n\nASSISTANT:\n"

    def complete(self, messages: list[dict], decoding: Decoding, *, generation_prompt: bool = True,
                 batch_size: int = 16, batch_wait: float = 0.005) -> Completion:
        request = _Request(self.render(messages, generation_prompt), decoding, max(1, batch_size), batch_wait)
        with self._cond:
            if self._closed:
                raise PermanentError(f"juror model {self.model_id!r} was unloaded")
            self._queue.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="safebench-local-batcher", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def close(self) -> None:
        """Stop the batcher after the pending requests; later calls fail."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    # ------------------------------------------------------------------ batcher thread
    def _next_batch(self) -> list[_Request] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            first = self._queue[0]
            deadline = time.monotonic() + first.batch_wait
            while True:
                same = [r for r in self._queue if r.decoding == first.decoding]
                remaining = deadline - time.monotonic()
                if len(same) >= first.batch_size or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
            batch = same[:first.batch_size]
            taken = {id(r) for r in batch}
            self._queue = [r for r in self._queue if id(r) not in taken]
            return batch

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._generate_fitting(batch)
            finally:
                for request in batch:
                    if request.result is None and request.error is None:
                        request.error = PermanentError("generation returned no result")
                    request.done.set()

    def _generate_fitting(self, batch: list[_Request]) -> None:
        """Generate ``batch``, halving it while the device runs out of memory; a single request that still does
        not fit fails with a TransientError (retried with backoff), anything else with a PermanentError."""
        try:
            for request, completion in zip(batch, self._generate(batch), strict=True):
                request.result = completion
        except Exception as exc:
            error = _classify(exc, len(batch))
            if isinstance(error, TransientError) and len(batch) > 1:
                self._release_memory()
                half = len(batch) // 2
                self._generate_fitting(batch[:half])
                self._generate_fitting(batch[half:])
                return
            for request in batch:
                request.error = error

    def _release_memory(self) -> None:
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            pass

    def _generate(self, batch: list[_Request]) -> list[Completion]:
        import torch

        tokenizer, decoding = self._tokenizer, batch[0].decoding
        # The templates already hold the special tokens they need.
        inputs = tokenizer([r.prompt for r in batch], return_tensors="pt", padding=True,
                           add_special_tokens=False).to(self.device)
        kwargs = {"max_new_tokens": decoding.max_new_tokens, "pad_token_id": self._pad_id}
        if decoding.temperature > 0:
            kwargs.update(do_sample=True, temperature=decoding.temperature)
        else:
            # Greedy, whatever sampling defaults the checkpoint's generation_config carries.
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = self._model.generate(**inputs, **kwargs)
        self.stats.generate_calls += 1
        self.stats.requests += len(batch)
        self.stats.batch_sizes.append(len(batch))
        width = inputs["input_ids"].shape[1]
        completions = []
        for row, mask in zip(output, inputs["attention_mask"], strict=True):
            new = row[width:].tolist()
            end = next((i + 1 for i, token in enumerate(new) if token in self._eos), len(new))
            new = new[:end]
            completions.append(Completion(text=tokenizer.decode(new, skip_special_tokens=True),
                                          prompt_tokens=int(mask.sum()), completion_tokens=len(new)))
        return completions


def _classify(exc: Exception, size: int) -> Exception:
    if isinstance(exc, (PermanentError, TransientError)):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if "out of memory" in str(exc).lower():
        return TransientError(f"out of device memory generating a batch of {size}: {text[:300]}")
    return PermanentError(f"generation failed for a batch of {size}: {text[:500]}")


_models: Shared[LocalModel] = Shared(LocalModel, close=LocalModel.close)


def shared_model(model: str, device: str = "auto", dtype: str = "auto") -> LocalModel:
    """The one :class:`LocalModel` of this process for ``(model, resolved device, dtype)`` (not yet loaded)."""
    return _models.get(model, resolve_device(device), dtype)


def loaded_models() -> dict[tuple[str, str, str], LocalModel]:
    return _models.items()


def unload_all() -> None:
    """Stop every batcher and forget every model (tests, benchmarks)."""
    _models.clear()


class TransformersBackend:
    """A causal LM run in this process for a :class:`~.spec.ModelSpec` (a hub id or a local folder in
    ``model``). Every spec naming the same model, device and dtype shares one loaded copy, and requests from
    concurrent calls are batched into one ``generate`` (up to ``batch_size``, waiting ``batch_wait`` seconds).
    ``generation_prompt=False`` for guard models, whose chat template opens the reply itself."""

    def __init__(self, spec, generation_prompt: bool = True, batch_size: int = 16, batch_wait: float = 0.005):
        self.spec, self.generation_prompt = spec, generation_prompt
        self.batch_size, self.batch_wait = batch_size, batch_wait

    def complete(self, messages: list[dict], schema: dict | None = None, schema_name: str = "") -> Completion:
        """One generation (the JSON schema, if any, is asked for in the prompt only)."""
        spec = self.spec
        model = shared_model(spec.model, spec.device, spec.dtype)
        return model.complete(messages, Decoding(spec.max_tokens, spec.temperature),
                              generation_prompt=self.generation_prompt, batch_size=self.batch_size,
                              batch_wait=self.batch_wait)


def make_backend(spec, who: str | None = None, **local):
    """The backend of a spec: :class:`TransformersBackend` (``local``: its keyword options) for
    ``backend: transformers``, else the endpoint client (``who`` names the model in its errors)."""
    if spec.backend == "transformers":
        return TransformersBackend(spec, **local)
    return OpenAIBackend(spec, who)
