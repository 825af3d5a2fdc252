"""The call cache: every finished model call, stored in SQLite under one key function, so that a rerun or a
resumed run never pays for it twice.

- :func:`call_key`: the SHA-256 of the canonical JSON (sorted keys, UTF-8) of what decides a call's reply. The
  caller says what that is: a juror its fingerprint and the prompt messages (:mod:`lmms_safebench.jury.cache`), a
  generator model its settings, the messages, the schema and a salt (:class:`~lmms_safebench.generate.core.llm.TextLLM`).
  Each caller keeps the payload it has always hashed, so caches written by earlier versions stay valid.
- :class:`CallCache`: one table of finished calls, keyed by :func:`call_key`; each row also names who made the
  call (a juror, a stage) and the model, and holds the call's record (columns of :class:`Table`, JSON where a
  column is a structure). The generators use the default table (``calls``: the record as one JSON ``result``);
  the jury has its own (``juror_calls``) in its own file.
- :class:`SQLiteStore`: the file itself, shared by threads and processes: every write is committed at once
  (autocommit), the journal is WAL and writers wait for each other (busy timeout), so a killed run loses no
  finished call.

Only what a model said is stored: a call that failed for transport reasons is not a result and its caller does
not store it. Nothing secret is stored: keys never enter prompts or fingerprints (URLs are redacted).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def call_key(payload) -> str:
    """The cache key of a call: the hash of what decides its reply (see the module docstring)."""
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class SQLiteStore:
    def __init__(self, path: str | Path, schema: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(schema)

    def one(self, sql: str, params: tuple = ()):
        """The first row of a query (None when there is none)."""
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def write(self, sql: str, params: tuple = ()) -> None:
        with self._lock:
            self._conn.execute(sql, params)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@dataclass(frozen=True)
class Table:
    """The layout of a cache table: ``key``, who made the call, ``model``, the record's columns, ``created``."""

    name: str
    who: str  # the column naming who made the call: a juror, a stage
    columns: tuple[tuple[str, str], ...]  # (name, SQL type) of each record column, in order
    json_columns: frozenset[str] = frozenset()  # record columns holding a structure, stored as JSON text

    def schema(self) -> str:
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return (f"CREATE TABLE IF NOT EXISTS {self.name} (key TEXT PRIMARY KEY, {self.who} TEXT NOT NULL, "
                f"model TEXT NOT NULL, {columns}, created REAL NOT NULL)")


# The generators' calls: the record (reply text, tokens, status) as one JSON value.
CALLS = Table("calls", "stage", (("result", "TEXT NOT NULL"),), frozenset({"result"}))


class CallCache(SQLiteStore):
    """Finished calls in one :class:`Table` of a SQLite file. Thread-safe; several processes may share the file."""

    def __init__(self, path: str | Path, table: Table = CALLS):
        super().__init__(path, table.schema())
        self.table = table
        names = [name for name, _ in table.columns]
        self._select = f"SELECT {', '.join(names)} FROM {table.name} WHERE key=?"
        self._insert = f"INSERT OR REPLACE INTO {table.name} VALUES ({', '.join('?' * (len(names) + 4))})"
        self._names = names

    def get(self, key: str) -> dict | None:
        """The record of the call ``key`` (its columns by name), or None."""
        row = self.one(self._select, (key,))
        if row is None:
            return None
        return {name: json.loads(value) if name in self.table.json_columns and value is not None else value
                for name, value in zip(self._names, row, strict=True)}

    def put(self, key: str, who: str, model: str, record: dict) -> None:
        values = [json.dumps(record[name], ensure_ascii=False) if name in self.table.json_columns
                  and record.get(name) is not None else record.get(name) for name in self._names]
        self.write(self._insert, (key, who, model, *values, time.time()))

    def count(self) -> int:
        return self.one(f"SELECT COUNT(*) FROM {self.table.name}")[0]
