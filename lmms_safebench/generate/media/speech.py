"""Text-to-speech backends (``speech:`` in a generation YAML): ``openai`` (an OpenAI-compatible speech endpoint,
one configured voice name per output voice) and, in this process, ``transformers`` and ``parler``.

Contract. ``speak(text, voice) -> WAV bytes`` (mono or the model's channels, 16-bit PCM, at the model's own
sampling rate); ``voice`` is a key of ``spec.voices`` (``female``, ``male``), any other is a ConfigError.
Each call seeds torch's global generator with ``spec.seed`` first, so the same text, voice and settings give
the same audio (as long as no other thread samples from torch's global generator at the same moment).
One model per (model, resolved device) per process, loaded on the first call; calls run one at a time per
model. A model that cannot be loaded is a :class:`~lmms_safebench.llm.retry.PermanentError`, kept and raised
again to every later caller.

``transformers``: ``transformers.pipeline("text-to-audio", model=spec.model)``. What a voice's value in
``spec.voices`` means depends on the model's type:

- VITS / MMS with several speakers (``config.num_speakers > 1``, e.g. ``kakao-enterprise/vits-vctk``): an
  integer speaker id, passed as ``forward_params={"speaker_id": n}``; an empty value takes the voice's position
  in ``voices`` (the first voice speaker 0, the second speaker 1). Listen to a few ids to choose a female and a
  male one: speaker ids carry no gender.
- VITS / MMS with one speaker (``facebook/mms-tts-eng``, the default): the value must be empty or ``0``; every
  voice reads in the model's one voice, so the voices sound the same (a warning says so once).
- Bark: a voice preset (a name the checkpoint lists, e.g. ``v2/en_speaker_9``, or a ``.npz`` file), turned into
  Bark's ``history_prompt`` by the checkpoint's processor; a preset is required for every voice.
- Any other model type: the value must be empty; every voice is the model's own voice.

``parler``: Parler-TTS (``parler_tts.ParlerTTSForConditionalGeneration``; default checkpoint
``parler-tts/parler-tts-large-v1``, SafeBench's), where a voice is a text description of the speaker: the
value in ``voices``, or :data:`FEMALE_DESCRIPTION` / :data:`MALE_DESCRIPTION` for an empty ``female`` / ``male``.
Parler-TTS pins transformers 4.46.1, so it is never installed into this project's environment: without it,
:class:`ParlerSpeech` is a ConfigError saying how to run it beside this project instead (its own environment
behind an OpenAI-compatible speech server, used with ``backend: openai``).
"""

from __future__ import annotations

import io
import threading

import numpy as np
import soundfile
from loguru import logger

from ...errors import ConfigError
from ...llm.limits import EndpointLimiter
from ...llm.models import Shared, resolve_device
from ...llm.retry import PermanentError
from ..core.config import SpeechSpec
from .base import EndpointClient, SpeechBackend

INSTALL = 'pip install "lmms-safebench[generate]"'
PARLER_MODEL = "parler-tts/parler-tts-large-v1"

# The two readers of SafeBench's audio (the paper's description clauses, in this project's words).
FEMALE_DESCRIPTION = ("A female speaker with a slightly expressive, lively delivery speaks at a moderate pace and "
                      "pitch, rather slowly. The recording is very close-up and of very high quality.")
MALE_DESCRIPTION = ("A male speaker with a commanding, authoritative voice speaks vigorously and expressively. "
                    "The recording is very close-up and of very high quality.")
DEFAULT_DESCRIPTIONS = {"female": FEMALE_DESCRIPTION, "male": MALE_DESCRIPTION}

PARLER_MISSING = (
    "speech backend 'parler' needs the parler_tts package, which is not installed here. Do not install it into this "
    "environment: Parler-TTS pins transformers 4.46.1 and would downgrade the transformers this project (and "
    "lmms-eval) runs on. Instead give it its own environment (e.g. `python -m venv parler-env && "
    "parler-env/bin/pip install git+https://github.com/huggingface/parler-tts.git`), serve it there behind an "
    "OpenAI-compatible speech endpoint (POST /v1/audio/speech), and set `speech: {backend: openai, base_url: "
    "<that server>/v1, model: <its model name>, voices: {female: ..., male: ...}}`, each voice being what that "
    "server takes (a voice name it maps to a description, or the description itself).")


