"""HMap: a persistent map that carries a digest of its contents.

Backed by ``immutables.Map`` (a hash array mapped trie), so ``set`` and ``delete`` share
structure with the map they came from and cost O(log32 n) however large it grows. Each
map also carries the sum, modulo 2**128, of the digests of its (key, value) entries:
updated in O(1) on every change, it fingerprints the whole map without reading it. A
state built from HMaps therefore has a fingerprint that costs the same to compute at
any history length.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

import immutables

from ybstate.hashing import DIGEST_MASK, digest

__all__ = ["HMap", "PLog"]

K = TypeVar("K")
V = TypeVar("V")

_MISSING = object()
_EMPTY: immutables.Map = immutables.Map()


class HMap(Generic[K, V]):
    """Immutable mapping with an incrementally maintained content digest."""

    __slots__ = ("_digests", "_map", "digest")

    def __init__(
        self, items: immutables.Map = _EMPTY, content_digest: int = 0, digests: immutables.Map = _EMPTY
    ) -> None:
        self._map = items
        # key -> digest((key, value)) of each entry, so replacing or deleting an entry
        # does not hash the old value again (a large value costs a repr each time).
        self._digests = digests
        self.digest = content_digest

    @classmethod
    def of(cls, pairs: dict[K, V] | None = None) -> HMap[K, V]:
        result: HMap[K, V] = cls()
        for key, value in (pairs or {}).items():
            result = result.set(key, value)
        return result

    def set(self, key: K, value: V) -> HMap[K, V]:
        entry = digest((key, value))
        d = self.digest + entry - self._digests.get(key, 0)
        return HMap(self._map.set(key, value), d & DIGEST_MASK, self._digests.set(key, entry))

    def delete(self, key: K) -> HMap[K, V]:
        d = self.digest - self._digests[key]
        return HMap(self._map.delete(key), d & DIGEST_MASK, self._digests.delete(key))

    def get(self, key: K, default: V | None = None) -> V | None:
        return self._map.get(key, default)

    def __getitem__(self, key: K) -> V:
        return self._map[key]

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self) -> Iterator[K]:
        return iter(self._map)

    def keys(self):
        return self._map.keys()

    def values(self):
        return self._map.values()

    def items(self):
        return self._map.items()

    def recomputed_digest(self) -> int:
        """The digest computed from scratch (for tests of the incremental one)."""
        return sum(digest((k, v)) for k, v in self._map.items()) & DIGEST_MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HMap):
            return NotImplemented
        return self.digest == other.digest and self._map == other._map

    def __hash__(self) -> int:
        return self.digest

    def __repr__(self) -> str:
        # Deterministic (iteration order of a HAMT depends on salted str hashes), so a
        # value holding an HMap still has a stable repr for digest().
        return f"HMap(len={len(self._map)}, digest={self.digest:032x})"


class PLog(Generic[V]):
    """An append-only persistent sequence indexed 1, 2, 3, ... with a content digest.

    The commit log grows by one entry per event, so its cost per append matters most.
    Entries sit in chunks of :data:`CHUNK` kept in an ``immutables.Map``; the newest,
    partly filled chunk is a plain tuple. An append copies that tuple (at most CHUNK - 1
    references) and, once per CHUNK appends, files it into the map: far less copying than
    a path through a trie on every append. The digest is the same sum of entry digests
    an :class:`HMap` keyed by index would carry.
    """

    CHUNK = 32
    __slots__ = ("_chunks", "_length", "_tail", "digest")

    def __init__(
        self, chunks: immutables.Map = _EMPTY, tail: tuple = (), length: int = 0, content_digest: int = 0
    ) -> None:
        self._chunks = chunks
        self._tail = tail
        self._length = length
        self.digest = content_digest

    def append(self, value: V) -> PLog[V]:
        index = self._length + 1
        tail = (*self._tail, value)
        chunks = self._chunks
        if len(tail) == self.CHUNK:
            chunks = chunks.set(self._length // self.CHUNK, tail)
            tail = ()
        return PLog(chunks, tail, index, (self.digest + digest((index, value))) & DIGEST_MASK)

    def set(self, index: int, value: V) -> PLog[V]:
        """Append ``value`` as entry ``index``, which must be the next one."""
        if index != self._length + 1:
            raise IndexError(f"PLog only appends: next index is {self._length + 1}, got {index}")
        return self.append(value)

    def get(self, index: int, default: V | None = None) -> V | None:
        if not 1 <= index <= self._length:
            return default
        position = index - 1
        chunk_no, offset = divmod(position, self.CHUNK)
        if position >= self._length - len(self._tail):
            return self._tail[position - (self._length - len(self._tail))]
        return self._chunks[chunk_no][offset]

    def __getitem__(self, index: int) -> V:
        if not 1 <= index <= self._length:
            raise KeyError(index)
        return self.get(index)

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 1 <= index <= self._length

    def __len__(self) -> int:
        return self._length

    def keys(self) -> range:
        return range(1, self._length + 1)

    def __iter__(self) -> Iterator[int]:
        return iter(self.keys())

    def values(self) -> Iterator[V]:
        for chunk_no in range(self._length // self.CHUNK):
            yield from self._chunks[chunk_no]
        yield from self._tail

    def items(self) -> Iterator[tuple[int, V]]:
        return enumerate(self.values(), 1)

    def recomputed_digest(self) -> int:
        return sum(digest(item) for item in self.items()) & DIGEST_MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PLog):
            return NotImplemented
        return self.digest == other.digest and list(self.values()) == list(other.values())

    def __hash__(self) -> int:
        return self.digest

    def __repr__(self) -> str:
        return f"PLog(len={self._length}, digest={self.digest:032x})"
