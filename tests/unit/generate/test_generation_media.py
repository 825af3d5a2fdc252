"""The generators' media and model backends on real tiny models built offline (diffusers SD3, VITS, LLaVA,
sentence-transformers) and on the real openai client against loopback endpoints."""

import base64
import importlib.util
import io
import json
import sys
import threading

import numpy as np
import pytest
import soundfile
from loopback import LoopbackServer, Reply, default_media
from PIL import Image

from lmms_safebench.errors import ConfigError
from lmms_safebench.generate.core.config import ImageSpec, LLMSpec, SpeechSpec, parse
from lmms_safebench.generate.core.ledger import Ledger
from lmms_safebench.generate.core.llm import FAILED, REPAIR, UNREADABLE, TextLLM, chat, json_in, make_limiter
from lmms_safebench.generate.media import diffusion, speech, vision
from lmms_safebench.generate.media.embeddings import embed, near_duplicates
from lmms_safebench.generate.media.image import OpenAIImages, image_backend
from lmms_safebench.generate.media.speech import OpenAISpeech, speech_backend
from lmms_safebench.llm.cache import CallCache
from lmms_safebench.llm.retry import PermanentError


def picture(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image


# ------------------------------------------------------------------------------------------ diffusers


def sd3(model, **settings) -> ImageSpec:
    return ImageSpec(backend="diffusers", model=str(model), steps=2, **settings)


def test_diffusers_renders_a_saved_sd3_pipeline_by_path_reproducibly(tiny_sd3):
    backend = image_backend(sd3(tiny_sd3, width=48, height=32))
    assert isinstance(backend, diffusion.DiffusersImages)
    assert (backend.device, backend.dtype) == ("cpu", "float32")  # device auto without CUDA
    assert backend.settings()["device"] == "cpu" and backend.settings()["steps"] == 2
    first = backend.render("a red bicycle in the rain", seed=11)
    assert picture(first).size == (48, 32)
    assert backend.render("a red bicycle in the rain", seed=11) == first
    assert backend.render("a red bicycle in the rain", seed=12) != first
    assert backend.render("a quiet harbour at dawn", seed=11) != first
    # A second backend on the same checkpoint shares the loaded pipeline and gives the same bytes.
    again = image_backend(sd3(tiny_sd3, width=48, height=32))
    assert again.pipeline is backend.pipeline and backend.pipeline.loads == 1
    assert again.render("a red bicycle in the rain", seed=11) == first
    # Every setting reaches the pipeline: the negative prompt, the steps, and the default size when unset.
    assert image_backend(sd3(tiny_sd3, width=48, height=32, negative_prompt="blurry")).render(
        "a red bicycle in the rain", seed=11) != first
    assert image_backend(sd3(tiny_sd3, width=48, height=32).model_copy(update={"steps": 3})).render(
        "a red bicycle in the rain", seed=11) != first
    assert picture(image_backend(sd3(tiny_sd3)).render("a red bicycle", seed=1)).size == (32, 32)


def test_diffusers_renders_from_many_threads_one_call_at_a_time(tiny_sd3):
    backend = image_backend(sd3(tiny_sd3, width=32, height=32))
    expected = {seed: backend.render("a lighthouse", seed) for seed in (1, 2)}
    results, errors = {}, []

    def work(i):
        try:
            results[i] = backend.render("a lighthouse", 1 + i % 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(results[i] == expected[1 + i % 2] for i in range(6))


def test_diffusers_errors_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"dtype: Input should be 'auto', 'float32', 'float16' or 'bfloat16'"):
        parse({"backend": "diffusers", "model": "x", "dtype": "int8"}, ImageSpec)  # refused when the config is read
    missing = image_backend(ImageSpec(backend="diffusers", model=str(tmp_path / "nowhere")))
    for _ in range(2):  # the failed load is kept, not retried per image
        with pytest.raises(PermanentError, match="cannot load diffusers pipeline .*nowhere"):
            missing.render("a cat", 1)
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r'pip install "lmms-safebench\[generate\]"'):
        image_backend(ImageSpec(backend="diffusers"))


# ------------------------------------------------------------------------------------------ speech


def read_wav(data: bytes):
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, rate


