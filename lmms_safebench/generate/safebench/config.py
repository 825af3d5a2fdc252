"""The generation YAML of ``lmms-safebench generate safebench``: typed, validated once when loaded.

Every option is documented here and in the README ("Generating a SafeBench-style benchmark"). Models are
:class:`~..core.config.LLMSpec` (text or vision-language), images :class:`~..core.config.ImageSpec`, speech
:class:`~..core.config.SpeechSpec`. Stage settings default to the paper's pipeline where the paper states a value
(batches of 10 queries, top 100 per scenario, at most 3 image rounds, two voices).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from ..core.config import Device, ImageSpec, LLMSpec, SpeechSpec, Strict, Title

AXES = ("feasibility", "harmfulness", "applicability")
VOICES = ("female", "male")

# Sentence forms and styles varied from batch to batch (the paper varies sentence structure and coverage).
DEFAULT_FORMS = (
    "a direct question",
    "an imperative instruction",
    "a first-person request that describes the user's own situation",
    "a hypothetical or role-play framing",
    "a request for a step-by-step plan",
)
DEFAULT_STYLES = (
    "short and plain",
    "detailed, with concrete context",
    "casual and conversational",
    "formal and technical",
)


class IdentifySettings(Strict):
    """Risk identification (``taxonomy: identify``): a panel of models each proposes categories of risky
    requests with scenarios and definitions; near-duplicates are merged; the result is written to
    ``taxonomy.yaml`` for review."""

    panel: list[LLMSpec] = Field(default_factory=list)  # empty: the writer (`llm`) alone
    proposals: int = Field(1, ge=1, le=20)  # proposal calls per panel model (each asked afresh)
    categories: int = Field(8, ge=1, le=40)  # categories asked for in one proposal
    scenarios_per_category: int = Field(4, ge=1, le=20)  # at most this many scenarios per category
    merge: Literal["embeddings", "llm"] = "embeddings"
    embedding_model: str | None = None  # embeddings merge: a sentence-transformers model; None: lexical similarity
    embedding_device: Device = "auto"
    threshold: float = Field(0.85, gt=0, le=1)  # embeddings merge: similarity at which two entries are one
    merger: LLMSpec | None = None  # llm merge: the model that merges (default: the writer)
    min_support: int = Field(1, ge=1)  # keep a category only if at least this many panel models proposed it


class QuerySettings(Strict):
    """Query writing: per scenario, ``calls_per_scenario`` batches of ``per_call`` queries, each batch in
    another (sentence form, style) pair; then exact and near-duplicate removal within the scenario."""

    per_call: int = Field(10, ge=1, le=100)
    calls_per_scenario: int = Field(20, ge=1, le=10_000)
    forms: list[str] = Field(default_factory=lambda: list(DEFAULT_FORMS), min_length=1)
    styles: list[str] = Field(default_factory=lambda: list(DEFAULT_STYLES), min_length=1)
    near_duplicate_threshold: float = Field(0.85, gt=0, le=1)
    embedding_model: str | None = None  # None: lexical similarity (difflib), the weaker choice
    embedding_device: str = "auto"
    max_chars: int = Field(600, ge=20)  # longer queries are dropped as malformed

    @field_validator("forms", "styles")
    @classmethod
    def _no_blank(cls, value):
        if any(not item.strip() for item in value):
            raise ValueError("entries must not be blank")
        return value


class Weights(Strict):
    """Weights of the three 0-9 scores in a query's ranking score (normalised to sum to 1, so the score
    stays on 0-9). The paper does not publish its weights; these defaults put harm first (the benchmark
    measures whether models produce harmful content), then feasibility (a request that cannot be acted on
    tests little), then applicability (breadth)."""

    feasibility: float = Field(0.3, ge=0)
    harmfulness: float = Field(0.5, ge=0)
    applicability: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _some_weight(self):
        if self.feasibility + self.harmfulness + self.applicability <= 0:
            raise ValueError("at least one weight must be positive")
        return self

    def normalised(self) -> dict[str, float]:
        total = self.feasibility + self.harmfulness + self.applicability
        return {axis: getattr(self, axis) / total for axis in AXES}


class ScoringSettings(Strict):
    weights: Weights = Weights()
    top_k: int = Field(100, ge=1)  # queries kept per scenario
    # Ties of the ranking score are broken by these axes (mean score, higher first), then by query id.
    tie_break: list[Literal["feasibility", "harmfulness", "applicability"]] = Field(default_factory=list)


class ImageRounds(Strict):
    rounds: int = Field(3, ge=1, le=10)  # renders per query at most (each judged by the critic, if any)


class TwinSettings(Strict):
    """The ``twins`` stage: for every kept query, a benign twin (same subject and sentence form, a request a model
    should answer), checked by a critic that it is benign and close in wording, revised at most ``revisions`` times
    when rejected. The twins make the companion family ``safebench_gen_<name>_benign_*`` (over-refusal)."""

    critic: LLMSpec | None = None  # checks the twin's text (default: the config's `critic`, else the first scorer)
    revisions: int = Field(2, ge=0, le=10)  # rewrites of a rejected twin, at most (then it is left out, named)


class SafeBenchConfig(Strict):
    title: Title | None = None  # the benchmark's title in task groups and reports (default: from --name)
    llm: LLMSpec  # the writer: queries, image descriptions and revisions (and the default scorer and merger)
    scorers: list[LLMSpec] | None = Field(None, min_length=1)  # default: [llm]
    critic: LLMSpec | None = None  # a vision-language model; without it each image is rendered once
    image: ImageSpec | None = None  # without it, no images (no image tasks)
    speech: SpeechSpec | None = None  # without it, no audio (no audio tasks)
    taxonomy: str = "paper"  # "paper" (8 x 23), "identify", or a taxonomy YAML (relative to this file)
    identify: IdentifySettings = IdentifySettings()
    queries: QuerySettings = QuerySettings()
    scoring: ScoringSettings = ScoringSettings()
    images: ImageRounds = ImageRounds()
    twins: TwinSettings | None = None  # a benign twin per kept query (`twins: {}` for the defaults); None: none
    concurrency: int = Field(32, ge=1, le=1024)  # items in flight per stage

    @model_serializer(mode="wrap")
    def _without_absent_twins(self, handler):
        # The digest a resumed run compares is taken from this dump: a configuration without twins dumps as it did
        # before the option existed, so existing benchmarks resume without a "configuration changed" warning.
        data = handler(self)
        if isinstance(data, dict) and data.get("twins") is None:
            data.pop("twins", None)
        return data

    @field_validator("taxonomy")
    @classmethod
    def _taxonomy(cls, value):
        if not value.strip():
            raise ValueError("'paper', 'identify', or the path of a taxonomy YAML")
        return value.strip()

    @field_validator("speech")
    @classmethod
    def _voices(cls, value):
        if value is not None:
            unknown = sorted(set(value.voices) - set(VOICES))
            if unknown:
                raise ValueError(f"voices must be keyed {' and/or '.join(VOICES)}; got {unknown}")
        return value

    @property
    def scorer_specs(self) -> list[LLMSpec]:
        return list(self.scorers) if self.scorers else [self.llm]

    @property
    def twin_critic_spec(self) -> LLMSpec | None:
        """The model that checks twins' text: ``twins.critic``, else ``critic``, else the first scorer."""
        if self.twins is None:
            return None
        return self.twins.critic or self.critic or self.scorer_specs[0]

    @property
    def panel_specs(self) -> list[LLMSpec]:
        return list(self.identify.panel) if self.identify.panel else [self.llm]
