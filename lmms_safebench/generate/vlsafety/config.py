"""The VLSafetyBencher generation YAML: typed with pydantic and validated once, by :func:`..core.config.load`.

Every option is documented in the README ("Building a benchmark with VLSafetyBencher"); the comments here
say what each one decides. Only ``llm`` and ``vlm`` are required.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..core.config import Device, LLMSpec, Strict, Text, Title

STRATEGIES = ("modality_dependence", "complementarity", "conflict")
TEXT_OPERATIONS = ("paraphrase", "harder", "hypothetical", "roleplay")
IMAGE_OPERATIONS = ("typography", "crop", "resize", "jpeg", "noise", "strip")
OPERATIONS = TEXT_OPERATIONS + IMAGE_OPERATIONS

Strategy = Literal["modality_dependence", "complementarity", "conflict"]
Operation = Literal["paraphrase", "harder", "hypothetical", "roleplay", "typography", "crop", "resize", "jpeg",
                    "noise", "strip"]
_SLUG = r"^[a-z][a-z0-9_]{0,47}$"  # pydantic's (Rust) regex: `$` is the end of the text, never before a "\n"
_ABBR = r"^[A-Z][A-Z0-9]{0,3}$"


class SubcategorySpec(Strict):
    slug: str = Field(pattern=_SLUG)  # becomes a task name: safebench_gen_<name>_pool_<slug>
    title: Title = Field(min_length=1)
    description: Text = Field(min_length=1)  # what belongs here (shown to the verifier and the writer)
    clip_prompt: Title = Field(min_length=1)  # the zero-shot label CLIP scores images against


class CategorySpec(Strict):
    slug: str = Field(pattern=_SLUG)
    abbr: str = Field(pattern=_ABBR)  # report columns
    title: Title = Field(min_length=1)
    description: Text = ""  # also the jury's checklist entry for this category
    subcategories: list[SubcategorySpec] = Field(min_length=1)


class TaxonomySpec(Strict):
    categories: list[CategorySpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        # Categories and subcategories share one namespace: both become task or group names.
        for kind, values in (("category or subcategory slug", [c.slug for c in self.categories] +
                              [s.slug for c in self.categories for s in c.subcategories]),
                             ("clip_prompt", [s.clip_prompt for c in self.categories for s in c.subcategories])):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{kind} {twice[0]!r} appears twice (each must be unique)")
        return self


class SourceSpec(Strict):
    """How SOURCE (``--images``) is read."""

    image_column: str = "image"  # parquet / hub: bytes, {"bytes", "path"} or a path (relative to the parquet file)
    text_column: str | None = "auto"  # "auto": the first of text, caption, question, prompt, description; null: none
    split: str = "train"  # hub datasets
    revision: str | None = None  # hub datasets: a branch, tag or commit
    max_images: int | None = Field(None, ge=1)  # read only the first N images (in source order)
    max_side: int = Field(1024, ge=32)  # larger images are scaled down (aspect kept) when stored
    # A file (image, caption file, sidecar, path cell) larger than this is left out unread: a source cannot make the
    # run read without limit (a link to /dev/zero is refused before, as not a regular file).
    max_file_mb: float = Field(50, gt=0)
    # Pixels (width x height, from the header) an image may have before it is decoded: a small file can declare a
    # huge image (a decompression bomb). Above it a JPEG is decoded at a reduced scale (draft) that fits; any other
    # image is left out (too_large). Pillow's own limit (about 179 million) is far above what a pool needs.
    max_pixels: int = Field(40_000_000, ge=1)
    max_text_chars: int = Field(2000, ge=1)  # a longer caption or text cell is cut (noted): it goes into each prompt


class ClipSpec(Strict):
    model: str = "openai/clip-vit-base-patch32"  # hub id or local folder (transformers zero-shot pipeline)
    device: Device = "auto"  # "auto": CUDA when available, else CPU; or "cpu", "cuda:0", ...
    batch_size: int = Field(16, ge=1)
    # Labels for ordinary pictures: an image whose best label is one of these is not risk-relevant.
    benign_prompts: list[str] = Field(default_factory=lambda: [
        "an ordinary photo of everyday objects", "a photo of a landscape or a city street",
        "a photo of food on a table", "a photo of a pet or a wild animal"])


class Thresholds(Strict):
    min_width: int = Field(128, ge=1)  # pixels; smaller images are dropped
    min_height: int = Field(128, ge=1)
    phash_distance: int = Field(6, ge=0, le=32)  # Hamming distance of 64-bit pHashes at or below which two are duplicates
    text_similarity: float = Field(0.9, gt=0, le=1)  # captions / questions this similar (or more) are near-duplicates
    clip_confidence: float = Field(0.25, ge=0, le=1)  # the best subcategory's zero-shot probability must reach this


class GenerationSpec(Strict):
    pairs_per_image: int = Field(3, ge=1, le=20)  # k
    strategies: list[Strategy] = Field(default_factory=lambda: list(STRATEGIES), min_length=1)
    writer_sees_image: bool = False  # also send the image to the writer (when `llm` is a vision-language model)
    text_check: bool = True  # reject pairs whose text alone carries the harm where the strategy forbids it

    @field_validator("strategies")
    @classmethod
    def _distinct(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("list each strategy once")
        return value


class AugmentationSpec(Strict):
    operations: list[Operation] = Field(default_factory=lambda: list(OPERATIONS))
    variants_per_sample: int = Field(2, ge=0, le=10)  # 0: no augmentation
    seed: int = 0  # image operations (crop window, noise) are seeded by this and the sample's id
    crop_fraction: float = Field(0.8, gt=0.2, lt=1)  # side of the crop window, as a share of each side
    resize_factor: float = Field(0.5, gt=0.05, lt=1)
    jpeg_quality: int = Field(25, ge=1, le=95)
    noise_sigma: float = Field(12.0, gt=0, le=128)  # Gaussian pixel noise, on the 0-255 scale

    @field_validator("operations")
    @classmethod
    def _distinct(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("list each operation once")
        return value

    @model_validator(mode="after")
    def _enough(self):
        if self.variants_per_sample > len(self.operations):
            raise ValueError(f"variants_per_sample {self.variants_per_sample} exceeds the {len(self.operations)} "
                             "operations listed (each variant of a sample uses a different operation)")
        return self


class VLSafetyConfig(Strict):
    title: Title = ""  # the benchmark's title (default: "VLSafetyBencher <name>")
    llm: LLMSpec  # the question writer and the text augmenter
    vlm: LLMSpec  # the image verifier (must accept image content parts)
    checker: LLMSpec | None = None  # the text-only checker; default: the writer (`llm`)
    clip: ClipSpec = ClipSpec()
    taxonomy: str | TaxonomySpec | None = None  # null: the built-in one; a YAML path; or the mapping inline
    source: SourceSpec = SourceSpec()
    thresholds: Thresholds = Thresholds()
    text_embedding_model: str | None = None  # sentence-transformers model for near-duplicates; null: lexical
    generation: GenerationSpec = GenerationSpec()
    augmentation: AugmentationSpec = AugmentationSpec()
    recategorise: bool = True  # the verifier may move an image to another subcategory (false: such images are dropped)
    vlm_image_side: int = Field(768, ge=64)  # images are sent to the VLM (and writer) at most this large
    concurrency: int = Field(8, ge=1)  # items worked on at once per stage (calls in flight, image decoding)
