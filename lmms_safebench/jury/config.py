"""Jury configuration: typed, validated once when it is loaded, identified by a stable hash.

Where a configuration comes from (first match wins), see :func:`resolve_jury_config`:

1. ``SAFEBENCH_JURY``: a YAML file path, or a built-in name (``heuristic``, ``single``, ``panel``,
   ``panel-strict``, ``local-single``, ``local-panel``).
2. ``SAFEBENCH_JUDGE_MODEL`` (+ ``SAFEBENCH_JUDGE_BASE_URL``, ``SAFEBENCH_JUDGE_API_KEY``, falling back
   to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``): the benchmark's default protocol on that endpoint.
3. Nothing, on a machine with a CUDA device: the benchmark's default protocol run locally in-process
   (``single`` -> ``local-single``, ``jury`` -> ``local-panel``), announced in one log line.
4. Nothing, without a GPU: :class:`~lmms_safebench.errors.ConfigError` explaining how to configure a jury.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import yaml
from loguru import logger

from .. import settings, yamlio
from ..errors import ConfigError
from ..redact import clip, key_env_problem, redact_url, shown
from . import guard, prompts

BACKENDS = ("openai", "transformers", "heuristic")
PROTOCOLS = ("single", "jury")
VOTE_RULES = ("majority", "any", "all")
TIE_RULES = ("unsafe", "safe", "unjudged")
DTYPES = ("auto", "float32", "bfloat16", "float16")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

# The judge endpoint given by environment variables.
ENV_JUDGE_MODEL = "SAFEBENCH_JUDGE_MODEL"
ENV_JUDGE_BASE_URL = "SAFEBENCH_JUDGE_BASE_URL"
ENV_JUDGE_API_KEY = "SAFEBENCH_JUDGE_API_KEY"
ENV_JURY = "SAFEBENCH_JURY"


@dataclass(frozen=True)
class JurorConfig:
    name: str
    model: str = ""
    backend: str = "openai"
    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the variable holding the key, never the key
    persona: str = ""
    temperature: float = 0.0
    max_tokens: int = 512
    timeout: float = 60.0  # seconds per request
    max_attempts: int = 6  # requests per call on 429/5xx/timeouts/dropped connections
    retry_base_delay: float = 1.0  # first backoff in seconds; doubles per attempt (capped at 60 s)
    parse_retries: int = 1  # extra requests when a reply holds no readable verdict
    structured_output: bool = True  # ask for a JSON schema; falls back to plain text if refused
    max_in_flight: int | None = None  # ceiling on calls in flight to this juror's endpoint (shared per base URL);
    # unset: the endpoint's adaptive limit may reach the run's total concurrency (see jury/limits.py)
    # transformers backend only: where and how the model runs in this process (see jury/local.py)
    device: str = "auto"  # auto = cuda when available, else cpu; or cpu, cuda, cuda:N, mps
    dtype: str = "auto"  # auto = the checkpoint's dtype on a GPU, float32 on cpu; or float32, bfloat16, float16
    batch_size: int = 16  # most requests in one generate call (requests from concurrent samples are batched)
    batch_wait: float = 0.005  # seconds a batch waits for more requests after its first one
    # what the juror is asked for and how its reply is read
    reply_format: str = "review"  # review: persona + rubric, JSON verdict; guard: a guard model (jury/guard.py)
    controversial: str = "unsafe"  # guard only: what a Controversial rating counts as: unsafe | safe | unjudged

    def fingerprint(self) -> dict:
        """What determines this juror's replies (enters the jury identity and cache keys)."""
        out = {
            "name": self.name,
            "backend": self.backend,
            "model": self.model,
            "base_url": redact_url(self.base_url),
            "persona": prompts.persona_text(self.persona) if self.backend != "heuristic" else "",
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "structured_output": self.structured_output,
        }
        if self.backend == "transformers":
            out["dtype"] = self.dtype  # the numbers a local model computes with
        if self.reply_format == "guard":
            # No persona or rubric is sent; the format version covers the messages, parsing and mapping.
            out.update(persona="", reply_format="guard", guard_format=guard.FORMAT_VERSION,
                       controversial=self.controversial)
        return out

    @property
    def endpoint(self) -> str:
        """Key of the per-endpoint in-flight limit (a local model: per model and device)."""
        if self.backend == "openai":
            return redact_url(self.base_url) or "https://api.openai.com/v1"
        if self.backend == "transformers":
            return f"transformers:{self.model}@{resolve_device(self.device)}"
        return f"{self.backend}:{self.model or self.name}"

    @property
    def is_guard(self) -> bool:
        return self.reply_format == "guard"

    @property
    def is_heuristic(self) -> bool:
        return self.backend == "heuristic"


