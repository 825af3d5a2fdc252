"""The generators' media models: image and speech backends, in-process vision-language models, embeddings.

- :mod:`.image`: :class:`~.base.ImageBackend` (``render(prompt, seed) -> PNG bytes``), chosen by the generation
  YAML: ``typography`` (offline: the prompt drawn black on white), ``openai`` (an OpenAI-compatible images
  endpoint), ``diffusers`` (Stable Diffusion in-process; the optional ``generate`` extra, :mod:`.diffusion`).
- :mod:`.speech`: :class:`~.base.SpeechBackend` (``speak(text, voice) -> WAV bytes``): ``openai`` (an
  OpenAI-compatible speech endpoint, a voice name per output), ``transformers`` (a ``text-to-audio`` pipeline
  in-process) and ``parler`` (Parler-TTS, a description per voice).
- :mod:`.vision`: vision-language models in-process, for a text model asked about images
  (:class:`~lmms_safebench.generate.core.llm.TextLLM` sends such calls there).
- :mod:`.embeddings`: text and CLIP image embeddings, near-duplicate detection.

Calls are retried like every model call (:mod:`lmms_safebench.llm.retry`: 429, 5xx, timeouts, dropped
connections; ``Retry-After`` honoured) and limited per endpoint. Results are not cached here: a stage writes each
file before recording its item, so a rerun skips what exists.
"""

from __future__ import annotations

# The seed rule MM-SafetyBench-style manifests name ("lmms_safebench.generate.media.item_seed").
from .base import item_seed  # noqa: F401
