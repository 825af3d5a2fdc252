"""Persistent cache of juror calls (SQLite), so that re-runs and resumed runs never pay twice.

Key: the juror's fingerprint (name, backend, model, endpoint, persona, decoding settings) and the
exact prompt messages; together these are the parts of the jury identity that decide this call's
reply. Every finished call is committed at once, so a killed run loses no finished call. Only what a
juror said is stored: a verdict, or a reply that held none (an abstention, replayed on a re-run instead of
paying again; set ``SAFEBENCH_RETRY_ABSTAINED=1`` to retry those). A call that failed for transport reasons,
was refused or crashed is never stored, so a re-run asks again. Nothing secret is stored: keys never enter
prompts.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ..sqlitestore import SQLiteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS juror_calls (
    key TEXT PRIMARY KEY,
    juror TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,          -- 'ok' or 'abstained'
    verdict TEXT,                  -- JSON verdict when ok
    reply TEXT,                    -- the juror's raw last reply
    error TEXT,                    -- why it abstained
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""


# Abstentions written by versions that also cached outages: they are not verdicts, so they are misses.
_NOT_VERDICTS = ("TransientError", "PermanentError", "internal error")


def call_key(fingerprint: dict, messages: list[dict]) -> str:
    blob = json.dumps({"juror": fingerprint, "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def retry_abstained() -> bool:
    from ..settings import current

    return current().retry_abstained


class JudgeCache(SQLiteStore):
    """Thread-safe; several processes may share one file."""

    def __init__(self, path: str | Path):
        super().__init__(path, _SCHEMA)
        self._skip_abstained = retry_abstained()

    def get(self, key: str) -> dict | None:
        row = self.one("SELECT status, verdict, reply, error, prompt_tokens, completion_tokens FROM juror_calls "
                       "WHERE key=?", (key,))
        if row is None:
            return None
        status, verdict, reply, error, prompt_tokens, completion_tokens = row
        if status != "ok" and (self._skip_abstained or str(error or "").startswith(_NOT_VERDICTS)):
            return None
        return {"status": status, "verdict": json.loads(verdict) if verdict else None, "reply": reply,
                "error": error, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}

    def put(self, key: str, juror: str, model: str, record: dict) -> None:
        values = (key, juror, model, record["status"],
                  json.dumps(record["verdict"]) if record.get("verdict") is not None else None,
                  record.get("reply"), record.get("error"), int(record.get("prompt_tokens", 0)),
                  int(record.get("completion_tokens", 0)), time.time())
        self.write("INSERT OR REPLACE INTO juror_calls VALUES (?,?,?,?,?,?,?,?,?,?)", values)

    def count(self) -> int:
        return self.one("SELECT COUNT(*) FROM juror_calls")[0]