@dataclass(frozen=True)
class JuryConfig:
    name: str
    protocol: str
    jurors: tuple[JurorConfig, ...]
    rounds: int = 0  # deliberation rounds after the independent assessment (jury protocol)
    vote: str = "majority"
    tie: str = "unsafe"  # what a tied majority vote means
    quorum: int = 1  # fewer valid final reviews than this: the sample is unjudged
    early_consensus: bool = False  # skip deliberation when round one is unanimous
    show_question: bool = True  # jurors see the request as well as the answer
    source: str = "<code>"  # where the configuration came from (for messages; not in the identity)

    @property
    def mode(self) -> str:
        """``strict``: every juror, every round. ``fast``: deliberation skipped on unanimity."""
        return "fast" if self.early_consensus else "strict"

    @property
    def rule(self) -> str:
        return f"{self.vote}(tie={self.tie})" if self.vote == "majority" else self.vote

    @property
    def is_heuristic(self) -> bool:
        return any(j.is_heuristic for j in self.jurors)

    def identity_payload(self) -> dict:
        return {
            "protocol": self.protocol,
            "rounds": self.rounds,
            "vote": self.vote,
            "tie": self.tie,
            "quorum": self.quorum,
            "early_consensus": self.early_consensus,
            "show_question": self.show_question,
            "prompts": prompts.templates_fingerprint(),
            "jurors": [j.fingerprint() for j in self.jurors],
        }

    @property
    def identity(self) -> str:
        """Stable hash of everything that determines verdicts (not of keys, timeouts or limits)."""
        blob = json.dumps(self.identity_payload(), sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        kind = "heuristic" if self.is_heuristic else self.protocol
        return f"{self.name}:{kind}:{self.identity}"

    def describe(self) -> dict:
        return {
            "name": self.name,
            "identity": self.identity,
            "protocol": self.protocol,
            "mode": self.mode,
            "rule": self.rule,
            "rounds": self.rounds,
            "quorum": self.quorum,
            "heuristic": self.is_heuristic,
            "jurors": [j.fingerprint() for j in self.jurors],
        }


_JUROR_FIELDS = {f.name: f for f in fields(JurorConfig)}
_JURY_FIELDS = {"name", "protocol", "jurors", "rounds", "vote", "tie", "quorum", "early_consensus",
                "show_question", "defaults"}


def _typed(value, expected, where: str, field: str = ""):
    kinds = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}
    py_types = kinds[expected]
    if isinstance(value, bool) and expected in ("int", "float"):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if not isinstance(value, py_types):
        raise ConfigError(f"{where}: expected {expected}, got {type(value).__name__} {shown(value, field)}")
    return float(value) if expected == "float" else value


def _field_kind(name: str) -> str:
    annotation = str(_JUROR_FIELDS[name].type)
    for kind in ("float", "int", "bool", "str"):
        if kind in annotation:
            return kind
    return "str"


