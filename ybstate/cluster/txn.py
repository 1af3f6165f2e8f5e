"""The life of a transaction, as a :class:`~ybstate.kernel.Lifecycle`.

``TRANSACTION.table[(phase, EventType)]`` is the phase a transaction moves to when that
event happens to it; a pair that is not in the table is illegal. ``decide`` and ``apply``
both read it, and a notebook can draw it.
"""

from __future__ import annotations

import enum

from ybstate.cluster.events import MutatorLogged, TransactionAborted, TransactionCommitted
from ybstate.cluster.state import ClusterState
from ybstate.kernel import Lifecycle

__all__ = ["TxPhase", "TRANSACTION", "phase_of"]


class TxPhase(enum.Enum):
    NONE = "none"  # not started yet
    OPEN = "open"
    COMMITTED = "committed"
    ABORTED = "aborted"


TRANSACTION: Lifecycle[TxPhase] = Lifecycle(
    "transaction",
    TxPhase,
    {
        (TxPhase.NONE, MutatorLogged): TxPhase.OPEN,
        (TxPhase.OPEN, MutatorLogged): TxPhase.OPEN,
        (TxPhase.OPEN, TransactionCommitted): TxPhase.COMMITTED,
        (TxPhase.OPEN, TransactionAborted): TxPhase.ABORTED,
    },
)


def phase_of(state: ClusterState, tx_id: int) -> TxPhase:
    if tx_id in state.open_txns:
        return TxPhase.OPEN
    if tx_id in state.committed:
        return TxPhase.COMMITTED
    if 0 < tx_id < state.next_tx_id:
        return TxPhase.ABORTED
    return TxPhase.NONE
