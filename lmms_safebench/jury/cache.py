"""The jury's call cache (SQLite): re-runs and resumed runs never pay twice for a juror call.

It is the transport's :class:`~lmms_safebench.llm.cache.CallCache` on the jury's own table (``juror_calls``, in
the judge cache file), with the jury's key and what it may replay. Key: :func:`call_key` of the juror's
fingerprint (name, backend, model, endpoint, persona, decoding settings) and the exact prompt messages; together
these are the parts of the jury identity that decide this call's reply. Every finished call is committed at once,
so a killed run loses no finished call. Only what a juror said is stored: a verdict, or a reply that held none
(an abstention, replayed on a re-run instead of paying again; set ``SAFEBENCH_RETRY_ABSTAINED=1`` to retry those).
A call that failed for transport reasons, was refused or crashed is never stored, so a re-run asks again.
Nothing secret is stored: keys never enter prompts.
"""

from __future__ import annotations

from pathlib import Path

from ..llm import cache as calls
from ..settings import current

JUROR_CALLS = calls.Table("juror_calls", "juror", (
    ("status", "TEXT NOT NULL"),  # 'ok' or 'abstained'
    ("verdict", "TEXT"),  # JSON verdict when ok
    ("reply", "TEXT"),  # the juror's raw last reply
    ("error", "TEXT"),  # why it abstained
    ("prompt_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("completion_tokens", "INTEGER NOT NULL DEFAULT 0"),
), frozenset({"verdict"}))

# Abstentions written by versions that also cached outages: they are not verdicts, so they are misses.
_NOT_VERDICTS = ("TransientError", "PermanentError", "internal error")


def call_key(fingerprint: dict, messages: list[dict]) -> str:
    """The key of a juror call (the payload every version of the jury has hashed)."""
    return calls.call_key({"juror": fingerprint, "messages": messages})


class JudgeCache(calls.CallCache):
    """Thread-safe; several processes may share one file."""

    def __init__(self, path: str | Path):
        super().__init__(path, JUROR_CALLS)
        self._skip_abstained = current().retry_abstained

    def get(self, key: str) -> dict | None:
        record = super().get(key)
        if record is None:
            return None
        if record["status"] != "ok" and (self._skip_abstained or str(record["error"] or "").startswith(_NOT_VERDICTS)):
            return None
        return record

    def put(self, key: str, juror: str, model: str, record: dict) -> None:
        super().put(key, juror, model, {**record, "prompt_tokens": int(record.get("prompt_tokens", 0)),
                                        "completion_tokens": int(record.get("completion_tokens", 0))})