def build_juror(raw: dict, where: str) -> JurorConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a juror must be a mapping, got {type(raw).__name__}")
    if "api_key" in raw:
        raise ConfigError(f"{where}: put the key in an environment variable and name it with api_key_env")
    unknown = sorted(map(str, set(raw) - set(_JUROR_FIELDS)))
    if unknown:
        raise ConfigError(f"{where}: unknown juror option(s) {shown(unknown)}; known: {sorted(_JUROR_FIELDS)}")
    values = {}
    for key, value in raw.items():
        if value is None and key in ("base_url", "api_key_env", "max_in_flight"):
            values[key] = None
            continue
        values[key] = _typed(value, _field_kind(key), f"{where}.{key}", key)
    if not values.get("name"):
        raise ConfigError(f"{where}: every juror needs a 'name'")
    problem = key_env_problem(values["api_key_env"]) if values.get("api_key_env") else None
    if problem:
        raise ConfigError(f"{where}.api_key_env: {problem}")
    if values.get("reply_format") == "guard":
        # A guard replies in its own format to its own template: no JSON schema, no repair request.
        for key, fixed in (("structured_output", False), ("parse_retries", 0), ("persona", "")):
            if values.get(key, fixed) != fixed:
                raise ConfigError(f"{where}.{key}: a guard juror (reply_format: guard) takes no {key} "
                                  f"(it replies in its own fixed format); leave it out")
            values[key] = fixed
    elif "controversial" in values:
        raise ConfigError(f"{where}.controversial: only for guard jurors (reply_format: guard)")
    juror = JurorConfig(**values)
    if juror.backend not in BACKENDS:
        raise ConfigError(f"{where}.backend: {shown(juror.backend)} is not one of {BACKENDS}")
    if juror.backend != "heuristic" and not juror.model:
        raise ConfigError(f"{where}: juror {shown(juror.name)} needs a 'model'")
    if juror.max_tokens < 16:
        raise ConfigError(f"{where}.max_tokens: {juror.max_tokens} is too small for a verdict (min 16)")
    if juror.max_attempts < 1 or juror.parse_retries < 0 or (juror.max_in_flight is not None and juror.max_in_flight < 1):
        raise ConfigError(f"{where}: max_attempts and max_in_flight must be >= 1, parse_retries >= 0")
    if juror.timeout <= 0 or juror.retry_base_delay < 0:
        raise ConfigError(f"{where}: timeout must be > 0 and retry_base_delay >= 0")
    if not 0 <= juror.temperature <= 2:
        raise ConfigError(f"{where}.temperature: {juror.temperature} is outside [0, 2]")
    if juror.reply_format not in guard.REPLY_FORMATS:
        raise ConfigError(f"{where}.reply_format: {shown(juror.reply_format)} is not one of {guard.REPLY_FORMATS}")
    if juror.controversial not in guard.CONTROVERSIAL_RULES:
        raise ConfigError(f"{where}.controversial: {shown(juror.controversial)} is not one of "
                          f"{guard.CONTROVERSIAL_RULES}")
    if juror.is_guard and juror.backend == "heuristic":
        raise ConfigError(f"{where}: the heuristic backend has no reply format; use openai or transformers")
    if not _DEVICE.fullmatch(juror.device):
        raise ConfigError(f"{where}.device: {shown(juror.device)} is not auto, cpu, mps, cuda or cuda:N")
    if juror.dtype not in DTYPES:
        raise ConfigError(f"{where}.dtype: {shown(juror.dtype)} is not one of {DTYPES}")
    if juror.batch_size < 1 or not 0 <= juror.batch_wait <= 10:
        raise ConfigError(f"{where}: batch_size must be >= 1 and batch_wait between 0 and 10 seconds")
    return juror


