"""The event store contract, shared by every store.

A store holds one history: events with seq 1, 2, 3, ... and no gap. ``append`` adds a
batch atomically (all of it or none of it) and only directly after what is stored;
``load`` returns the events in order; ``fingerprint`` is the state fingerprint recorded
with the last append, which ``ybstate replay`` compares against a fresh fold.
``transaction()`` groups several appends: on an exception inside it, every append made
inside it is undone, so a failed run leaves the stored history as it found it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import cattrs

from ybstate.codec import EventCodec, make_codec
from ybstate.errors import HistoryInvalid, StoreError
from ybstate.gcpause import paused_gc

__all__ = ["EventStore", "FORMAT", "FORMAT_VERSION"]

FORMAT = "ybstate-history"
FORMAT_VERSION = "1"


class EventStore(abc.ABC):
    def __init__(self, codec: EventCodec | None = None) -> None:
        self.codec = codec or make_codec()

    # What each store provides -----------------------------------------------------

    @abc.abstractmethod
    def last_seq(self) -> int:
        """The seq of the newest stored event (0 when empty)."""

    @abc.abstractmethod
    def _write(self, rows: list[tuple], fingerprint: str | None, last_seq: int) -> None:
        """Store encoded rows and the fingerprint after them, atomically."""

    @abc.abstractmethod
    def rows(self) -> list[tuple[int, int, str, int | None, str]]:
        """Every stored row (seq, time, type, tenant_id, payload JSON), by seq."""

    @abc.abstractmethod
    def fingerprint(self) -> tuple[int, str] | None:
        """(seq, fingerprint) recorded with the newest append, if any."""

    @abc.abstractmethod
    def _begin(self) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - stores without resources need nothing
        """Release the store's resources."""

    # Shared behaviour -------------------------------------------------------------

    def append(self, events: Sequence[object], fingerprint: str | None = None) -> None:
        if not events:
            return
        expected = self.last_seq() + 1
        for offset, event in enumerate(events):
            if event.seq != expected + offset:
                raise StoreError(
                    f"append out of order: expected seq {expected + offset}, found {event.seq} "
                    f"(the store holds events 1..{expected - 1})"
                )
        self._write(self.codec.encode_all(events), fingerprint, events[-1].seq)

    def load(self) -> list[object]:
        from_json = self.codec.from_json
        events = []
        expected = 1
        with paused_gc():  # decoding makes no reference cycles; see ybstate.gcpause
            for seq, time, tag, tenant_id, payload in self.rows():
                if seq != expected:
                    raise StoreError(f"stored history has a gap: expected seq {expected}, found {seq}")
                try:
                    event = from_json(tag, payload)
                except StoreError as error:  # the codec's, naming the field
                    raise HistoryInvalid(seq, tag, str(error)) from None
                except Exception as error:  # a stored row is input like any other
                    raise HistoryInvalid(
                        seq, tag, f"the stored payload does not decode: {_why(error)}"
                    ) from None
                found = (event.seq, event.time, getattr(event, "tenant_id", None))
                if found != (seq, time, tenant_id):
                    row = (seq, time, tenant_id)
                    why = f"the row's (seq, time, tenant_id) {row} differ from its payload's {found}"
                    raise HistoryInvalid(seq, tag, why)
                events.append(event)
                expected += 1
        return events

    @contextmanager
    def transaction(self) -> Iterator[EventStore]:
        self._begin()
        try:
            yield self
        except BaseException:
            self._rollback()
            raise
        else:
            self._commit()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _why(error: Exception) -> str:
    """What is wrong with a payload, said as a path into it where cattrs can."""
    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error))
    if isinstance(error, KeyError):
        return f"unknown event type or key {error}"
    return f"{type(error).__name__}: {error}"