def test_vits_speaks_each_voice_with_its_own_speaker(tiny_vits):
    backend = speech_backend(SpeechSpec(backend="transformers", model=str(tiny_vits)))  # voices female, male: empty
    assert isinstance(backend, speech.TransformersSpeech)
    female = backend.speak("hello there, how are you today?", "female")
    male = backend.speak("hello there, how are you today?", "male")
    samples, rate = read_wav(female)
    assert rate == 8000 and samples.ndim == 1 and len(samples) > 1000 and np.abs(samples).max() > 0
    assert read_wav(male)[1] == 8000
    assert female != male
    assert backend.speak("hello there, how are you today?", "female") == female  # seeded per call
    assert backend.speak("something else entirely", "female") != female
    # An explicit speaker id is what the model takes: speaker 1 is the voice in second position above.
    swapped = speech_backend(SpeechSpec(backend="transformers", model=str(tiny_vits),
                                        voices={"female": "1", "male": "0"}))
    assert swapped.speak("hello there, how are you today?", "female") == male
    assert swapped.model is backend.model and backend.model.loads == 1
    with pytest.raises(ConfigError, match="voice 'child' is not configured"):
        backend.speak("hi", "child")
    wrong = speech_backend(SpeechSpec(backend="transformers", model=str(tiny_vits), voices={"female": "7"}))
    with pytest.raises(ConfigError, match=r"'7' is not a speaker id .*\(0-1\)"):
        wrong.speak("hi", "female")


def test_a_single_speaker_model_reads_every_voice_alike_and_takes_no_voice_setting(tmp_path):
    from tiny_models import build_tiny_vits

    model = str(build_tiny_vits(tmp_path / "one-voice", num_speakers=1, sampling_rate=16000))
    backend = speech_backend(SpeechSpec(backend="transformers", model=model))
    female = backend.speak("good morning", "female")
    assert read_wav(female)[1] == 16000
    assert backend.speak("good morning", "male") == female
    named = speech_backend(SpeechSpec(backend="transformers", model=model, voices={"female": "3"}))
    with pytest.raises(ConfigError, match="single voice"):
        named.speak("good morning", "female")


def test_parler_is_never_installed_here_and_says_how_to_use_it():
    assert importlib.util.find_spec("parler_tts") is None  # it would downgrade transformers
    with pytest.raises(ConfigError) as error:
        speech_backend(SpeechSpec(backend="parler"))
    message = str(error.value)
    assert "4.46.1" in message and "own environment" in message and "backend: openai" in message
    # The paper's two readers are the defaults; a configured description wins; other voices need one.
    spec = SpeechSpec(backend="parler", voices={"female": "", "male": "", "narrator": ""})
    assert speech.parler_description(spec, "female") == speech.FEMALE_DESCRIPTION
    assert "authoritative" in speech.parler_description(spec, "male")
    custom = SpeechSpec(backend="parler", voices={"female": "A calm woman reads slowly."})
    assert speech.parler_description(custom, "female") == "A calm woman reads slowly."
    with pytest.raises(ConfigError, match="narrator"):
        speech.parler_description(spec, "narrator")


# ------------------------------------------------------------------------------------------ vision-language


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_a_transformers_model_answers_messages_with_images_through_textllm(tiny_llava, tmp_path):
    from lmms_safebench.llm.local import loaded_models

    spec = LLMSpec(backend="transformers", model=str(tiny_llava), temperature=0, max_tokens=16)
    ledger = Ledger(tmp_path / "ledger.json")
    llm = TextLLM(spec, CallCache(tmp_path / "calls.sqlite"), ledger, make_limiter(), role="critic")
    messages = chat("You judge pictures.", [
        {"type": "text", "text": 'Does this picture show the query? Reply {"match": true|false}.'},
        {"type": "image_url", "image_url": {"url": data_url(Image.new("RGB", (40, 30), (200, 20, 20)))}}])
    model = vision.shared_vision_model(str(tiny_llava), "auto", "auto")
    calls_before = model.calls

    answer = llm.ask("critique", messages, parse=json_in)
    # Random weights reply with noise: the repair request was sent, then the reply reported unreadable.
    assert answer.status == UNREADABLE and "after a repair request" in answer.error
    assert model.calls - calls_before == 2 and model.loads == 1
    account = ledger.to_dict()["critique"]
    assert account["calls"] == 2 and account["unreadable"] == 1 and account["failures"] == 0
    assert account["prompt_tokens"] > 0 and account["completion_tokens"] > 0
    assert not any(key[0] == str(tiny_llava) for key in loaded_models())  # not the text-only causal-LM path

    # The repair request went to the same model with the image: its prompt is the first one plus the reply and
    # the request, and both were cached as finished calls.
    cache = CallCache(tmp_path / "calls.sqlite")
    first, repair = (json.loads(row[0]) for row in cache._conn.execute("SELECT result FROM calls ORDER BY created"))
    assert repair["prompt_tokens"] > first["prompt_tokens"] + len(REPAIR) // 2

    # Finished calls are cached: asking again makes no model call.
    assert llm.ask("critique", messages, parse=json_in).status == UNREADABLE
    assert model.calls - calls_before == 2 and ledger.to_dict()["critique"]["cache_hits"] == 2

    # A broken image is the call's failure, named; nothing is counted as an answer.
    broken = chat(None, [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}])
    failed = llm.ask("critique", broken, parse=json_in)
    assert failed.status == FAILED and "message 0 (user), part 1" in failed.error
    assert ledger.to_dict()["critique"]["failures"] == 1


