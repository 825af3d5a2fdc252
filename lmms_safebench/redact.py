"""What may be shown of a value that could be a secret: one place for every URL written or logged, and every
input value echoed in an error message.

- :func:`redact_url`: a URL without credentials: no ``user:password@``, and the value of every key-like query
  parameter (``api-key``, ``key``, ``token``, ``sig``, ...; see :func:`is_secret_name`) or key-looking query
  value (``sk-...``, ``hf_...``; :data:`KNOWN_KEY`) replaced by ``***``. A URL with nothing to redact is returned
  unchanged, character for character (jury identities hash it, so they stay the same).
- :func:`shown`: how an input value appears in an error message: withheld when the field's name is key-like or
  the value looks like a key or a long random token, otherwise its ``repr`` cut to :data:`ECHO_LIMIT` characters.
- :func:`redact_config`: a harness run's ``config`` (``model_args`` as a string or a mapping) as it may be written
  to a file: key-like arguments masked, credentials dropped from URLs, key-looking values masked.
- :func:`key_env_problem`: why a value given as the *name* of a key's environment variable is not one (it is the
  key itself, or no variable name), never repeating the value.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

ECHO_LIMIT = 200  # characters of an input value an error message shows at most
MASK = "***"

# Words that make a field or parameter name key-like: ``api_key``, ``x-api-key``, ``apiKey``, ``access_token``,
# ``sig``, ``client_secret``, ``password``... but not ``max_tokens`` or ``keyword``.
_SECRET_WORDS = frozenset({"key", "apikey", "token", "secret", "password", "passwd", "pwd", "sig", "signature",
                           "auth", "authorization", "credential", "credentials", "cookie", "session", "bearer", "jwt"})
_SECRET_GLUED = ("apikey", "accesstoken", "authtoken", "secret", "password", "passwd", "credential")

# Formats of real keys: OpenAI/Anthropic (sk-), Hugging Face (hf_), GitHub (ghp_...), GitLab (glpat-), Slack
# (xox?-), AWS access key ids (AKIA), Google API keys (AIza), JWTs (eyJ...).
KNOWN_KEY = re.compile(r"(?<![A-Za-z0-9])(?:sk-(?=[A-Za-z_\-]*[0-9])[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}"
                       r"|glpat-[A-Za-z0-9_\-]{16,}|xox[abposr]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}"
                       r"|AIza[0-9A-Za-z_\-]{30,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-.]{10,})")
# A long random-looking token: 24+ letters and digits in one run that switches often between lower case,
# upper case and digits (a hex or base62 key does; "Internationalisation2024" does not).
_RUN = re.compile(r"[A-Za-z0-9]{24,}")


def _random_token(run: str) -> bool:
    kinds = ["d" if ch.isdigit() else "u" if ch.isupper() else "l" for ch in run]
    switches = sum(a != b for a, b in zip(kinds, kinds[1:], strict=False))
    return "d" in kinds and ("l" in kinds or "u" in kinds) and switches >= len(run) // 5


def is_secret_name(name: str) -> bool:
    """Whether a field, option or query parameter named ``name`` holds a secret."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))  # apiKey -> api_Key
    words = set(re.split(r"[^a-z0-9]+", spaced.lower()))
    glued = re.sub(r"[^a-z0-9]", "", spaced.lower())
    return bool(words & _SECRET_WORDS) or any(part in glued for part in _SECRET_GLUED)


def looks_secret(text: str) -> bool:
    """Whether ``text`` holds something that looks like a key or a long random token."""
    text = str(text)
    return bool(KNOWN_KEY.search(text)) or any(_random_token(m.group()) for m in _RUN.finditer(text))


def mask_secrets(text: str) -> str:
    """``text`` with every key-looking part (:func:`looks_secret`) replaced by ``***``."""
    text = KNOWN_KEY.sub(MASK, str(text))
    return _RUN.sub(lambda m: MASK if _random_token(m.group()) else m.group(), text)


def shown(value, *names: str, limit: int = ECHO_LIMIT) -> str:
    """``value`` as an error message may show it: withheld when any of ``names`` (the field and the fields
    around it) is key-like, key-looking parts masked, at most ``limit`` characters."""
    if any(isinstance(name, str) and is_secret_name(name) for name in names):
        return "<withheld: the field holds a secret>"
    return clip(repr(value), limit)


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """A message part that may quote input (a parser's or a validator's): key-looking parts masked, at most
    ``limit`` characters."""
    text = mask_secrets(text) if looks_secret(text) else text
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters in all)"


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if sep and value and (is_secret_name(unquote_plus(name)) or KNOWN_KEY.search(unquote_plus(value))):
            part = f"{name}={MASK}"
        elif not sep and KNOWN_KEY.search(unquote_plus(name)):
            part = MASK
        parts.append(part)
    return "&".join(parts)


def redact_url(url: str | None) -> str | None:
    """``url`` as it may be logged, hashed and stored (see the module docstring)."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
    query = _redact_query(parts.query) if parts.query else parts.query
    path, fragment = KNOWN_KEY.sub(MASK, parts.path), KNOWN_KEY.sub(MASK, parts.fragment)
    if (netloc, query, path, fragment) == (parts.netloc, parts.query, parts.path, parts.fragment):
        return url  # nothing secret: exactly as given
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def url_secrets(url: str | None) -> list[str]:
    """The parts of ``url`` that :func:`redact_url` hides (to scrub them from a server's error message)."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [p for p in (parts.username, parts.password) if p]
    for part in parts.query.split("&") if parts.query else []:
        name, sep, value = part.partition("=")
        if sep and value and (is_secret_name(unquote_plus(name)) or KNOWN_KEY.search(unquote_plus(value))):
            found += [value, unquote_plus(value)]
    found += KNOWN_KEY.findall(url)
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _redacted_argument(key: str, value):
    if is_secret_name(key):
        return MASK
    if isinstance(value, str) and "://" in value:
        value = redact_url(value)
    return KNOWN_KEY.sub(MASK, value) if isinstance(value, str) else value


def redact_config(config: dict | None) -> dict:
    """A copy of a harness run's ``config`` with its ``model_args`` redacted (harnesses write them as given)."""
    config = dict(config or {})
    args = config.get("model_args")
    if isinstance(args, str):
        parts = [part.partition("=") for part in args.split(",")]
        config["model_args"] = ",".join(f"{k}={_redacted_argument(k, v)}" if sep else k for k, sep, v in parts)
    elif isinstance(args, dict):
        config["model_args"] = {k: _redacted_argument(k, v) for k, v in args.items()}
    return config


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def key_env_problem(value: str) -> str | None:
    """Why ``value`` is not the name of an environment variable holding a key (None when it is one)."""
    if looks_secret(value) or len(value) > 64:
        return ("this looks like the key itself: put the key in an environment variable and give the variable's "
                "NAME here (e.g. OPENAI_API_KEY)")
    if not _ENV_NAME.fullmatch(value):
        return "not an environment variable's name (letters, digits and '_', not starting with a digit)"
    return None
