"""A stable fingerprint of a cluster state, built from parts.

Every large part of the state is an :class:`~ybstate.pmap.HMap` that keeps the digest
of its contents up to date on each change, so the fingerprint combines a handful of
numbers and costs the same at any history length. :func:`full_fingerprint` computes the
same value from scratch, reading everything, so tests can check the incremental one.
"""

from __future__ import annotations

from ybstate.cluster.state import ClusterState
from ybstate.dag import dag_digest
from ybstate.hashing import DIGEST_MASK, digest

__all__ = ["fingerprint", "full_fingerprint", "fingerprint_hex"]

_HASHED_MAPS = (
    "tenants",
    "tables",
    "log",
    "frozen",
    "marks",
    "backups",
    "backup_sets",
    "stored",
    "archivers",
    "pieces",
    "restores",
    "routing",
    "promotions",
)


def _counters(state: ClusterState) -> tuple:
    return (
        state.config,
        state.seq,
        state.clock,
        state.next_log_id,
        state.next_tx_id,
        state.next_tenant_id,
        state.next_table_id,
        state.next_tablet_id,
        state.schema_version,
        state.frozen_version,
        state.next_dag_id,
        state.next_backup_task_id,
        state.next_backup_set_id,
        state.task_failures,
        state.recycled_through,
        state.next_restore_task_id,
        state.next_promotion_id,
    )


def fingerprint(state: ClusterState) -> int:
    """128-bit fingerprint: equal states have equal fingerprints, in every process."""
    parts = tuple(getattr(state, name).digest for name in _HASHED_MAPS)
    return digest((_counters(state), parts, state.dags_digest))


def full_fingerprint(state: ClusterState) -> int:
    """The fingerprint recomputed by reading every entry of every map."""
    parts = tuple(getattr(state, name).recomputed_digest() for name in _HASHED_MAPS)
    dags = sum(dag_digest(d) for d in state.dags.values()) & DIGEST_MASK
    return digest((_counters(state), parts, dags))


def fingerprint_hex(state: ClusterState) -> str:
    return f"{fingerprint(state):032x}"
