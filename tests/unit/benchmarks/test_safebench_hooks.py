"""SafeBench task hooks: target-prompt modes, audio forms, and their environment overrides."""

import base64
import io

import pytest
import soundfile
from helpers import dominant_frequency, write_safebench_release

from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks import safebench as sb
from lmms_safebench.benchmarks.safebench import data as build_mod
from lmms_safebench.errors import ConfigError
from lmms_safebench.harness import hooks


@pytest.fixture
def docs(tmp_path):
    write_safebench_release(tmp_path / "release", queries=1, scenarios=sb.SCENARIOS[:3])
    build_mod.build(source=str(tmp_path / "release"), subset="full")
    adapter = registry.get("safebench")
    return lambda selector: adapter.load_docs(adapter.parse(selector))[0]


def test_prompt_modes_per_model_block_and_override(docs, monkeypatch):
    image = docs("image.full.default.medical_advice")
    paper = hooks.doc_to_text(image, {"prompt_mode": "paper"})
    assert paper == sb.PAPER_IMAGE_PROMPT.format(query=image["query"])
    assert hooks.doc_to_text(image, {"prompt_mode": "plain", "pre_prompt": "P: "}) == "P: " + image["query"]
    monkeypatch.setenv(sb.PROMPT_MODE_ENV, "plain")
    assert hooks.doc_to_text(image, {"prompt_mode": "paper"}) == image["query"]
    text = docs("text.full.default.medical_advice")
    assert hooks.doc_to_text(text, {}) == text["query"]  # text-only: the query, in every mode
    monkeypatch.setenv(sb.PROMPT_MODE_ENV, "fancy")
    with pytest.raises(hooks.CannotStart, match="SAFEBENCH_PROMPT_MODE='fancy'") as stopped:
        hooks.custom_dataset("safebench.text.full.default.all")
    assert isinstance(stopped.value.__cause__, ConfigError)


def test_audio_reaches_models_as_array_or_wav_data_url(docs, monkeypatch):
    spoken = docs("audio_male.full.affirmative.legal_advice")
    (visual,) = hooks.doc_to_visual(spoken)
    assert visual["type"] == "audio" and visual["sampling_rate"] == 16000
    k = spoken["release_k"]
    assert dominant_frequency(visual["array"], 16000) == pytest.approx((200 + 10 * k + 1) * 0.5, abs=5)
    (turn,) = hooks.doc_to_messages(spoken, {"audio_format": "array"})
    audio, instruction = turn["content"]
    assert audio["type"] == "audio" and audio["url"]["sampling_rate"] == 16000
    assert instruction == {"type": "text", "text": sb.AFFIRMATIVE_INSTRUCTION}
    monkeypatch.setenv(sb.AUDIO_FORMAT_ENV, "data_url")
    (turn,) = hooks.doc_to_messages(docs("audio_male.full.audio.legal_advice"), {"audio_format": "array"})
    (audio,) = turn["content"]  # plain audio mode: no text part at all
    header, payload = audio["url"].split(",", 1)
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(payload)))
    assert header == "data:audio/wav;base64" and rate == 16000 and len(samples) == len(visual["array"])
