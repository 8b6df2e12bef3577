"""A small bounded LRU cache with hit and miss counts (one per worker process)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    """Least-recently-used eviction at ``maxsize`` entries; ``maxsize`` 0 disables it."""

    def __init__(self, maxsize: int = 256):
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, V] = OrderedDict()

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> tuple[V, bool]:
        """The cached value (and True), or a new one made, stored and returned (and False)."""
        try:
            value = self._data[key]
        except KeyError:
            self.misses += 1
            value = make()
            if self.maxsize > 0:
                self._data[key] = value
                if len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
            return value, False
        self.hits += 1
        self._data.move_to_end(key)
        return value, True

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
