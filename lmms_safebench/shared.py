"""One object per key per process, made on first use: the models that jurors, critics and media backends share.

Loading a model is expensive and a GPU holds few copies, so every caller asking for the same (model, device,
dtype) gets the same object; it loads itself lazily. Thread-safe.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Shared(Generic[T]):
    def __init__(self, make: Callable[..., T] | None = None, close: Callable[[T], None] | None = None):
        self._make, self._close = make, close
        self._lock = threading.Lock()
        self._items: dict[tuple, T] = {}

    def get(self, *key) -> T:
        """The object of ``key`` (made by ``make(*key)`` the first time)."""
        return self.get_or_make(key, lambda: self._make(*key))

    def get_or_make(self, key: tuple, make: Callable[[], T]) -> T:
        """The object of ``key`` (made by ``make()`` the first time)."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                found = self._items[key] = make()
            return found

    def items(self) -> dict[tuple, T]:
        with self._lock:
            return dict(self._items)

    def clear(self) -> None:
        """Forget every object (tests, benchmarks); ``close`` is called on each."""
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for item in items:
            if self._close is not None:
                self._close(item)