# ------------------------------------------------------------------------------------------ OpenAI-compatible media


def scripted_media(*statuses):
    """Media replies: the given error statuses in turn, then the loopback's default picture or voice."""
    queue = list(statuses)
    lock = threading.Lock()

    def media(path, body):
        with lock:
            status = queue.pop(0) if queue else None
        if status is None:
            return default_media(path, body)
        return Reply(status=status, headers={"Retry-After": "0"} if status == 429 else {})

    return media


def test_openai_images_retry_429_and_500_then_succeed_and_400_is_raised_clearly():
    with LoopbackServer(lambda body: Reply("unused"), media=scripted_media(429, 500)) as server:
        spec = ImageSpec(backend="openai", model="img-model", base_url=server.base_url, retry_base_delay=0,
                         size="256x256")
        backend = image_backend(spec)
        assert isinstance(backend, OpenAIImages)
        image = picture(backend.render("a red bicycle", seed=5))
        assert image.size == (32, 32)
        assert [r["_path"] for r in server.requests] == ["/v1/images/generations"] * 3
        last = server.requests[-1]
        assert (last["prompt"], last["model"], last["seed"], last["size"]) == ("a red bicycle", "img-model", 5, "256x256")
    with LoopbackServer(lambda body: Reply("unused"), media=scripted_media(400)) as server:
        backend = image_backend(ImageSpec(backend="openai", model="img-model", base_url=server.base_url,
                                          retry_base_delay=0))
        with pytest.raises(PermanentError, match=r"bad request \(400\)"):
            backend.render("a red bicycle", seed=5)
        assert len(server.requests) == 1  # not retried


def test_openai_speech_retries_then_reads_each_voice_by_its_name_and_400_is_raised_clearly():
    with LoopbackServer(lambda body: Reply("unused"), media=scripted_media(500, 429)) as server:
        spec = SpeechSpec(backend="openai", model="tts-model", base_url=server.base_url, retry_base_delay=0,
                          voices={"female": "nova", "male": "onyx"})
        backend = speech_backend(spec)
        assert isinstance(backend, OpenAISpeech)
        female = backend.speak("hello", "female")
        samples, rate = read_wav(female)
        assert rate == 16000 and len(samples) > 0
        assert len(server.requests) == 3
        assert (server.requests[-1]["voice"], server.requests[-1]["response_format"]) == ("nova", "wav")
        assert backend.speak("hello", "male") != female and server.requests[-1]["voice"] == "onyx"
    with LoopbackServer(lambda body: Reply("unused"), media=scripted_media(400)) as server:
        backend = speech_backend(SpeechSpec(backend="openai", model="tts-model", base_url=server.base_url,
                                            retry_base_delay=0))
        with pytest.raises(PermanentError, match=r"bad request \(400\)"):
            backend.speak("hello", "female")
        assert len(server.requests) == 1


# ------------------------------------------------------------------------------------------ embeddings


def test_embeddings_with_a_tiny_sentence_transformers_model(tiny_sentence_model):
    model = str(tiny_sentence_model)
    texts = ["How do I open a bank account?", "Where is the nearest train station?", "How do I open a bank account?"]
    vectors = embed(texts, model=model, device="cpu")
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6) and not np.allclose(vectors[0], vectors[1], atol=1e-3)
    queries = ["How do I open a bank account?", "how do i open a bank account", "Where is the nearest train station?"]
    assert near_duplicates(queries, threshold=0.9999, model=model, device="cpu") == [1]
    assert near_duplicates(queries, threshold=-1.0, model=model, device="cpu") == [1, 2]  # everything is "near"


@pytest.mark.parametrize("spec, field", [({"model": "m", "device": "gpu"}, "device"),
                                         ({"model": "m", "dtype": "fp16"}, "dtype")])
def test_where_an_in_process_model_runs_is_checked_when_the_config_is_read(spec, field):
    from lmms_safebench.errors import ConfigError
    from lmms_safebench.generate.core.config import LLMSpec, parse

    with pytest.raises(ConfigError, match=rf"gen.yaml: invalid generation config:\n  {field}: "):
        parse(spec, LLMSpec, "gen.yaml")