def wav_bytes(audio, rate: int) -> bytes:
    """16-bit PCM WAV of a waveform (samples, or channels x samples), clipped to [-1, 1]."""
    samples = np.asarray(audio, dtype="float32").squeeze()
    if samples.ndim == 2 and samples.shape[0] < samples.shape[1]:
        samples = samples.T  # soundfile takes (frames, channels)
    if samples.ndim not in (1, 2) or samples.size == 0:
        raise PermanentError(f"the speech model returned no usable waveform (shape {tuple(samples.shape)})")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), int(rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def voice_value(spec: SpeechSpec, voice: str) -> str:
    if voice not in spec.voices:
        raise ConfigError(f"speech voice {voice!r} is not configured; voices: {', '.join(spec.voices)}")
    return (spec.voices[voice] or "").strip()


def parler_description(spec: SpeechSpec, voice: str) -> str:
    """The speaker description Parler-TTS reads ``voice`` with: the configured one, else the default for
    ``female`` / ``male``."""
    description = voice_value(spec, voice) or DEFAULT_DESCRIPTIONS.get(voice)
    if not description:
        raise ConfigError(f"speech voice {voice!r}: Parler-TTS needs a description of the speaker in "
                          f"voices.{voice} (only female and male have a default)")
    return description


class _Loaded:
    """One model of this process, loaded on first use; :attr:`lock` makes its calls one at a time."""

    def __init__(self, key: tuple, load):
        self.key, self._load = key, load
        self.lock = threading.Lock()
        self.loads = 0
        self._value = None
        self._error: PermanentError | None = None

    def get(self):
        """The loaded model (call with :attr:`lock` held)."""
        if self._error is not None:
            raise self._error
        if self._value is None:
            try:
                self._value = self._load()
            except Exception as exc:
                kind, model, device = self.key
                self._error = PermanentError(f"cannot load {kind} speech model {model!r} on {device}: "
                                             f"{type(exc).__name__}: {exc}")
                raise self._error from None
            self.loads += 1
        return self._value


_models: Shared[_Loaded] = Shared()


def _shared(kind: str, model: str, device: str, load) -> _Loaded:
    key = (kind, model, device)
    return _models.get_or_make(key, lambda: _Loaded(key, load))


def unload_all() -> None:
    """Forget every loaded speech model (tests, benchmarks)."""
    _models.clear()


class TransformersSpeech(SpeechBackend):
    """A transformers ``text-to-audio`` pipeline; the voice rule is in the module's docstring."""

    def __init__(self, spec: SpeechSpec):
        try:
            import soundfile  # noqa: F401
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"speech backend 'transformers' needs torch, transformers and soundfile ({exc}); "
                              f"install them with {INSTALL}") from None
        self.spec = spec
        self.device = resolve_device(spec.device)
        self.model = _shared("transformers", spec.model, self.device, self._load)
        self._warned = False

    def settings(self) -> dict:
        return super().settings() | {"device": self.device}

    def _load(self):
        from transformers import pipeline

        logger.info(f"lmms-safebench: loading text-to-audio model {self.spec.model} on {self.device}")
        return pipeline("text-to-audio", model=self.spec.model, device=self.device)

    def forward_params(self, pipe, text: str, voice: str) -> dict:
        """What the model takes for ``voice`` (the rule in the module docstring)."""
        value = voice_value(self.spec, voice)
        config = pipe.model.config
        kind = config.model_type
        speakers = int(getattr(config, "num_speakers", 1) or 1)
        if kind == "vits" and speakers > 1:
            if not value:
                position = list(self.spec.voices).index(voice)
                if position >= speakers:
                    raise ConfigError(f"speech voice {voice!r}: {self.spec.model} has {speakers} speakers; give "
                                      f"voices.{voice} a speaker id (0-{speakers - 1})")
                return {"speaker_id": position}
            try:
                speaker = int(value)
            except ValueError:
                speaker = -1
            if not 0 <= speaker < speakers:
                raise ConfigError(f"speech voice {voice!r}: {value!r} is not a speaker id of {self.spec.model} "
                                  f"(0-{speakers - 1})")
            return {"speaker_id": speaker}
        if kind == "bark":
            if not value:
                raise ConfigError(f"speech voice {voice!r}: Bark needs a voice preset in voices.{voice} "
                                  "(e.g. v2/en_speaker_9)")
            if pipe.processor is None:
                raise ConfigError(f"speech model {self.spec.model!r} has no Bark processor to read voice presets")
            try:
                history = pipe.processor(text, voice_preset=value)["history_prompt"]
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"speech voice {voice!r}: cannot read Bark voice preset {value!r} "
                                  f"({type(exc).__name__}: {exc})") from None
            return {"history_prompt": dict(history)}
        if value and not (kind == "vits" and value == "0"):
            raise ConfigError(f"speech voice {voice!r}: {self.spec.model} ({kind}) has a single voice and takes no "
                              f"setting; leave voices.{voice} empty or use a multi-speaker model")
        if len(self.spec.voices) > 1 and not self._warned:
            self._warned = True
            logger.warning(f"lmms-safebench: speech model {self.spec.model} has one voice: every voice "
                           f"({', '.join(self.spec.voices)}) will sound the same")
        return {}

    def speak(self, text: str, voice: str) -> bytes:
        import torch

        voice_value(self.spec, voice)  # an unknown voice fails before the model loads
        with self.model.lock:
            pipe = self.model.get()
            params = self.forward_params(pipe, text, voice)
            torch.manual_seed(self.spec.seed)
            with torch.inference_mode():
                output = pipe(text, forward_params=params) if params else pipe(text)
        return wav_bytes(output["audio"], output["sampling_rate"])


