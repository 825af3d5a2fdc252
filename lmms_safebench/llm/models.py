"""Models loaded in this process: one object per key, made on first use, and where a model runs.

Loading a model is expensive and a GPU holds few copies, so every caller asking for the same (model, device,
dtype) gets the same object (:class:`Shared`); it loads itself lazily. Jurors, generator text and vision
models, image, speech and embedding backends all keep theirs here. Thread-safe.

``device: auto`` means cuda when torch sees a CUDA device, else cpu (:func:`resolve_device`).
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (False when torch is missing or broken)."""
    try:
        import torch  # heavy optional dependency: only when asked

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is available, else ``cpu``; anything else as given."""
    return ("cuda" if cuda_available() else "cpu") if device == "auto" else device


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
