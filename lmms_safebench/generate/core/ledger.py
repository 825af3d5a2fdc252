"""What a generation run has spent: the accounts of each stage.

:class:`Ledger` keeps, per stage, the calls made, cache hits, tokens, cost, refusals, failures, items done
and wall time; it is written to ``work/ledger.json`` as the run goes and copied into the data card. The calls
themselves are cached by the transport's :class:`~lmms_safebench.llm.cache.CallCache` (``work/calls.sqlite``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .output import atomic_write


@dataclass
class StageAccount:
    calls: int = 0  # requests that produced a result (each retry of a failed one counted under requests)
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    refusals: int = 0  # replies that refused (each later phrasing tried counts again)
    unreadable: int = 0  # replies that could not be parsed, after the repair request
    failures: int = 0  # calls that failed for transport reasons after their retries
    items_done: int = 0
    items_failed: int = 0
    seconds: float = 0.0
    models: list[str] = field(default_factory=list)


class Ledger:
    """Per-stage accounts, saved to ``path`` (JSON) whenever :meth:`save` is called."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.stages: dict[str, StageAccount] = {}
        if self.path.exists():
            try:
                for name, values in json.loads(self.path.read_text(encoding="utf-8")).items():
                    self.stages[name] = StageAccount(**values)
            except (OSError, ValueError, TypeError):
                self.stages = {}

    def add(self, stage: str, model: str | None = None, **amounts) -> None:
        with self._lock:
            account = self.stages.setdefault(stage, StageAccount())
            for name, amount in amounts.items():
                setattr(account, name, getattr(account, name) + amount)
            if model and model not in account.models:
                account.models.append(model)

    def to_dict(self) -> dict:
        with self._lock:
            return {name: asdict(account) for name, account in self.stages.items()}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(self.to_dict(), indent=2))

    def totals(self) -> dict:
        data = self.to_dict()
        keys = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost_usd", "refusals", "seconds")
        return {key: sum(stage[key] for stage in data.values()) for key in keys}
