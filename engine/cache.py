"""A small bounded LRU cache with hit and miss counts (one per worker process).

Bounded by entries and, optionally, by a total weight (e.g. nodes held), so that a few
huge graphs cannot pin as much memory as many small ones.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    """Least-recently-used eviction past ``maxsize`` entries or ``max_weight`` in total
    (``weigh`` gives an entry's weight); ``maxsize`` 0 disables caching."""

    def __init__(self, maxsize: int = 256, max_weight: int | None = None,
                 weigh: Callable[[V], int] | None = None):
        self.maxsize = maxsize
        self.max_weight = max_weight
        self.weigh = weigh
        self.weight = 0
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        # The entry known to be last in the order (its key object, and what is held under
        # it, either may be None: unknown): a hit on it need not move it, nor hash its key
        # again (a repeated request's call keeps hitting the newest entries).
        self._newest_key: Hashable | None = None
        self._newest_held: tuple[V, int] | None = None

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> tuple[V, bool]:
        """The cached value (and True), or a new one made, stored and returned (and False)."""
        try:
            held = self._data[key]
        except KeyError:
            self.misses += 1
            value = make()
            self._store(key, value)
            return value, False
        self.hits += 1
        self._used(key, held)
        return held[0], True

    def get(self, key: Hashable) -> V | None:
        """The cached value (a hit), or None; a miss is not counted (its maker counts it)."""
        held = self._data.get(key)
        if held is None:
            return None
        self.hits += 1
        self._used(key, held)
        return held[0]

    def _used(self, key: Hashable, held: tuple[V, int]) -> None:
        """Make ``key`` (held as ``held``) the newest entry."""
        if held is not self._newest_held:
            self._data.move_to_end(key)
            self._newest_key, self._newest_held = key, held

    def get_linked(self, key: Hashable, target: LRUCache[Any]) -> tuple[Any, Any] | None:
        """For values (entry, weak reference to what ``target`` holds under ``entry.key``):
        (entry, what it refers to), a hit in both caches, while both hold it; else None.
        One call, three lookups (``get`` on both: four, and a call each): the path of a
        repeated request, where each call costs ~0.6 us out of the CPU's caches."""
        data = self._data
        held = data.get(key)
        if held is None:
            return None
        entry, ref = held[0]
        value = ref()
        if value is None:
            return None
        if entry.key is not target._newest_key:
            try:
                target._data.move_to_end(entry.key)
            except KeyError:
                return None
            target._newest_key, target._newest_held = entry.key, None
        if held is not self._newest_held:
            data.move_to_end(key)
            self._newest_key, self._newest_held = key, held
        self.hits += 1
        target.hits += 1
        return entry, value

    def put(self, key: Hashable, value: V) -> None:
        self._store(key, value)

    def _store(self, key: Hashable, value: V) -> None:
        if self.maxsize <= 0:
            return
        weight = self.weigh(value) if self.weigh is not None else 0
        if self.max_weight is not None and weight > self.max_weight:
            return  # bigger than the whole budget: used once, never kept
        before = self._data.get(key)  # a key held already keeps its place, and its weight
        self._data[key] = held = (value, weight)  # is replaced, not added to
        self._newest_key, self._newest_held = (key, held) if before is None else (None, None)
        self.weight += weight - (0 if before is None else before[1])
        while len(self._data) > self.maxsize or (
                self.max_weight is not None and self.weight > self.max_weight):
            gone, (_, dropped) = self._data.popitem(last=False)
            self.weight -= dropped
            if gone is self._newest_key or not self._data:
                self._newest_key = self._newest_held = None

    def clear(self) -> None:
        self._data.clear()
        self._newest_key = self._newest_held = None
        self.weight = 0

    def __len__(self) -> int:
        return len(self._data)
