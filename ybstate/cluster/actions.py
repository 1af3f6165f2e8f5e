"""Actions: what a client, an operator or the cluster itself may try to do next.

Actions name things the way a user does (tenant and table names); ``decide`` resolves
the names, validates, and turns an action into events that carry ids. An action is a
request, not a fact: it may be rejected.
"""

from __future__ import annotations

import attrs

from ybstate.cluster.state import ClusterConfig, LogRetention

__all__ = [
    "CLUSTER_ACTION_TAGS",
    "CreateTenant",
    "CreateTable",
    "DropTable",
    "Put",
    "Write",
    "Commit",
    "Abort",
    "Freeze",
    "Tick",
    "Mark",
    "Start",
    "ClusterAction",
]


@attrs.frozen(kw_only=True)
class Start:
    """Bring the cluster up (only in the empty state)."""

    config: ClusterConfig


@attrs.frozen(kw_only=True)
class CreateTenant:
    name: str
    log_retention: LogRetention = LogRetention.BACKUP_FIRST


@attrs.frozen(kw_only=True)
class CreateTable:
    tenant: str
    table: str
    tablets: int = 1


@attrs.frozen(kw_only=True)
class DropTable:
    tenant: str
    table: str


@attrs.frozen(kw_only=True)
class Put:
    """One row change requested by a client: ``value`` None deletes the row."""

    table: str
    key: str
    value: str | None


@attrs.frozen(kw_only=True)
class Write:
    """Log one mutator: into open transaction ``tx``, or a new transaction when None."""

    tenant: str
    tx: int | None
    changes: tuple[Put, ...]


@attrs.frozen(kw_only=True)
class Commit:
    tx: int


@attrs.frozen(kw_only=True)
class Abort:
    tx: int


@attrs.frozen(kw_only=True)
class Freeze:
    """Make a new frozen version (cluster-wide)."""


@attrs.frozen(kw_only=True)
class Tick:
    """Let ``micros`` of time pass and log a heartbeat."""

    micros: int


@attrs.frozen(kw_only=True)
class Mark:
    name: str


ClusterAction = Start | CreateTenant | CreateTable | DropTable | Write | Commit | Abort | Freeze | Tick | Mark


CLUSTER_ACTION_TAGS: dict[type, str] = {
    Abort: "cluster.abort",
    Commit: "cluster.commit",
    CreateTable: "cluster.create_table",
    CreateTenant: "cluster.create_tenant",
    DropTable: "cluster.drop_table",
    Freeze: "cluster.freeze",
    Mark: "cluster.mark",
    Start: "cluster.start",
    Tick: "cluster.tick",
    Write: "cluster.write",
}
"""The stored tag of each cluster action (a trace of actions round-trips by it; never the class name)."""
