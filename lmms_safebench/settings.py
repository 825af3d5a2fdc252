"""Every environment variable lmms-safebench reads, in one place: read and validated here, typed below.

| variable | meaning |
|---|---|
| ``SAFEBENCH_DATA`` | built datasets (default ``~/.cache/lmms_safebench/data``) |
| ``SAFEBENCH_CACHE`` | judge-call cache and downloads (default ``~/.cache/lmms_safebench``) |
| ``SAFEBENCH_OFFLINE``, ``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE`` | no downloads |
| ``SAFEBENCH_JURY`` | a jury file or built-in name |
| ``SAFEBENCH_JUDGE_MODEL``, ``SAFEBENCH_JUDGE_BASE_URL``, ``SAFEBENCH_JUDGE_API_KEY`` | one judge endpoint (the base
  URL and key fall back to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``) |
| ``SAFEBENCH_LOCAL_GUARD_MODEL``, ``SAFEBENCH_LOCAL_PANEL_MODEL``, ``SAFEBENCH_LOCAL_DEVICE`` | the built-in local juries |
| ``SAFEBENCH_JUDGE_CACHE`` | ``0`` turns the judge cache off |
| ``SAFEBENCH_RETRY_ABSTAINED`` | ``1`` asks again where a juror's cached reply held no verdict |
| ``SAFEBENCH_PREDICT_ONLY`` | ``1``: the run only predicts, no jury needed |
| ``SAFEBENCH_PROMPT_MODE``, ``SAFEBENCH_AUDIO_FORMAT`` | override a SafeBench model block's settings |
| ``SAFEBENCH_GITHUB_RAW`` | the base URL of GitHub's raw file server (default ``https://raw.githubusercontent.com``;
  a mirror, or a ``file://`` copy): every pinned GitHub download reads it (``data.store.github_raw_url``), i.e.
  ``build mmsafetybench``, ``build mossbench`` and ``build xstest`` with their ``github`` source, and the
  ``msts`` and ``xstest`` sets of ``jury calibrate`` |

Two reads stay elsewhere on purpose: ``harness/discovery.py`` runs at every interpreter start and must not import
the library (it reads ``SAFEBENCH_DATA`` and ``LMMS_SAFEBENCH_NO_DISCOVERY`` itself), and API key *values*
are read by their variable's name only at request time (``llm/client.py``), so no object that could be
logged ever holds one. Settings are read when asked for (:func:`current`), so a changed environment counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

PROMPT_MODES = ("paper", "plain")
AUDIO_FORMATS = ("array", "data_url")
GITHUB_RAW = "https://raw.githubusercontent.com"


def _cache_root(env) -> Path:
    return Path(env.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "lmms_safebench"


def data_dir_of(env) -> Path:
    """The data folder ``env`` names. Pure and import-light: task discovery uses it at interpreter start."""
    data = _text(env, "SAFEBENCH_DATA")
    return Path(data).expanduser() if data else _cache_root(env) / "data"


def _flag(env, name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={env.get(name)!r}: expected 1/0 (or true/false, yes/no, on/off)")


def _choice(env, name: str, choices: tuple[str, ...]) -> str | None:
    value = env.get(name, "").strip()
    if value and value not in choices:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value or None


def _text(env, name: str) -> str:
    return env.get(name, "").strip()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    cache_dir: Path
    offline: bool
    jury: str  # SAFEBENCH_JURY ("" when unset)
    judge_model: str  # SAFEBENCH_JUDGE_MODEL ("" when unset)
    judge_base_url: str | None
    judge_api_key_env: str  # the NAME of the variable holding the judge's key
    local_guard_model: str
    local_panel_model: str
    local_device: str
    judge_cache: bool
    retry_abstained: bool
    predict_only: bool
    prompt_mode: str | None
    audio_format: str | None
    github_raw: str

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        env = os.environ if env is None else env
        cache = _text(env, "SAFEBENCH_CACHE")
        return cls(
            data_dir=data_dir_of(env),
            cache_dir=Path(cache).expanduser() if cache else _cache_root(env),
            # The Hugging Face switches are read as the Hugging Face stack reads them (anything else is "no").
            offline=_flag(env, "SAFEBENCH_OFFLINE", False) or any(
                env.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")),
            jury=_text(env, "SAFEBENCH_JURY"),
            judge_model=_text(env, "SAFEBENCH_JUDGE_MODEL"),
            judge_base_url=_text(env, "SAFEBENCH_JUDGE_BASE_URL") or _text(env, "OPENAI_BASE_URL") or None,
            judge_api_key_env="SAFEBENCH_JUDGE_API_KEY" if env.get("SAFEBENCH_JUDGE_API_KEY") else "OPENAI_API_KEY",
            local_guard_model=_text(env, "SAFEBENCH_LOCAL_GUARD_MODEL"),
            local_panel_model=_text(env, "SAFEBENCH_LOCAL_PANEL_MODEL"),
            local_device=_text(env, "SAFEBENCH_LOCAL_DEVICE"),
            judge_cache=_flag(env, "SAFEBENCH_JUDGE_CACHE", True),
            retry_abstained=_flag(env, "SAFEBENCH_RETRY_ABSTAINED", False),
            predict_only=_flag(env, "SAFEBENCH_PREDICT_ONLY", False),
            prompt_mode=_choice(env, "SAFEBENCH_PROMPT_MODE", PROMPT_MODES),
            audio_format=_choice(env, "SAFEBENCH_AUDIO_FORMAT", AUDIO_FORMATS),
            github_raw=(_text(env, "SAFEBENCH_GITHUB_RAW") or GITHUB_RAW).rstrip("/"),
        )


def current() -> Settings:
    """The settings of the environment as it is now (raises ConfigError naming a variable with a bad value)."""
    return Settings.from_env()
