"""The cluster as a :class:`~ybstate.kernel.Spec`, for the drivers."""

from __future__ import annotations

from functools import partial

from ybstate.archive.invariants import ARCHIVE_INVARIANTS
from ybstate.backup.invariants import BACKUP_INVARIANTS
from ybstate.cluster.decide import decide
from ybstate.cluster.enabled import Scope, enabled, setup_actions
from ybstate.cluster.fingerprint import fingerprint
from ybstate.cluster.invariants import CLUSTER_INVARIANTS
from ybstate.cluster.reducer import EMPTY, apply, replay
from ybstate.cluster.state import ClusterState
from ybstate.kernel import Spec
from ybstate.promote.invariants import PROMOTE_INVARIANTS
from ybstate.restore.invariants import RESTORE_INVARIANTS

__all__ = ["INVARIANTS", "cluster_spec", "start_events", "start_state"]

INVARIANTS = (
    CLUSTER_INVARIANTS + BACKUP_INVARIANTS + ARCHIVE_INVARIANTS + RESTORE_INVARIANTS + PROMOTE_INVARIANTS
)
"""Every state invariant of the model: the cluster's, the backups', archiving's, restores'
and promotions'."""


def start_events(scope: Scope) -> list[object]:
    """The events that build the scope's starting cluster: started, tenants and tables."""
    state, events = EMPTY, []
    for action in setup_actions(scope):
        for event in decide(state, action):
            state = apply(state, event)
            events.append(event)
    return events


def start_state(scope: Scope) -> ClusterState:
    """The scope's starting cluster, as :func:`start_events` leave it."""
    return replay(start_events(scope))


def cluster_spec(scope: Scope | None = None) -> Spec:
    scope = Scope() if scope is None else scope
    start = start_state(scope)
    return Spec(
        name="cluster",
        init=lambda: start,
        enabled=partial(enabled, scope=scope),
        decide=decide,
        apply=apply,
        key=fingerprint,
        invariants=INVARIANTS,
    )
