"""An event store in memory, with the same contract as the DuckDB store."""

from __future__ import annotations

from ybstate.store.base import GENESIS, EventStore

__all__ = ["MemoryStore"]


class MemoryStore(EventStore):
    def __init__(self, codec=None) -> None:
        super().__init__(codec)
        self._rows: list[tuple] = []
        self._fingerprint: tuple[int, str] | None = None
        self._saved: list[tuple[int, tuple[int, str] | None]] = []

    def last_seq(self) -> int:
        return self._rows[-1][0] if self._rows else 0

    def _write(self, rows, fingerprint, last_seq) -> None:
        self._rows.extend(rows)
        if fingerprint is not None:
            self._fingerprint = (last_seq, fingerprint)

    def rows(self):
        return [row[:5] for row in self._rows]

    def chained_rows(self):
        return list(self._rows)

    def head(self) -> tuple[int, str]:
        return (self._rows[-1][0], self._rows[-1][5]) if self._rows else (0, GENESIS)

    def fingerprint(self):
        return self._fingerprint

    def _begin(self) -> None:
        self._saved.append((len(self._rows), self._fingerprint))

    def _commit(self) -> None:
        self._saved.pop()

    def _rollback(self) -> None:
        length, self._fingerprint = self._saved.pop()
        del self._rows[length:]
