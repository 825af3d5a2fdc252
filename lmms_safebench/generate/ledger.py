"""What a generation run has done and spent: a cache of finished calls, and the accounts of each stage.

:class:`CallCache` stores every finished model call (an LLM reply, a refusal, an unreadable reply) in SQLite
in the benchmark's work folder, committed at once: a killed run loses none, and a rerun makes none of them
again. A call that failed for transport reasons is not a result and is never stored.

:class:`Ledger` keeps, per stage, the calls made, cache hits, tokens, cost, refusals, failures, items done
and wall time; it is written to ``work/ledger.json`` as the run goes and copied into the data card.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..sqlitestore import SQLiteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    model TEXT NOT NULL,
    result TEXT NOT NULL,   -- JSON: what the call produced (reply text, tokens, status)
    created REAL NOT NULL
)
"""


def call_key(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class CallCache(SQLiteStore):
    """Thread-safe; several processes may share the file."""

    def __init__(self, path: str | Path):
        super().__init__(path, _SCHEMA)

    def get(self, key: str) -> dict | None:
        row = self.one("SELECT result FROM calls WHERE key=?", (key,))
        return json.loads(row[0]) if row else None

    def put(self, key: str, stage: str, model: str, result: dict) -> None:
        self.write("INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?)",
                   (key, stage, model, json.dumps(result, ensure_ascii=False), time.time()))

    def count(self) -> int:
        return self.one("SELECT COUNT(*) FROM calls")[0]


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
        from .output import atomic_write

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(self.to_dict(), indent=2))

    def totals(self) -> dict:
        data = self.to_dict()
        keys = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost_usd", "refusals", "seconds")
        return {key: sum(stage[key] for stage in data.values()) for key in keys}