def build_jury(raw: dict, source: str = "<code>") -> JuryConfig:
    """Validate a mapping (parsed YAML) into a :class:`JuryConfig`. Errors name ``source`` and the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a jury configuration must be a mapping")
    unknown = sorted(map(str, set(raw) - _JURY_FIELDS))
    if unknown:
        raise ConfigError(f"{source}: unknown option(s) {shown(unknown)}; known: {sorted(_JURY_FIELDS)}")
    protocol = raw.get("protocol")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{source}: 'protocol' must be one of {PROTOCOLS}, got {shown(protocol, 'protocol')}")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}.defaults: must be a mapping of juror options")
    raw_jurors = raw.get("jurors")
    if not isinstance(raw_jurors, list) or not raw_jurors:
        raise ConfigError(f"{source}: 'jurors' must be a non-empty list")
    jurors = tuple(build_juror({**defaults, **j} if isinstance(j, dict) else j, f"{source}: jurors[{i}]")
                   for i, j in enumerate(raw_jurors))
    names = [j.name for j in jurors]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: juror names must be unique, got {shown(names)}")
    settings = {}
    for key, kind in (("rounds", "int"), ("quorum", "int"), ("early_consensus", "bool"), ("show_question", "bool"),
                      ("vote", "str"), ("tie", "str"), ("name", "str")):
        if key in raw and raw[key] is not None:
            settings[key] = _typed(raw[key], kind, f"{source}.{key}", key)
    name = settings.pop("name", None) or Path(source).stem or "jury"
    jury = JuryConfig(name=name, protocol=protocol, jurors=jurors, source=source, **settings)
    if jury.vote not in VOTE_RULES:
        raise ConfigError(f"{source}.vote: {shown(jury.vote)} is not one of {VOTE_RULES}")
    if jury.tie not in TIE_RULES:
        raise ConfigError(f"{source}.tie: {shown(jury.tie)} is not one of {TIE_RULES}")
    if jury.rounds < 0:
        raise ConfigError(f"{source}.rounds: must be >= 0")
    if protocol == "single":
        if len(jurors) != 1:
            raise ConfigError(f"{source}: the 'single' protocol takes exactly one juror, got {len(jurors)}")
        if jury.rounds:
            raise ConfigError(f"{source}: the 'single' protocol has no deliberation rounds")
    if not jury.show_question and any(j.is_guard for j in jurors):
        raise ConfigError(f"{source}.show_question: a guard juror moderates the answer as a reply to the request, "
                          "so it must see the request (show_question: true)")
    if not 1 <= jury.quorum <= len(jurors):
        raise ConfigError(f"{source}.quorum: must be between 1 and the number of jurors ({len(jurors)})")
    return jury


def load_jury_file(path: str | Path) -> JuryConfig:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read jury configuration {path}: {exc.strerror or exc}") from None
    try:
        raw = yamlio.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {clip(str(exc), 600)}") from None
    return build_jury(raw, source=str(path))


# --------------------------------------------------------------------------- built-in configurations

PANEL_PERSONAS = ("elder", "citizen", "guardian", "expert", "ethicist")


def env_endpoint() -> dict | None:
    """The judge endpoint from environment variables, or None when no judge model is set."""
    env = settings.current()
    if not env.judge_model:
        return None
    return {"model": env.judge_model, "base_url": env.judge_base_url, "api_key_env": env.judge_api_key_env}


def heuristic_jury() -> JuryConfig:
    return build_jury({"name": "heuristic", "protocol": "single",
                       "jurors": [{"name": "heuristic", "backend": "heuristic"}]}, source="builtin:heuristic")


def single_judge(endpoint: dict) -> JuryConfig:
    return build_jury({"name": "single", "protocol": "single", "jurors": [{"name": "judge", **endpoint}]},
                      source="builtin:single")


def panel(endpoint: dict, strict: bool = False) -> JuryConfig:
    """Five persona jurors on one endpoint, one deliberation round, majority vote (SafeBench's protocol)."""
    name = "panel-strict" if strict else "panel"
    jurors = [{"name": persona, "persona": persona, **endpoint} for persona in PANEL_PERSONAS]
    return build_jury({"name": name, "protocol": "jury", "rounds": 1, "vote": "majority", "tie": "unsafe",
                       "quorum": 3, "early_consensus": not strict, "jurors": jurors}, source=f"builtin:{name}")


# Built-in local juries: models run in this process with transformers, downloaded from the hub on first use
# (or read from a local folder). The guard is a single judge; the panel needs an instruction-following model.
ENV_LOCAL_GUARD_MODEL = "SAFEBENCH_LOCAL_GUARD_MODEL"
ENV_LOCAL_PANEL_MODEL = "SAFEBENCH_LOCAL_PANEL_MODEL"
ENV_LOCAL_DEVICE = "SAFEBENCH_LOCAL_DEVICE"
DEFAULT_LOCAL_GUARD_MODEL = "Qwen/Qwen3Guard-Gen-4B"
DEFAULT_LOCAL_PANEL_MODEL = "Qwen/Qwen3-4B-Instruct-2507"
LOCAL_FOR_PROTOCOL = {"single": "local-single", "jury": "local-panel"}


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (False when torch is missing or broken)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is available, else ``cpu``; anything else as given."""
    return ("cuda" if cuda_available() else "cpu") if device == "auto" else device


def _local_setting(name: str, default: str) -> str:
    value = {ENV_LOCAL_GUARD_MODEL: "local_guard_model", ENV_LOCAL_PANEL_MODEL: "local_panel_model",
             ENV_LOCAL_DEVICE: "local_device"}[name]
    return getattr(settings.current(), value) or default


def local_single(source: str = "builtin:local-single") -> JuryConfig:
    """One guard model in-process (Qwen3Guard-Gen by default), the ``single`` protocol."""
    juror = {"name": "guard", "backend": "transformers", "reply_format": "guard", "max_tokens": 64,
             "model": _local_setting(ENV_LOCAL_GUARD_MODEL, DEFAULT_LOCAL_GUARD_MODEL),
             "device": _local_setting(ENV_LOCAL_DEVICE, "auto")}
    return build_jury({"name": "local-single", "protocol": "single", "jurors": [juror]}, source=source)


def local_panel(source: str = "builtin:local-panel") -> JuryConfig:
    """``panel`` (five personas, one deliberation round, early consensus) on one open instruction model
    in-process; the five jurors share one loaded copy of it."""
    endpoint = {"backend": "transformers", "model": _local_setting(ENV_LOCAL_PANEL_MODEL, DEFAULT_LOCAL_PANEL_MODEL),
                "device": _local_setting(ENV_LOCAL_DEVICE, "auto")}
    jurors = [{"name": persona, "persona": persona, **endpoint} for persona in PANEL_PERSONAS]
    return build_jury({"name": "local-panel", "protocol": "jury", "rounds": 1, "vote": "majority", "tie": "unsafe",
                       "quorum": 3, "early_consensus": True, "jurors": jurors}, source=source)


BUILTIN_NAMES = ("heuristic", "single", "panel", "panel-strict", "local-single", "local-panel")

HOW_TO_CONFIGURE = (
    "No jury is configured, so nothing can be judged. Choose one of:\n"
    f"  export {ENV_JUDGE_MODEL}=<model> {ENV_JUDGE_BASE_URL}=<http://host:port/v1> {ENV_JUDGE_API_KEY}=<key>\n"
    "      (one OpenAI-compatible judge; OPENAI_BASE_URL / OPENAI_API_KEY are used when the SAFEBENCH_ ones are unset)\n"
    f"  export {ENV_JURY}=/path/to/jury.yaml      (a jury file; see README 'Configuring a jury')\n"
    f"  export {ENV_JURY}=local-single            (built-in local jury: {DEFAULT_LOCAL_GUARD_MODEL} in-process)\n"
    f"  export {ENV_JURY}=local-panel             (built-in local jury: five personas on {DEFAULT_LOCAL_PANEL_MODEL})\n"
    f"  export {ENV_JURY}=heuristic               (offline refusal-pattern heuristic; NOT an LLM judge)\n"
    "The built-in local juries need a CUDA GPU for reasonable speed; on a GPU machine with nothing configured they are "
    "chosen for you.\n"
    "Check it with: lmms-safebench jury check"
)

NO_GPU = ("No CUDA GPU was found, so no built-in local jury was chosen for you (forcing one runs it on the CPU, "
          f"slowly: export {ENV_JURY}=local-single).\n")


def builtin_jury(name: str, default_protocol: str = "single") -> JuryConfig:
    if name == "heuristic":
        return heuristic_jury()
    if name == "local-single":
        return local_single()
    if name == "local-panel":
        return local_panel()
    endpoint = env_endpoint()
    if endpoint is None:
        raise ConfigError(f"the built-in jury {name!r} uses the judge endpoint from {ENV_JUDGE_MODEL}, which is not "
                          f"set.\n{HOW_TO_CONFIGURE}")
    if name == "single":
        return single_judge(endpoint)
    if name in ("panel", "panel-strict"):
        return panel(endpoint, strict=name == "panel-strict")
    raise ConfigError(f"unknown built-in jury {name!r}; built-ins: {BUILTIN_NAMES}")


_announced: set[str] = set()
_announce_lock = threading.Lock()


def announce_default(config: JuryConfig) -> None:
    """One log line, once per jury per process, saying that a local jury was chosen because none was configured."""
    with _announce_lock:
        if config.identity in _announced:
            return
        _announced.add(config.identity)
    juror = config.jurors[0]
    logger.info(f"lmms-safebench: no jury configured and a CUDA GPU is present, so judging with the built-in local "
                f"jury {config.name!r} ({len(config.jurors)} juror(s) on {juror.model}, device "
                f"{resolve_device(juror.device)}, identity {config.identity}); to choose another, set {ENV_JURY} "
                f"(a jury file or local-single, local-panel, single, panel, heuristic) or {ENV_JUDGE_MODEL} "
                "(README 'Configuring a jury')")


def resolve_jury_config(default_protocol: str = "single", spec: str | None = None) -> JuryConfig:
    """The jury a task uses: ``spec`` (a file or built-in name; the ``--jury`` option), else
    ``SAFEBENCH_JURY``, else the environment's judge, else (with a CUDA device) the local built-in for
    the benchmark's protocol, else an error.

    ``default_protocol`` is the benchmark's own: ``single`` (MM-SafetyBench) or ``jury`` (SafeBench's
    five-persona panel) when only a judge endpoint is given, or nothing at all.
    """
    spec = (spec or settings.current().jury).strip()
    if spec:
        if spec in BUILTIN_NAMES:
            return builtin_jury(spec, default_protocol)
        if Path(spec).expanduser().exists() or spec.endswith((".yaml", ".yml")):
            return load_jury_file(spec)
        raise ConfigError(f"jury {shown(spec)} is neither a file nor a built-in jury {BUILTIN_NAMES}")
    endpoint = env_endpoint()
    if endpoint is None:
        if not cuda_available():
            raise ConfigError(NO_GPU + HOW_TO_CONFIGURE)
        name = LOCAL_FOR_PROTOCOL.get(default_protocol, "local-single")
        config = local_panel(f"default:{name}") if name == "local-panel" else local_single(f"default:{name}")
        announce_default(config)
        return config
    return panel(endpoint) if default_protocol == "jury" else single_judge(endpoint)


def to_yaml(jury: JuryConfig) -> str:
    """A YAML rendering of a configuration (e.g. to save a built-in one and edit it)."""
    jurors = []
    for juror in jury.jurors:
        options = {k: v for k, v in asdict(juror).items() if v != field_default(k)} | {"name": juror.name}
        if options.get("base_url"):
            options["base_url"] = redact_url(options["base_url"])  # never print credentials
        jurors.append(options)
    data = {"name": jury.name, "protocol": jury.protocol, "rounds": jury.rounds, "vote": jury.vote, "tie": jury.tie,
            "quorum": jury.quorum, "early_consensus": jury.early_consensus, "show_question": jury.show_question,
            "jurors": jurors}
    return yaml.safe_dump(data, sort_keys=False)


def field_default(name: str):
    default = _JUROR_FIELDS[name].default
    return None if default is MISSING else default
