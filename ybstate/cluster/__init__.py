"""The modelled YaoBase cluster: tenants, tables, tablets, the shared commit log,
transactions, freezes and the ghost history. Pure: no I/O anywhere in this package."""

from ybstate.cluster.decide import decide
from ybstate.cluster.enabled import Scope, enabled
from ybstate.cluster.fingerprint import fingerprint, fingerprint_hex, full_fingerprint
from ybstate.cluster.reducer import EMPTY, apply, replay
from ybstate.cluster.spec import cluster_spec, start_events, start_state
from ybstate.cluster.state import ClusterConfig, ClusterState

__all__ = [
    "EMPTY",
    "ClusterConfig",
    "ClusterState",
    "Scope",
    "apply",
    "cluster_spec",
    "decide",
    "enabled",
    "fingerprint",
    "fingerprint_hex",
    "full_fingerprint",
    "replay",
    "start_events",
    "start_state",
]
