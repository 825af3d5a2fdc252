"""A SQLite file for caches that threads and processes share: every write is committed at once (autocommit), the
journal is WAL and writers wait for each other (busy timeout), so a killed run loses no finished write."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


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
