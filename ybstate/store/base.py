"""The event store contract, shared by every store.

A store holds one history: events with seq 1, 2, 3, ... and no gap. ``append`` adds a
batch atomically (all of it or none of it) and only directly after what is stored;
``load`` returns the events in order; ``fingerprint`` is the state fingerprint recorded
with the last append, which ``ybstate replay`` compares against a fresh fold.
``transaction()`` groups several appends: on an exception inside it, every append made
inside it is undone, so a failed run leaves the stored history as it found it.

Each stored row carries a digest chained from the previous row's: sha256 of that digest
and all of this row's columns (:func:`chain_digest`), written at append; the store also
records the head of the chain (the last seq and its digest). :meth:`EventStore.chain_problem`
recomputes it and names the first seq whose row, column or order differs, and a missing
tail. This is tamper evidence, not tamper proofing: someone who rewrites the rows and
recomputes the whole chain and its head is not detected (docs/cli.md, Safety).
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import cattrs

from ybstate.codec import EventCodec, make_codec
from ybstate.errors import HistoryInvalid, StoreError
from ybstate.gcpause import paused_gc

__all__ = ["EventStore", "FORMAT", "FORMAT_VERSION", "GENESIS", "chain_digest"]

FORMAT = "ybstate-history"
FORMAT_VERSION = "2"  # 2: each row carries its chained digest

GENESIS = hashlib.sha256(FORMAT.encode()).hexdigest()
"""The digest the chain starts from, before seq 1."""


def chain_digest(previous: str, row: tuple) -> str:
    """The digest of stored ``row`` (seq, time, type, tenant_id, payload) after ``previous``."""
    seq, time, tag, tenant_id, payload = row
    text = f"{previous}\x1e{seq}\x1f{time}\x1f{tag}\x1f{'' if tenant_id is None else tenant_id}\x1f{payload}"
    return hashlib.sha256(text.encode()).hexdigest()


class EventStore(abc.ABC):
    def __init__(self, codec: EventCodec | None = None) -> None:
        self.codec = codec or make_codec()

    # What each store provides -----------------------------------------------------

    @abc.abstractmethod
    def last_seq(self) -> int:
        """The seq of the newest stored event (0 when empty)."""

    @abc.abstractmethod
    def _write(self, rows: list[tuple], fingerprint: str | None, last_seq: int) -> None:
        """Store encoded rows (each with its digest last), the fingerprint after them and the
        new head of the digest chain (the last row's seq and digest), atomically."""

    @abc.abstractmethod
    def head(self) -> tuple[int, str]:
        """(seq, digest) of the last stored row as recorded at append; (0, GENESIS) when empty."""

    @abc.abstractmethod
    def chained_rows(self) -> Iterable[tuple]:
        """Every stored row with its digest (seq, time, type, tenant_id, payload, digest), by seq."""

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
        previous = self.head()[1]
        rows = []
        for row in self.codec.encode_all(events):
            previous = chain_digest(previous, row)
            rows.append((*row, previous))
        self._write(rows, fingerprint, events[-1].seq)

    def digest_after(self, previous: str, event: object) -> str:
        """The chain digest ``event`` gets when appended after a row whose digest is ``previous``."""
        return chain_digest(previous, self.codec.encode_all([event])[0])

    def chain_problem(self, rows: Sequence[tuple] | None = None) -> str | None:
        """The first place where the stored rows differ from what was appended: a row whose
        columns or place changed, a row missing, a tail cut off. None if the chain holds.
        ``rows``: :meth:`chained_rows`, if the caller has read them already."""
        previous, last = GENESIS, 0
        for row in self.chained_rows() if rows is None else rows:
            seq = row[0]
            if seq != last + 1:
                return f"event seq {last + 1} is missing (the next stored row is seq {seq})"
            previous = chain_digest(previous, row[:5])
            if previous != row[5]:
                return f"event seq {seq}: the row differs from the one appended (its digest does not chain)"
            last = seq
        head_seq, head_digest = self.head()
        if head_seq > last:
            return f"the history was stored up to seq {head_seq}, but its rows end at seq {last}"
        if (head_seq, head_digest) != (last, previous):
            return f"the recorded head of the chain (seq {head_seq}) is not the last row's (seq {last})"
        return None

    def load(self, rows: Sequence[tuple] | None = None) -> list[object]:
        """Every stored event, in order. ``rows``: :meth:`rows` or :meth:`chained_rows`, if
        the caller has read them already (a digest column after the five is ignored)."""
        from_json = self.codec.from_json
        events = []
        expected = 1
        with paused_gc():  # decoding makes no reference cycles; see ybstate.gcpause
            for seq, time, tag, tenant_id, payload, *_ in self.rows() if rows is None else rows:
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
