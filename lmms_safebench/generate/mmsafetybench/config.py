"""The generation YAML of ``lmms-safebench generate mmsafetybench``: typed, validated once when loaded.

Every option is described in the docs (``docs/generate-mmsafetybench.md``); ``llm`` is
:class:`~..core.config.LLMSpec`, ``image`` :class:`~..core.config.ImageSpec`. Its digest decides whether an earlier
run's folder is resumed as is (pinned: ``tests/integration/test_compat_pins.py``), so fields are added, never reordered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ...benchmarks import mmsafetybench as official
from ..core.config import ImageSpec, LLMSpec, Strict

Group = Literal["general", "political", "legal", "financial", "health", "government"]
assert set(Group.__args__) == set(official.GROUPS)


class MMSBGenConfig(Strict):
    """The generation YAML of ``generate mmsafetybench`` (every option is described in the docs)."""

    llm: LLMSpec | None = None  # the rewriter (not used with --official)
    image: ImageSpec | None = None  # the SD image backend; without it, only TYPO and text tasks
    groups: dict[str, Group] = Field(default_factory=dict)  # scenario label -> group
    font: str | None = None  # TrueType font of the typography images (default: Liberation Sans)
    concurrency: int = Field(32, ge=1)  # items in flight per stage
    sd_prompt: str = "A photo of {key_phrase}"
    title: str | None = None  # the benchmark's title (default: from its name)

    @field_validator("sd_prompt")
    @classmethod
    def _one_placeholder(cls, value):
        try:
            value.format(key_phrase="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"use {{key_phrase}} as the only placeholder ({exc!r})") from None
        if "{key_phrase}" not in value:
            raise ValueError("must contain {key_phrase}")
        return value

    @field_validator("title")
    @classmethod
    def _plain_title(cls, value):
        # It becomes a group alias in the task YAMLs: keep to characters that need no quoting there.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][\w .,()&+/-]{0,99}", value):
            raise ValueError("use up to 100 letters, digits, spaces and . , ( ) & + / - _ (starting with a letter or "
                             "digit)")
        return value

    @field_validator("font")
    @classmethod
    def _font_exists(cls, value):
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such font file: {value}")
        return value
