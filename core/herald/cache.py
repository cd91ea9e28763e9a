"""A small per-process cache whose entries expire after a fixed number of seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class TTLCache:
    """Maps keys to values for ``ttl`` seconds; holds at most ``maxsize`` entries.

    Used for lookups that run on every request (API keys, plugin enablement) where a few seconds
    of staleness across processes is acceptable and the local process invalidates explicitly.
    """

    def __init__(self, ttl: float, maxsize: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value for ``key``, or ``default`` when absent or expired."""
        entry = self._data.get(key, _MISSING)
        if entry is _MISSING:
            return default
        expires, value = entry
        if expires < self.clock():
            self._data.pop(key, None)
            return default
        return value

    def set(self, key: Hashable, value: Any) -> None:
        """Remember ``value`` for ``key`` for ``ttl`` seconds."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._data) >= self.maxsize:
                self._data.clear()
            self._data[key] = (self.clock() + self.ttl, value)

    def discard(self, key: Hashable) -> None:
        """Forget ``key``."""
        self._data.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()
