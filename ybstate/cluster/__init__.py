"""The cluster substrate: tenants, tables and tablets, the shared commit log,
transactions, freezes and frozen versions, marks, and the ghost history.

Pure: no I/O anywhere in this package, and nothing of the protocols that run on the
cluster (those are subsystems beside it; ybstate.model composes them). Its modules:
``state`` (the state record, with one group of fields per subsystem), ``events``,
``actions``, ``decide``, ``reducer``, ``enabled`` (and :class:`ClusterScope`), ``txn``
(the transaction lifecycle), ``derive``, ``ghost`` and ``sstable`` (what oracles and
protocol code read), ``invariants``, ``fingerprint``. :data:`CLUSTER` is its record.
"""

from ybstate.cluster.actions import CLUSTER_ACTION_TAGS
from ybstate.cluster.decide import CLUSTER_DECIDERS
from ybstate.cluster.enabled import ClusterScope, cluster_enabled, cluster_probes
from ybstate.cluster.events import EVENT_TAGS, REQUESTS
from ybstate.cluster.invariants import CLUSTER_INVARIANTS
from ybstate.cluster.reducer import CLUSTER_HANDLERS
from ybstate.cluster.txn import TRANSACTION
from ybstate.kernel import Subsystem

__all__ = ["CLUSTER", "ClusterScope"]

CLUSTER = Subsystem(
    name="cluster",
    deciders=CLUSTER_DECIDERS,
    handlers=CLUSTER_HANDLERS,
    event_tags=EVENT_TAGS,
    action_tags=CLUSTER_ACTION_TAGS,
    requests=REQUESTS,
    enabled=cluster_enabled,
    probes=cluster_probes,
    invariants=CLUSTER_INVARIANTS,
    scope=ClusterScope,
    views=("ybstate.cluster", "views.sql"),
    lifecycles=(TRANSACTION,),
)
"""The substrate's record: what the cluster itself decides, applies, offers and checks."""
