"""The life of a transaction, as a table.

``TRANSITIONS[(phase, EventType)]`` is the phase a transaction moves to when that event
happens to it; a pair that is not in the table is illegal. ``decide`` and ``apply`` both
read this table, and a notebook can draw the lifecycle from it.
"""

from __future__ import annotations

import enum

from ybstate.cluster.events import MutatorLogged, TransactionAborted, TransactionCommitted
from ybstate.cluster.state import ClusterState
from ybstate.errors import EventOutOfOrder

__all__ = ["TxPhase", "TRANSITIONS", "phase_of", "next_phase"]


class TxPhase(enum.Enum):
    NONE = "none"  # not started yet
    OPEN = "open"
    COMMITTED = "committed"
    ABORTED = "aborted"


TRANSITIONS: dict[tuple[TxPhase, type], TxPhase] = {
    (TxPhase.NONE, MutatorLogged): TxPhase.OPEN,
    (TxPhase.OPEN, MutatorLogged): TxPhase.OPEN,
    (TxPhase.OPEN, TransactionCommitted): TxPhase.COMMITTED,
    (TxPhase.OPEN, TransactionAborted): TxPhase.ABORTED,
}


def phase_of(state: ClusterState, tx_id: int) -> TxPhase:
    if tx_id in state.open_txns:
        return TxPhase.OPEN
    if tx_id in state.committed:
        return TxPhase.COMMITTED
    if 0 < tx_id < state.next_tx_id:
        return TxPhase.ABORTED
    return TxPhase.NONE


def next_phase(phase: TxPhase, event_type: type, tx_id: int) -> TxPhase:
    try:
        return TRANSITIONS[(phase, event_type)]
    except KeyError:
        legal = sorted(t.__name__ for (p, t) in TRANSITIONS if p is phase) or ["nothing"]
        raise EventOutOfOrder(
            f"for {phase.value} transaction {tx_id} one of", legal, event_type.__name__
        ) from None