class ParlerSpeech(SpeechBackend):
    """Parler-TTS in this process, a voice being a description of the speaker (needs the parler_tts package,
    which this project's environment must not hold: see :data:`PARLER_MISSING`)."""

    def __init__(self, spec: SpeechSpec):
        try:
            import parler_tts  # noqa: F401
        except ImportError:
            raise ConfigError(PARLER_MISSING) from None
        self.spec = spec
        # SpeechSpec's default model is a VITS one: with no model named, Parler uses SafeBench's checkpoint.
        self.model_id = spec.model if "model" in spec.model_fields_set else PARLER_MODEL
        self.device = resolve_device(spec.device)
        self.model = _shared("parler", self.model_id, self.device, self._load)

    @property
    def label(self) -> str:
        return f"parler:{self.model_id}"

    def settings(self) -> dict:
        return super().settings() | {"model": self.model_id, "device": self.device}

    def _load(self):
        from parler_tts import ParlerTTSForConditionalGeneration
        from transformers import AutoTokenizer

        logger.info(f"lmms-safebench: loading Parler-TTS {self.model_id} on {self.device}")
        model = ParlerTTSForConditionalGeneration.from_pretrained(self.model_id).to(self.device).eval()
        return model, AutoTokenizer.from_pretrained(self.model_id)

    def speak(self, text: str, voice: str) -> bytes:
        import torch

        description = parler_description(self.spec, voice)
        with self.model.lock:
            model, tokenizer = self.model.get()
            speaker = tokenizer(description, return_tensors="pt").to(self.device)
            prompt = tokenizer(text, return_tensors="pt").to(self.device)
            torch.manual_seed(self.spec.seed)
            with torch.inference_mode():
                audio = model.generate(input_ids=speaker.input_ids, attention_mask=speaker.attention_mask,
                                       prompt_input_ids=prompt.input_ids,
                                       prompt_attention_mask=prompt.attention_mask)
        return wav_bytes(audio.cpu().float().numpy(), model.config.sampling_rate)


class OpenAISpeech(SpeechBackend):
    """``audio.speech.create`` on an OpenAI-compatible endpoint, one configured voice name per output voice."""

    def __init__(self, spec: SpeechSpec, limiter: EndpointLimiter | None = None):
        self.spec = spec
        self.endpoint = EndpointClient(spec, limiter, f"speech backend {spec.model!r}")

    def speak(self, text: str, voice: str) -> bytes:
        name = self.spec.voices.get(voice) or voice

        def request(client):
            return client.audio.speech.create(model=self.spec.model, voice=name, input=text,
                                              response_format="wav").read()

        return self.endpoint.call(request)


def speech_backend(spec: SpeechSpec, limiter: EndpointLimiter | None = None) -> SpeechBackend:
    if spec.backend == "openai":
        return OpenAISpeech(spec, limiter)
    return ParlerSpeech(spec) if spec.backend == "parler" else TransformersSpeech(spec)
